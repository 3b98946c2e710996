//! Governance through the real daemon and CLI: changes that wait for a
//! second admin (a new connection, a new base URL, an installed plugin), and
//! the prompt monitor (secrets and card numbers blocked, redacted or alerted
//! before anything reaches the upstream, which counts what it receives).

use crate::support::daemon::{Daemon, KEY, Setup};
use crate::support::{Reply, Seen, Upstream, one_node};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ANSWER: &str = r#"{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;

fn answer(_: &Seen) -> Reply {
    Reply::json(200, ANSWER)
}

/// An inline run of one node on `connection` whose user message is `text`.
fn run_body(connection: &str, text: &str) -> Value {
    let workflow: Value =
        serde_json::from_str(&one_node(connection, &[], json!({ "messages": [{ "role": "user", "content": text }] })))
            .unwrap();
    json!({ "workflow": workflow })
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_string()
}

/// Run on `connection` until it answers 200 (a CLI change reaches the daemon
/// within a second or so); the last answer.
async fn run_until_ok(d: &Daemon, token: &str, connection: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, out) = d.call("POST", "/api/v1/run", token, Some(run_body(connection, "hi"))).await;
        if status == 200 {
            return out;
        }
        assert!(Instant::now() < deadline, "never served: {status} {out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn audit(s: &Setup, action: &str) -> Vec<Value> {
    let text = s.cli(&["audit", "--json", "--action", action]).await;
    serde_json::from_str::<Value>(&text).unwrap().as_array().unwrap().clone()
}

#[tokio::test]
async fn a_change_serves_only_once_a_different_admin_approves_it() {
    let s = Setup::new(Duration::ZERO).await;
    let (old, new) = (Upstream::start(answer).await, Upstream::start(answer).await);
    s.cli(&["workspaces", "set", "--require-approval"]).await;
    let dave = s.second_admin("dave").await;
    let d = s.serve().await;

    // Alice adds a connection: accepted, pending, and it serves nothing.
    let add = json!({ "name": "fresh", "provider": "openai", "secrets": { "api_key": KEY },
        "settings": { "base_url": old.url("/v1"), "default_model": "gpt-4o-mini" } });
    let (status, created) = d.call("POST", "/api/v1/connections", &s.admin, Some(add)).await;
    assert_eq!(status, 202, "{created}");
    let id = created["pending_approval"].as_i64().unwrap();
    let (status, refused) = d.call("POST", "/api/v1/run", &s.admin, Some(run_body("fresh", "hi"))).await;
    assert!(status >= 400, "{refused}");
    assert!(
        message(&refused).contains(&format!("pending approval #{id} (connection.create requested by api:alice")),
        "the refusal names the pending change: {refused}"
    );
    assert!(old.seen().is_empty(), "a pending connection sent something");

    // Alice cannot approve her own change (refused and audited); a member cannot approve at all.
    let approve = format!("/api/v1/approvals/{id}/approve");
    let (status, own) = d.call("POST", &approve, &s.admin, None).await;
    assert_eq!(status, 403, "{own}");
    assert!(message(&own).contains("requested by api:alice") && message(&own).contains("another admin"), "{own}");
    let (status, _) = d.call("POST", &approve, &s.member, None).await;
    assert_eq!(status, 403);
    let (_, pending) = d.call("GET", "/api/v1/approvals", &s.member, None).await;
    assert_eq!(pending["approvals"][0]["state"], json!("pending"), "{pending}");
    assert!(old.seen().is_empty());

    // Dave approves: it serves at once.
    let (status, decided) = d.call("POST", &approve, &dave, None).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["state"], json!("approved"));
    assert!(decided["decided_by"].as_str().unwrap().starts_with("api:dave"), "{decided}");
    let (status, out) = d.call("POST", "/api/v1/run", &s.admin, Some(run_body("fresh", "hi"))).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(old.seen().len(), 1);

    // A new base URL is staged: the approved one keeps serving, and the
    // connection takes no other edit meanwhile.
    let edit = json!({ "settings": { "base_url": new.url("/v1") } });
    let (status, staged) = d.call("PATCH", "/api/v1/connections/fresh", &s.admin, Some(edit.clone())).await;
    assert_eq!(status, 202, "{staged}");
    let edit_id = staged["pending_approval"].as_i64().unwrap();
    assert_eq!(staged["settings"]["base_url"], json!(old.url("/v1")), "the approved URL is still the one shown");
    let (status, again) = d.call("PATCH", "/api/v1/connections/fresh", &dave, Some(edit)).await;
    assert_eq!(status, 409, "{again}");
    assert!(message(&again).contains(&format!("awaiting approval (#{edit_id}")), "{again}");
    let (status, _) = d.call("POST", "/api/v1/run", &s.admin, Some(run_body("fresh", "hi"))).await;
    assert_eq!(status, 200);
    assert_eq!((old.seen().len(), new.seen().len()), (2, 0), "the pending URL served");

    // The operator at the CLI is another person than api:alice: approving
    // moves the connection to the new URL in the running daemon.
    s.cli(&["approvals", "approve", &edit_id.to_string()]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while new.seen().is_empty() {
        run_until_ok(&d, &s.admin, "fresh").await;
        assert!(Instant::now() < deadline, "the approved URL never served");
    }

    // Both users are in the audit log, and so is the refused self-approval.
    let approved = audit(&s, "approval.approve").await;
    let by_dave = approved.iter().find(|e| e["detail"]["approval"] == json!(id)).unwrap();
    assert!(by_dave["actor"].as_str().unwrap().starts_with("api:dave"), "{by_dave}");
    assert!(by_dave["detail"]["requested_by"].as_str().unwrap().starts_with("api:alice"), "{by_dave}");
    let refused = audit(&s, "approval.refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0]["actor"].as_str().unwrap().starts_with("api:alice"), "{refused:?}");

    // An installed plugin is pending here; its installer cannot approve it.
    let wasm = crate::support::wasm("test_plugin_contract_v0_1");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&wasm).unwrap()));
    s.cli(&["plugins", "install", wasm.to_str().unwrap(), "--sha256", &digest]).await;
    let list: Value = serde_json::from_str(&s.cli(&["approvals", "list", "--json"]).await).unwrap();
    let plugin = list.as_array().unwrap().iter().find(|a| a["kind"] == json!("plugin.install")).unwrap().clone();
    assert_eq!(plugin["target"], json!("legacy-v0-1"), "{list}");
    let own = s.cli_output(&["approvals", "approve", &plugin["id"].to_string()]).await;
    assert!(!own.status.success());
    assert!(String::from_utf8_lossy(&own.stderr).contains("cannot approve"), "{own:?}");
    let (status, _) = d.call("POST", &format!("/api/v1/approvals/{}/approve", plugin["id"]), &dave, None).await;
    assert_eq!(status, 200);

    // Turning approvals off is the operator's alone.
    let off = json!({ "require_approval": false });
    let (status, body) = d.call("PUT", "/api/v1/workspace/settings", &dave, Some(off)).await;
    assert_eq!(status, 403, "{body}");
    d.assert_log_clean();
}

/// AWS's own documentation example key and secret (never live), and a
/// Luhn-valid card (and an invalid one).
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const CARD: &str = "4111 1111 1111 1111";
const NOT_A_CARD: &str = "4111 1111 1111 1112";

/// Fail if the fake secret or card is anywhere in `text`.
fn assert_unseen(what: &str, text: &str) {
    for secret in [AWS_KEY, &AWS_SECRET[22..], CARD] {
        assert!(!text.contains(secret), "{secret} leaked into {what}:\n{text}");
    }
}

/// Every file under `dir`, as text, for the scan.
fn all_files(dir: &std::path::Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()));
        }
    }
}

#[tokio::test]
async fn prompts_with_secrets_or_cards_are_blocked_redacted_or_alerted_per_policy() {
    let s = Setup::new(Duration::ZERO).await;
    let up = Upstream::start(answer).await;
    let base = up.url("/v1");
    s.cli(&[
        "connections",
        "add",
        "watched",
        "--provider",
        "openai",
        "--api-key-env",
        "K",
        "--base-url",
        &base,
        "--default-model",
        "gpt-4o-mini",
    ])
    .await;
    s.cli(&["workspaces", "set", "--secrets", "block", "--cards", "block"]).await;
    let d = s.serve().await;
    let mut outputs = String::new();
    let prompt = format!("deploy with {AWS_KEY} and {AWS_SECRET}, bill {CARD}");
    let run = |text: String| {
        let d = &d;
        let token = s.admin.clone();
        async move { d.call("POST", "/api/v1/run", &token, Some(run_body("watched", &text))).await }
    };
    let set = |secrets: &str, cards: &str| {
        let body = json!({ "monitor": { "secrets": secrets, "cards": cards, "volume": "alert" } });
        let (d, token) = (&d, s.admin.clone());
        async move {
            let (status, out) = d.call("PUT", "/api/v1/workspace/settings", &token, Some(body)).await;
            assert_eq!(status, 200, "{out}");
        }
    };

    // block: a 400 naming the rule and where, and nothing reaches the upstream.
    let (status, blocked) = run(prompt.clone()).await;
    assert_eq!((status, blocked["error"]["code"].as_str()), (400, Some("invalid_request")), "{blocked}");
    let m = message(&blocked);
    assert!(m.contains("rule `aws_access_key_id`") && m.contains("node `n`, message 0"), "{m}");
    assert!(up.seen().is_empty(), "a blocked prompt reached the upstream");
    outputs.push_str(&blocked.to_string());

    // redact: the upstream sees the markers, never the key, secret or card.
    set("redact", "redact").await;
    let (status, out) = run(prompt.clone()).await;
    assert_eq!(status, 200, "{out}");
    let sent = up.seen()[0].all_text();
    for marker in ["[REDACTED:aws_access_key_id]", "[REDACTED:aws_secret_access_key]", "[REDACTED:payment_card]"] {
        assert!(sent.contains(marker), "{marker} missing from {sent}");
    }
    assert_unseen("the upstream's request", &sent);
    outputs.push_str(&out.to_string());

    // cards: a Luhn-valid number is caught, a Luhn-invalid 16-digit one is not.
    set("off", "block").await;
    let (status, _) = run(format!("card {CARD}")).await;
    assert_eq!(status, 400);
    let (status, _) = run(format!("order {NOT_A_CARD}")).await;
    assert_eq!(status, 200);
    assert_eq!(up.seen().len(), 2);
    assert!(up.seen()[1].all_text().contains(NOT_A_CARD));

    // alert: the prompt goes as it is, and an alert names rule and place.
    set("alert", "off").await;
    let (status, _) = run(format!("key {AWS_KEY}")).await;
    assert_eq!(status, 200);
    assert!(up.seen()[2].all_text().contains(AWS_KEY), "alert sends the prompt unchanged");
    let deadline = Instant::now() + Duration::from_secs(5);
    let alerts = loop {
        let (_, alerts) = d.call("GET", "/api/v1/alerts", &s.admin, None).await;
        if alerts.to_string().matches("prompt monitor").count() >= 4 {
            break alerts;
        }
        assert!(Instant::now() < deadline, "monitor alerts missing: {alerts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = alerts.to_string();
    for expected in [
        "rule `aws_access_key_id` hit in workflow `test`, node `n`, message 0; the node was blocked",
        "rule `aws_secret_access_key` hit in workflow `test`, node `n`, message 0; the match was redacted",
        "rule `payment_card` hit in workflow `test`, node `n`, message 0; the match was redacted",
        "rule `aws_access_key_id` hit in workflow `test`, node `n`, message 0; the prompt was sent as it was",
    ] {
        assert!(text.contains(expected), "no alert `{expected}` in {text}");
    }
    outputs.push_str(&text);
    let (_, metrics) = d.get_text("/metrics", &s.admin).await;
    assert!(
        metrics
            .contains(r#"llmnode_monitor_hits_total{workspace="default",rule="aws_access_key_id",action="block"} 1"#),
        "{metrics}"
    );
    outputs.push_str(&metrics);

    // The matched text is nowhere: answers, alerts, CLI output, logs, the store.
    outputs.push_str(&s.cli(&["alerts", "list", "--json"]).await);
    outputs.push_str(&s.cli(&["audit", "--json"]).await);
    outputs.push_str(&s.cli(&["usage", "--json"]).await);
    outputs.push_str(&d.log_text());
    assert_unseen("the daemon's outputs", &outputs);
    d.terminate();
    let mut files = String::new();
    all_files(&s.data(), &mut files);
    assert_unseen("the data directory", &files);
}

#[tokio::test]
async fn a_connection_awaiting_approval_is_passed_over_and_named_when_nothing_else_serves() {
    let s = Setup::new(Duration::ZERO).await;
    let fresh = Upstream::start(answer).await;
    s.cli(&["workspaces", "set", "--require-approval"]).await;
    let d = s.serve().await;
    let add = json!({ "name": "fresh", "provider": "openai", "secrets": { "api_key": KEY },
        "settings": { "base_url": fresh.url("/v1"), "default_model": "gpt-4o-mini" } });
    let (status, created) = d.call("POST", "/api/v1/connections", &s.admin, Some(add)).await;
    assert_eq!(status, 202, "{created}");
    let id = created["pending_approval"].as_i64().unwrap();
    let named = format!("connection `fresh` is pending approval #{id}");

    // Every endpoint: nothing else serves `fresh/...`, so 503 naming the
    // pending connection and that it awaits approval.
    let chat = json!({ "model": "fresh/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    let messages = json!({ "model": "fresh/gpt-4o-mini", "max_tokens": 16,
        "messages": [{ "role": "user", "content": "hi" }] });
    let embed = json!({ "model": "fresh/text-embedding-3-small", "input": "hi" });
    for (path, body) in [("/v1/chat/completions", chat), ("/v1/messages", messages), ("/v1/embeddings", embed)] {
        let (status, out) = d.call("POST", path, &s.admin, Some(body)).await;
        assert_eq!(status, 503, "{path}: {out}");
        let text = out["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(&named) && text.contains("awaiting approval"), "{path}: {out}");
    }
    let (status, out) = d.call("POST", "/api/v1/run", &s.admin, Some(run_body("fresh", "hi"))).await;
    assert_eq!(status, 503, "{out}");
    assert!(message(&out).contains(&named), "{out}");

    // A stored route falls over from the pending primary to the next
    // candidate, and a default model is served by the connections that may serve.
    let route = json!({ "primary_connection": "fresh", "fallback_connections": ["openai"] });
    let (status, out) = d.call("PUT", "/api/v1/routes/careful", &s.admin, Some(route)).await;
    assert!(status < 300, "{out}");
    for model in ["careful", "gpt-4o-mini"] {
        let chat = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        let (status, out) = d.call("POST", "/v1/chat/completions", &s.admin, Some(chat)).await;
        assert_eq!(status, 200, "{model}: {out}");
    }
    let (_, models) = d.call("GET", "/v1/models", &s.admin, None).await;
    assert!(!models.to_string().contains("fresh/"), "a pending connection is listed: {models}");
    assert!(fresh.seen().is_empty(), "a pending connection sent something");
}
