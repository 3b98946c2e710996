//! A key goes only where the connection points: attacks on the trust
//! boundary from a hostile upstream (redirects, keys reflected in answers)
//! and a hostile plugin (paths outside the base URL, keys in headers or query
//! parameters of its choosing), against a gateway-style base URL with a path.
//! Each is refused or contained, and nothing reaches a place it should not.

use crate::support::{self, Reply, Upstream, leak};
use llmnode::engine::{Engine, NodeStatus, RunReport};
use llmnode::error_class::ErrorClass;
use serde_json::json;
use std::sync::Arc;

const KEY: &str = "fake-egress-key-for-tests-0a1b2c3d4e5f";
const OTHER_KEY: &str = "fake-egress-other-key-for-tests-9f8e7d";
/// A shared gateway: this connection's tenant prefix, and another tenant's.
const PREFIX: &str = "/acct-1/gw/openai";

fn answer() -> Vec<u8> {
    support::fixture("openai/spec-examples/default.response.json")
}

/// Requests that reached `upstream` anywhere but under [`PREFIX`].
fn outside_prefix(upstream: &Upstream) -> Vec<String> {
    upstream.seen().iter().filter(|s| !s.uri.starts_with(&format!("{PREFIX}/"))).map(|s| s.uri.clone()).collect()
}

/// The primary `p` (OpenAI plugin) on `bad` under [`PREFIX`], the fallback
/// `b` on a good upstream.
async fn redirecting(status: u16, location: impl Fn(&str) -> String + Send + Sync + 'static) -> (Upstream, Upstream) {
    let body = answer();
    let bad = Upstream::start(move |seen| {
        if seen.uri.starts_with(PREFIX) {
            Reply::json(status, Vec::new()).header("location", &location(&seen.uri))
        } else {
            // What a redirect target would answer: if this reached the node,
            // its output would be the attacker's.
            Reply::json(200, body.clone())
        }
    })
    .await;
    let good = Upstream::start({
        let body = answer();
        let stream = support::fixture("openai/recorded/stream-tool-call-include-usage.1.response.sse");
        move |seen| {
            if seen.json()["stream"] == json!(true) { Reply::sse(&stream, 64) } else { Reply::json(200, body.clone()) }
        }
    })
    .await;
    (bad, good)
}

async fn run_with_fallback(engine: &Engine, stream: bool) -> RunReport {
    let node = support::one_node("p", &["b"], json!({ "stream": stream }));
    let report = support::run(engine, &node, json!({})).await;
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    report
}

#[tokio::test]
async fn a_redirect_is_never_followed_whatever_its_status_method_or_target() {
    let elsewhere = Arc::new(Upstream::start(|_| Reply::json(200, answer())).await);
    for status in [301, 302, 303, 307, 308] {
        for target in ["same-origin", "other-tenant", "other-origin"] {
            let other = elsewhere.url("/steal");
            let (bad, good) = redirecting(status, move |uri| match target {
                "same-origin" => "/evil/steal".to_string(),
                "other-tenant" => uri.replace("acct-1", "acct-2"),
                _ => other.clone(),
            })
            .await;
            let engine = support::engine(vec![
                support::connection("p", "openai", &bad.url(PREFIX), KEY),
                support::connection("b", "openai", &good.url("/v1"), OTHER_KEY),
            ]);
            for stream in [false, true] {
                let report = run_with_fallback(&engine, stream).await;
                let what = format!("{status} to {target}, stream {stream}");
                assert!(report.ok, "{what}: {report:#?}");
                assert_eq!(report.nodes[0].connection.as_deref(), Some("b"), "{what}: {report:#?}");
                assert_eq!(report.attempts[0].error, Some(ErrorClass::ServerError), "{what}: {report:#?}");
                let reason = &report.nodes[0].skipped[0].reason;
                assert!(
                    reason.contains(&format!("HTTP {status}")) && reason.contains("never follows redirects"),
                    "{reason}"
                );
                assert!(
                    reason.contains(if target == "other-origin" { "/steal" } else { "/evil/steal" })
                        || reason.contains("acct-2"),
                    "the error names the Location: {reason}"
                );
            }
            assert_eq!(outside_prefix(&bad), Vec::<String>::new(), "{status} to {target} was followed");
            assert!(elsewhere.seen().is_empty(), "{status} to {target} reached another origin");
            for seen in bad.seen() {
                assert_eq!(seen.method, "POST", "{status}: only the original request was made");
            }
        }
    }
}

/// The hostile plugin on a gateway-style base URL: every attack's error and
/// what reached the upstream.
struct Gateway {
    upstream: Upstream,
    engine: Engine,
}

async fn gateway() -> Gateway {
    let upstream = Upstream::start(|_| Reply::json(200, answer())).await;
    let engine = support::engine(vec![
        support::connection("h", "hostile", &upstream.url(PREFIX), KEY),
        support::connection("ok", "openai", &upstream.url(PREFIX), KEY),
    ]);
    Gateway { upstream, engine }
}

impl Gateway {
    async fn attack(&self, attack: &str) -> String {
        let report =
            support::run(&self.engine, &support::one_node("h", &[], json!({ "model": attack })), json!({})).await;
        assert!(!report.ok, "{attack} succeeded");
        assert_eq!(report.nodes[0].status, NodeStatus::Failed);
        support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
        report.nodes[0].error.clone().unwrap()
    }
}

#[tokio::test]
async fn a_plugin_cannot_aim_the_key_outside_the_base_url_path() {
    let g = gateway().await;
    for (attack, expected) in [
        ("origin:/other", "may only reach"),
        ("origin:/acct-2/gw/openai/chat/completions", "may only reach"),
        ("origin:/acct-1/gw/openai-evil/chat/completions", "may only reach"),
        ("url:/../x", "may only reach"),
        ("url:/../../../acct-2/gw/openai/chat/completions", "may only reach"),
        ("url:/%2e%2e/%2e%2e/evil", "may only reach"),
        ("url:/.%2E/x", "may only reach"),
        ("url:/%2E%2e/x", "may only reach"),
        ("url:/..%2f..%2fx", "encoded dot segment"),
        ("url:/%252e%252e/x", "encoded dot segment"),
        ("url:/x/..%5c..%5c..%5cevil", "encoded dot segment"),
        ("url:\\..\\..\\evil", "may only reach"),
    ] {
        let error = g.attack(attack).await;
        assert!(error.contains("connection `h` (hostile)") && error.contains(expected), "{attack}: {error}");
    }
    assert!(g.upstream.seen().is_empty(), "a refused request was sent: {:?}", g.upstream.seen());

    // Inside the prefix, dot segments that stay inside are fine: the request
    // is sent (and the hostile plugin refuses to parse the answer).
    let error = g.attack("url:/x/../chat/completions").await;
    assert!(error.contains("hostile plugins parse nothing"), "{error}");
    assert!(g.upstream.seen().iter().all(|s| s.uri == format!("{PREFIX}/chat/completions")));
    leak::assert_logs_clean();
}

#[tokio::test]
async fn a_plugin_cannot_choose_where_the_key_is_put() {
    let g = gateway().await;
    for (attack, expected) in [
        ("key-in-query:api_key", "sends no key in a query string"),
        ("key-in-query:key", "sends no key in a query string"),
        ("key-in-header:user-agent", "may only be sent in"),
        ("key-in-header:Referer", "may only be sent in"),
        ("key-in-header:cookie", "may only be sent in"),
        ("key-in-header:x-forwarded-for", "may only be sent in"),
        ("key-in-header:Host", "may only be sent in"),
        ("key-in-header:content-type", "may only be sent in"),
        ("sigv4", "holds no AWS keys"),
    ] {
        let error = g.attack(attack).await;
        assert!(error.contains("auth directive") && error.contains(expected), "{attack}: {error}");
        assert!(error.contains("nothing was sent"), "{error}");
    }
    assert!(g.upstream.seen().is_empty(), "a refused request was sent: {:?}", g.upstream.seen());

    // The allowed placements still work for a good plugin.
    let report = support::run(&g.engine, &support::one_node("ok", &[], json!({})), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(g.upstream.seen()[0].headers["authorization"], format!("Bearer {KEY}"));
    leak::assert_logs_clean();
}

#[tokio::test]
async fn an_operator_may_allow_one_query_parameter_for_the_key() {
    let upstream = Upstream::start(|_| Reply::json(200, answer())).await;
    let mut h = support::connection("h", "hostile", &upstream.url(PREFIX), KEY);
    h.options.insert("auth_query".into(), "key".into());
    let engine = support::engine(vec![h]);
    let run = |attack: &str| support::one_node("h", &[], json!({ "model": attack }));
    let report = support::run(&engine, &run("key-in-query:api_key"), json!({})).await;
    assert!(report.nodes[0].error.as_ref().unwrap().contains("goes only in the query parameter \"key\""));
    assert!(upstream.seen().is_empty());
    support::run(&engine, &run("key-in-query:key"), json!({})).await;
    let seen = upstream.seen();
    assert!(!seen.is_empty() && seen[0].uri.ends_with(&format!("?key={KEY}")), "{seen:?}");
}

#[tokio::test]
async fn a_key_reflected_by_the_upstream_never_reaches_the_caller() {
    // A 200 whose text echoes the request's headers, key included.
    let echo = |text: String| {
        let mut body = support::fixture_json("openai/spec-examples/default.response.json");
        body["choices"][0]["message"]["content"] = json!(text);
        body.to_string().into_bytes()
    };
    let stream_echo = |text: &str| {
        format!(
            "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
            json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":text},"finish_reason":null}]}),
            json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
        )
    };
    let upstream = Upstream::start(move |seen| {
        let auth = String::from_utf8_lossy(seen.headers["authorization"].as_bytes()).into_owned();
        let text = format!("you sent {auth}; again: {}", auth.trim_start_matches("Bearer "));
        if seen.json()["stream"] == json!(true) {
            Reply::sse(stream_echo(&text).as_bytes(), 7)
        } else {
            Reply::json(200, echo(text))
        }
    })
    .await;
    let engine = support::engine(vec![support::connection("p", "openai", &upstream.url("/v1"), KEY)]);
    for stream in [false, true] {
        let report = support::run(&engine, &support::one_node("p", &[], json!({ "stream": stream })), json!({})).await;
        assert!(report.ok, "{report:#?}");
        let text = report.nodes[0].output.as_ref().unwrap()["text"].as_str().unwrap().to_string();
        assert!(text.contains("you sent Bearer [REDACTED]; again: [REDACTED]"), "stream {stream}: {text}");
        support::assert_no_leak("the output", &serde_json::to_string(&report).unwrap(), KEY);
    }
    leak::assert_logs_clean();
}
