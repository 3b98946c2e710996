//! The real `llmnode` binary: the demo, `run` against a loopback upstream, the
//! plugin commands, and clear errors with meaningful exit codes for bad input.

use crate::support::{self, Reply, Upstream, leak};
use serde_json::{Value, json};
use std::process::Output;

const KEY: &str = "fake-cli-key-for-tests-1b2c3d4e5f6a7b8c9d0e";

/// Run the binary with every log level on, in a fresh data dir, off the async runtime.
async fn llmnode(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = support::llmnode_command(data.path());
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    leak::assert_clean_dir(data.path());
    out
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_clean(out: &Output, key: &str) {
    let (stdout, stderr) = text(out);
    support::assert_no_leak("stdout", &stdout, key);
    support::assert_no_leak("stderr (trace logs)", &stderr, key);
}

#[tokio::test]
async fn the_demo_runs_offline_fails_over_and_streams() {
    let key = "fake-demo-key-for-tests-0a1b2c3d4e5f60718293";
    let out = llmnode(&["demo", "--word-delay-ms", "0", "--key", key], &[]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("classify: done (via backup after primary)"), "{stderr}");
    assert!(stderr.contains("answer: streaming"), "{stderr}");
    assert!(stderr.contains("rate_limit") && stderr.contains("total"), "{stderr}");
    assert!(stdout.contains("\"category\": \"billing\""), "{stdout}");
    assert!(stderr.contains("vectors: done (via openai)"), "{stderr}");
    assert_clean(&out, key);

    let out = llmnode(&["demo", "--json", "--word-delay-ms", "0", "--key", key], &[]).await;
    assert!(out.status.success());
    let (stdout, _) = text(&out);
    let reports: Vec<Value> = serde_json::Deserializer::from_str(&stdout).into_iter().map(Result::unwrap).collect();
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|r| r["ok"] == json!(true)));
    assert_eq!(reports[0]["nodes"][0]["connection"], "backup");
    // The failover crosses providers: OpenAI's 429, then the Anthropic plugin serves.
    let served = &reports[0]["attempts"][1];
    assert_eq!((served["provider"].as_str(), served["model"].as_str()), (Some("anthropic"), Some("claude-haiku-4-5")));
    assert_eq!(reports[0]["nodes"][0]["skipped"][0]["class"], "rate_limit");
    assert_eq!(reports[0]["output"]["category"], "billing");
    // The embedding node: a question and two passages, one vector each.
    let embedded = &reports[2]["nodes"][0]["output"];
    assert_eq!(embedded["vectors"].as_array().map(Vec::len), Some(3), "{embedded}");
    assert_eq!(reports[2]["output"]["passages"].as_array().map(Vec::len), Some(2));
    assert!(embedded["cost_usd"].as_f64().unwrap() > 0.0, "{embedded}");
    assert_clean(&out, key);
}

#[tokio::test]
async fn run_uses_a_connections_file_and_keys_from_the_environment() {
    let sse = support::fixture("openai/sse/plain-text.sse");
    let upstream = Upstream::start(move |_| Reply::sse(&sse, 33)).await;
    let dir = tempfile::tempdir().unwrap();
    let conns = dir.path().join("connections.json");
    let file = json!({ "connections": [{ "name": "openai", "provider": "openai", "base_url": upstream.url("/v1"), "api_key_env": "TEST_OPENAI_KEY" }] });
    std::fs::write(&conns, file.to_string()).unwrap();
    let out = llmnode(
        &[
            "run",
            "examples/workflows/ask.json",
            "-c",
            conns.to_str().unwrap(),
            "-i",
            "question=What's the weather like in SF?",
        ],
        &[("TEST_OPENAI_KEY", KEY)],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("I'm unable to provide real-time weather updates."), "{stdout}");
    assert_eq!(upstream.seen()[0].headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(upstream.seen()[0].json()["messages"][1]["content"], "What's the weather like in SF?");
    assert_clean(&out, KEY);

    let out = llmnode(
        &["run", "examples/workflows/ask.json", "-c", conns.to_str().unwrap(), "-i", "question=x", "--json"],
        &[("TEST_OPENAI_KEY", KEY)],
    )
    .await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["attempts"][0]["usage"]["input"], json!(14));
    assert_eq!(report["attempts"][0]["usage"]["output"], json!(30));
    assert_clean(&out, KEY);

    // The key's variable is unset: a clear error naming it, exit 2, nothing sent.
    let before = upstream.seen().len();
    let out =
        llmnode(&["run", "examples/workflows/ask.json", "-c", conns.to_str().unwrap(), "-i", "question=x"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("TEST_OPENAI_KEY"), "{}", text(&out).1);
    assert_eq!(upstream.seen().len(), before);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let conns = dir.path().join("c.toml");
    std::fs::write(
        &conns,
        "[[connection]]\nname = \"openai\"\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    )
    .unwrap();
    let c = conns.to_str().unwrap();

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"name":"x","nodes":[{"id":"a","node_type":"llm","config":{"primary_connection":"openai","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}}]}"#).unwrap();
    let out = llmnode(&["run", bad.to_str().unwrap(), "-c", c], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("$.nodes[0].config.temperature"), "{}", text(&out).1);

    let unknown = dir.path().join("unknown.json");
    std::fs::write(&unknown, support::one_node("nope", &[], json!({}))).unwrap();
    let out = llmnode(&["run", unknown.to_str().unwrap(), "-c", c], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out).1;
    assert!(stderr.contains("$.nodes[0].config.primary_connection") && stderr.contains("nope"), "{stderr}");

    let out = llmnode(&["run", "examples/workflows/ask.json", "-c", c], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("question"), "{}", text(&out).1);

    let out = llmnode(&["run", "examples/workflows/ask.json", "-c", c, "-i", "question=x", "-i", "extra=1"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("extra"), "{}", text(&out).1);
}

#[tokio::test]
async fn a_node_that_fails_is_exit_code_1_with_the_reason() {
    // Nothing listens on port 9 of loopback: connection refused.
    let dir = tempfile::tempdir().unwrap();
    let conns = dir.path().join("c.toml");
    std::fs::write(&conns, "[[connection]]\nname = \"openai\"\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"K\"\n").unwrap();
    let out = llmnode(
        &["run", "examples/workflows/ask.json", "-c", conns.to_str().unwrap(), "-i", "question=x"],
        &[("K", KEY)],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out).1;
    assert!(
        stderr.contains("answer:") && stderr.contains("connection `openai` (openai)") && stderr.contains("127.0.0.1:9"),
        "{stderr}"
    );
    assert_clean(&out, KEY);
}

#[tokio::test]
async fn plugins_are_listed_and_inspected() {
    let out = llmnode(&["plugins", "list"], &[]).await;
    assert!(out.status.success());
    assert!(text(&out).0.contains("bundled:openai"), "{}", text(&out).0);

    let hostile = support::wasm("test_plugin_hostile");
    let out = llmnode(&["plugins", "inspect", hostile.to_str().unwrap(), "--json"], &[]).await;
    assert!(out.status.success(), "{}", text(&out).1);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["name"], "hostile");
    assert_eq!(info["contract_version"], "0.4.0");
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);

    let out = llmnode(&["plugins", "inspect", "Cargo.toml"], &[]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).1.contains("Cargo.toml"), "{}", text(&out).1);
}
