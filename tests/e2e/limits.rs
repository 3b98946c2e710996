//! Limits that hold: through the real daemon and CLI processes, against an
//! upstream that counts what reaches it. A configuration change (by a member,
//! in another workspace, of this very connection) resets nothing; every
//! process on one data directory shares one window; a 64-way burst never
//! spends past a budget, however small its prompts or however many tools and
//! schemas it carries; an unpriced model cannot spend a budget blind; an
//! exhausted quota fails over at once and is never retried.

use crate::support::daemon::{KEY, Setup};
use crate::support::{self, Reply, Seen, Upstream};
use serde_json::{Value, json};
use std::time::Duration;

/// What a provider would bill for a request, generously: every byte of the
/// messages, tools and schema as a token, plus framing (a tool-use system
/// prompt of 346 tokens, as Anthropic adds); the answer is as long as
/// `max_tokens` allows. An estimator that is not an upper bound of this
/// overspends.
pub(crate) fn billed(seen: &Seen) -> (u64, u64) {
    let body = seen.json();
    let text: u64 = body["messages"].as_array().map_or(0, |m| m.iter().map(|m| m.to_string().len() as u64).sum());
    let tools = body.get("tools").map_or(0, |t| t.to_string().len() as u64 + 346);
    let schema = body.get("response_format").map_or(0, |f| f.to_string().len() as u64);
    let answer = body["max_completion_tokens"].as_u64().or(body["max_tokens"].as_u64()).unwrap_or(16);
    (text + tools + schema + 11, answer)
}

/// What the calls under `prefix` cost at gpt-4o-mini's prices ($0.15 in,
/// $0.60 out per million), as the upstream billed them.
pub(crate) fn spent_usd(upstream: &Upstream, prefix: &str) -> f64 {
    upstream
        .seen()
        .iter()
        .filter(|seen| seen.uri.starts_with(prefix))
        .map(|seen| {
            let (p, c) = billed(seen);
            (p as f64 * 0.15 + c as f64 * 0.60) / 1e6
        })
        .sum()
}

/// An OpenAI-style upstream answering every chat call with the usage `billed` gives.
pub(crate) async fn billing_upstream() -> Upstream {
    Upstream::start(|seen| {
        let (prompt, completion) = billed(seen);
        let mut body = support::fixture_json("openai/spec-examples/default.response.json");
        if seen.json().get("response_format").is_some() {
            body["choices"][0]["message"]["content"] = json!(r#"{"answer":"yes","confidence":1}"#);
        }
        body["usage"] =
            json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion });
        Reply::json(200, body.to_string())
    })
    .await
}

pub(crate) async fn add(s: &Setup, name: &str, base_url: &str, extra: &[&str]) {
    let add = ["connections", "add", name, "--provider", "openai", "--api-key-env", "K", "--base-url", base_url];
    s.cli(&[&add[..], &["--default-model", "gpt-4o-mini", "--max-retries", "0"], extra].concat()).await;
}

pub(crate) fn chat(model: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_holds_across_configuration_changes_by_anyone_anywhere() {
    let s = Setup::new(Duration::ZERO).await;
    let upstream = billing_upstream().await;
    add(&s, "capped", &upstream.url("/v1"), &["--rpm", "5"]).await;
    let d = s.serve().await;
    let mut served = 0;
    for _ in 0..5 {
        let (status, body) = d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("capped/gpt-4o-mini"))).await;
        assert_eq!(status, 200, "{body}");
        served += 1;
    }
    // A member stores a workflow; another workspace's admin adds a connection;
    // this connection's timeout is edited. None of it forgives a request.
    let wf = json!({ "name": "w", "nodes": [{ "id": "n", "node_type": "llm", "config": {
        "primary_connection": "capped", "messages": [{ "role": "user", "content": "x" }] } }] });
    let (status, body) = d.call("PUT", "/api/v1/workflows/w", &s.member, Some(wf)).await;
    assert!(status < 300, "{status} {body}");
    let other = json!({ "name": "more", "provider": "openai", "no_key": true, "settings": { "base_url": upstream.url("/v1") } });
    let (status, body) = d.call("POST", "/api/v1/connections", &s.other_admin, Some(other)).await;
    assert!(status < 300, "{status} {body}");
    let edit = json!({ "settings": { "timeout_secs": 30 } });
    let (status, body) = d.call("PATCH", "/api/v1/connections/capped", &s.admin, Some(edit)).await;
    assert!(status < 300, "{status} {body}");
    s.cli(&["connections", "edit", "capped", "--timeout-secs", "20"]).await;
    // Let the daemon see every change (it rebuilds engines on the next call).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for _ in 0..10 {
        let (status, body) = d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("capped/gpt-4o-mini"))).await;
        if status == 200 {
            served += 1;
        } else {
            assert_eq!(status, 429, "{body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("5 requests per minute"), "{body}");
        }
    }
    assert_eq!(served, 5, "rpm 5 served {served} calls in a minute");
    assert_eq!(upstream.seen().len(), 5, "the upstream was called {} times", upstream.seen().len());

    // Lowering the limit bites at once; raising it forgives nothing spent.
    s.cli(&["connections", "edit", "capped", "--rpm", "6"]).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, _) = d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("capped/gpt-4o-mini"))).await;
    assert_eq!(status, 200, "rpm 6 has one more request in this minute");
    let (status, _) = d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("capped/gpt-4o-mini"))).await;
    assert_eq!(status, 429);
    assert_eq!(upstream.seen().len(), 6);
    d.assert_log_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_on_one_data_directory_shares_one_window() {
    let s = Setup::new(Duration::ZERO).await;
    let upstream = billing_upstream().await;
    add(&s, "shared", &upstream.url("/v1"), &["--rpm", "2"]).await;
    let d = s.serve().await;
    let wf = s.dir.path().join("one.json");
    let node = json!({ "name": "one", "nodes": [{ "id": "n", "node_type": "llm", "config": {
        "primary_connection": "shared", "messages": [{ "role": "user", "content": "x" }] } }] });
    std::fs::write(&wf, node.to_string()).unwrap();
    let wf = wf.to_str().unwrap().to_string();
    // Three CLI runs and two daemon calls, all at once.
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let wf = wf.clone();
            let s = &s;
            async move { s.cli_output(&["run", &wf, "--json"]).await }
        })
        .collect();
    let calls = (0..2).map(|_| d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("shared/gpt-4o-mini"))));
    let (runs, calls) = tokio::join!(futures_util::future::join_all(runs), futures_util::future::join_all(calls));
    let cli_ok = runs.iter().filter(|o| o.status.success()).count();
    let daemon_ok = calls.iter().filter(|(status, _)| *status == 200).count();
    for out in &runs {
        support::leak::assert_clean("CLI output", &String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(text.contains("2 requests per minute"), "{text}");
        }
    }
    assert_eq!(cli_ok + daemon_ok, 2, "rpm 2 served {} calls across processes", cli_ok + daemon_ok);
    assert_eq!(upstream.seen().len(), 2);
    let _ = KEY;
}

/// `n` concurrent calls through the daemon, each built by `body`; the
/// statuses.
async fn burst(d: &crate::support::daemon::Daemon, token: &str, n: usize, body: impl Fn() -> Value) -> Vec<u16> {
    let calls = (0..n).map(|_| d.call("POST", "/v1/chat/completions", token, Some(body())));
    futures_util::future::join_all(calls).await.into_iter().map(|(status, _)| status).collect()
}

/// The three request shapes a budget burst sends: a one-character prompt
/// alone, with three tools, and with a JSON schema.
fn shapes() -> Vec<(&'static str, Value)> {
    let tool = json!({ "type": "function", "function": { "name": "lookup",
        "description": "Look a word up in the big dictionary of everything", "parameters": {
        "type": "object", "properties": { "word": { "type": "string", "description": "the word, exactly as written" } } } } });
    let schema = json!({ "type": "json_schema", "json_schema": { "name": "answer", "schema": {
        "type": "object", "properties": { "answer": { "type": "string" }, "confidence": { "type": "number" } } } } });
    vec![
        ("plain", json!({})),
        ("tools", json!({ "tools": [tool.clone(), tool.clone(), tool] })),
        ("schema", json!({ "response_format": schema })),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_way_burst_never_spends_past_a_budget_whatever_the_request_carries() {
    let s = Setup::new(Duration::ZERO).await;
    let upstream = billing_upstream().await;
    // gpt-4o-mini: $0.15 in, $0.60 out per million. With max_tokens 1000 a
    // call costs about $0.0006: the budget fits about ten.
    let budget = 0.0062;
    for (name, _) in shapes() {
        let base = upstream.url(&format!("/{name}/v1"));
        add(&s, &format!("b-{name}"), &base, &["--daily-budget-usd", &budget.to_string()]).await;
    }
    let d = s.serve().await;
    for (name, extra) in shapes() {
        let model = format!("b-{name}/gpt-4o-mini");
        let body = || {
            let mut b = json!({ "model": model, "max_tokens": 1000, "messages": [{ "role": "user", "content": "h" }] });
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        let statuses = burst(&d, &s.admin, 64, body).await;
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{name}: {statuses:?}");
        let spent = spent_usd(&upstream, &format!("/{name}/"));
        assert!(ok >= 5, "{name}: only {ok} calls admitted");
        assert!(spent <= budget, "{name}: {ok} calls spent ${spent:.6} of a ${budget} budget");
    }
    d.assert_log_clean();
}

/// An engine whose connections share one in-process limits service.
fn engine(connections: Vec<llmnode::connections::Connection>) -> llmnode::engine::Engine {
    support::engine(connections)
}

#[tokio::test]
async fn an_unpriced_model_cannot_spend_a_budget_but_runs_unbudgeted_and_flagged() {
    let upstream = billing_upstream().await;
    let mut budgeted = support::connection("budgeted", "openai", &upstream.url("/v1"), KEY);
    budgeted.limits.daily_budget_usd = Some(1.0);
    let free = support::connection("free", "openai", &upstream.url("/v1"), KEY);
    let e = engine(vec![budgeted, free]);
    let node = |c: &str| support::one_node(c, &[], json!({ "model": "mystery-model-7", "max_tokens": 10 }));
    let report = support::run(&e, &node("budgeted"), json!({})).await;
    assert!(!report.ok);
    let error = report.nodes[0].error.clone().unwrap();
    assert!(error.contains("mystery-model-7") && error.contains("llmnode prices set"), "{error}");
    assert!(upstream.seen().is_empty(), "an unpriced call was sent on a budgeted connection");

    let report = support::run(&e, &node("free"), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(upstream.seen().len(), 1);
    assert!(report.attempts[0].unpriced, "the attempt is flagged unpriced: {report:#?}");
    assert_eq!(report.attempts[0].cost_usd, 0.0);
}

#[tokio::test]
async fn a_budgeted_call_with_nothing_bounding_its_answer_is_refused() {
    let upstream = billing_upstream().await;
    let mut c = support::connection("b", "openai", &upstream.url("/v1"), KEY);
    c.limits.daily_budget_usd = Some(1.0);
    let mut set = llmnode::connections::ConnectionSet::default();
    set.insert(c);
    // Priced by the operator, but no table lists its maximum output.
    let mut prices = llmnode::usage::PriceBook::default();
    prices.set("openai", "house-model", llmnode::usage::Prices { input: 1.0, output: 2.0, ..Default::default() });
    let options = llmnode::engine::EngineOptions { prices, ..Default::default() };
    let e = llmnode::engine::Engine::with_options(&set, &support::registry(), options).unwrap();
    let report = support::run(&e, &support::one_node("b", &[], json!({ "model": "house-model" })), json!({})).await;
    let error = report.nodes[0].error.clone().unwrap_or_default();
    assert!(!report.ok && error.contains("nothing bounds the answer") && error.contains("max_tokens"), "{report:#?}");
    assert!(upstream.seen().is_empty());
    let bounded = json!({ "model": "house-model", "max_tokens": 50 });
    let report = support::run(&e, &support::one_node("b", &[], bounded), json!({})).await;
    assert!(report.ok, "{report:#?}");
}

#[tokio::test]
async fn an_exhausted_quota_fails_over_at_once_and_is_never_retried() {
    let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    let broke = Upstream::start(move |_| Reply::json(429, quota).header("retry-after", "1")).await;
    let good = billing_upstream().await;
    let e = engine(vec![
        support::connection("broke", "openai", &broke.url("/v1"), KEY),
        support::connection("good", "openai", &good.url("/v1"), KEY),
    ]);
    // The seed's failover list names rate_limit, which covers quota_exceeded.
    let node =
        support::one_node("broke", &["good"], json!({ "failover_on": ["rate_limit", "timeout", "server_error"] }));
    let started = std::time::Instant::now();
    let report = support::run(&e, &node, json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.nodes[0].connection.as_deref(), Some("good"));
    assert_eq!(report.attempts[0].error, Some(llmnode::error_class::ErrorClass::QuotaExceeded));
    assert_eq!(broke.seen().len(), 1, "the exhausted connection was retried");
    assert!(started.elapsed() < Duration::from_millis(900), "it waited {:?}", started.elapsed());

    // Alone (tried although its breaker is open, as the only candidate), it
    // is not retried either: waiting does not refill a balance.
    let report = support::run(&e, &support::one_node("broke", &[], json!({})), json!({})).await;
    assert!(!report.ok);
    assert!(report.nodes[0].error.as_ref().unwrap().contains("quota_exceeded"), "{report:#?}");
    assert_eq!(broke.seen().len(), 2, "the exhausted connection was retried");
}

#[tokio::test]
async fn a_local_budget_refusal_fails_over_at_once_and_is_never_retried() {
    let upstream = billing_upstream().await;
    let mut tight = support::connection("tight", "openai", &upstream.url("/tight/v1"), KEY);
    tight.limits.daily_budget_usd = Some(0.000001);
    let e = engine(vec![tight, support::connection("spare", "openai", &upstream.url("/spare/v1"), KEY)]);
    let started = std::time::Instant::now();
    let report =
        support::run(&e, &support::one_node("tight", &["spare"], json!({ "max_tokens": 100 })), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.nodes[0].connection.as_deref(), Some("spare"));
    assert!(report.nodes[0].skipped[0].reason.contains("daily budget"), "{report:#?}");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    let alone = support::run(&e, &support::one_node("tight", &[], json!({ "max_tokens": 100 })), json!({})).await;
    assert!(!alone.ok);
    assert!(upstream.seen().iter().all(|s| s.uri.starts_with("/spare/")));
}
