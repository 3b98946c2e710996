//! The operator's flow through the real binary and a real store file: init,
//! connections with keys sealed at rest, a connection test and a run against a
//! loopback upstream, disable, delete, and the audit log, with every output and
//! every byte on disk searched for the key.

use crate::support::{self, Reply, Upstream, leak};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const KEY: &str = "fake-operator-key-for-tests-5e6f7a8b9c0d1e2f3a4b";

/// Run the binary in `data` with trace logs on; the key only in `K`.
async fn llmnode(data: &Path, args: &[&str]) -> Output {
    let mut cmd = support::llmnode_command(data);
    cmd.args(args).env("K", KEY).env("USER", "operator-test");
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status.code());
    clean(out);
    stdout
}

fn clean(out: &Output) {
    support::assert_no_leak("stdout", &String::from_utf8_lossy(&out.stdout), KEY);
    support::assert_no_leak("stderr (trace logs)", &String::from_utf8_lossy(&out.stderr), KEY);
}

#[tokio::test]
async fn the_operator_flow_keeps_the_key_sealed_and_audited() {
    let sse = support::fixture("openai/sse/plain-text.sse");
    let upstream = Upstream::start(move |seen| {
        if seen.uri.starts_with("/bad/") {
            Reply::json(401, r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#)
        } else if seen.uri.starts_with("/v1/models/") {
            Reply::json(200, r#"{"id":"gpt-4o-mini","object":"model","owned_by":"system"}"#)
        } else {
            Reply::sse(&sse, 64)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let init = ok(&llmnode(&data, &["init"]).await);
    assert!(init.contains("master.key (created"), "{init}");
    let base = upstream.url("/v1");
    let add = ["connections", "add", "openai", "--provider", "openai", "--api-key-env", "K"];
    ok(&llmnode(&data, &[&add[..], &["--base-url", &base, "--default-model", "gpt-4o-mini", "--rpm", "60"]].concat())
        .await);
    // A mistyped workspace is refused with the ones that exist, and nothing is created.
    let other = ["connections", "add", "other", "--provider", "openai", "-w", "team-b", "--api-key-env", "K"];
    let refused = llmnode(&data, &other).await;
    assert_eq!(refused.status.code(), Some(2));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("workspace `team-b` not found (workspaces: `default`)")
            && why.contains("llmnode workspaces create team-b"),
        "{why}"
    );
    assert!(!ok(&llmnode(&data, &["workspaces", "list"]).await).contains("team-b"));
    ok(&llmnode(&data, &["workspaces", "create", "team-b"]).await);
    ok(&llmnode(&data, &other).await);

    let list = ok(&llmnode(&data, &["connections", "list"]).await);
    assert!(list.contains("openai") && list.contains("Active") && list.contains("fak…3a4b"), "{list}");
    assert!(!list.contains("other"), "workspace b's connection is listed in the default workspace:\n{list}");

    let tested = ok(&llmnode(&data, &["connections", "test", "openai"]).await);
    assert!(tested.contains("key valid    yes") && tested.contains("model access yes"), "{tested}");
    assert_eq!(upstream.seen()[0].uri, "/v1/models/gpt-4o-mini");
    assert_eq!(upstream.seen()[0].headers["authorization"], format!("Bearer {KEY}"));

    // A connection whose key the upstream refuses: the test says so and the list shows Error.
    let bad = upstream.url("/bad/v1");
    let add_bad = ["connections", "add", "bad", "--provider", "openai", "--api-key-env", "K", "--base-url", &bad];
    ok(&llmnode(&data, &[&add_bad[..], &["--secret-env", "header:x-extra=K"]].concat()).await);
    let failed = llmnode(&data, &["connections", "test", "bad", "--model", "gpt-4o-mini"]).await;
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stdout).contains("key valid    NO"));
    // The secret header is opened and sent like the key, and shown nowhere.
    let last = upstream.seen().last().cloned().unwrap();
    assert_eq!(last.headers["x-extra"], KEY);
    clean(&failed);
    let list = ok(&llmnode(&data, &["connections", "list"]).await);
    let bad_line = list.lines().find(|l| l.starts_with("bad ")).unwrap();
    assert!(bad_line.contains("Error"), "{list}");
    let shown = ok(&llmnode(&data, &["connections", "show", "bad"]).await);
    assert!(shown.contains("header:x-extra"), "{shown}");
    // Never used by a workflow: deleted without --force.
    ok(&llmnode(&data, &["connections", "delete", "bad"]).await);
    let seen_before_run = upstream.seen().len();

    let run = ["run", "examples/workflows/ask.json", "-i", "question=Weather?", "--json"];
    let report: Value = serde_json::from_str(&ok(&llmnode(&data, &run).await)).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(upstream.seen().len(), seen_before_run + 1);

    ok(&llmnode(&data, &["connections", "disable", "openai"]).await);
    let refused = llmnode(&data, &run).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("disabled"));
    assert_eq!(upstream.seen().len(), seen_before_run + 1, "a disabled connection was used");
    clean(&refused);

    let unforced = llmnode(&data, &["connections", "delete", "openai"]).await;
    assert_eq!(unforced.status.code(), Some(2));
    let why = String::from_utf8_lossy(&unforced.stderr);
    assert!(why.contains("used by workflow(s) ask") && why.contains("--force"), "{why}");
    ok(&llmnode(&data, &["connections", "delete", "openai", "--force"]).await);

    ok(&llmnode(&data, &["users", "add", "bob"]).await);
    let token = ok(&llmnode(&data, &["tokens", "create", "--user", "bob", "--role", "admin"]).await);
    let token = token.trim();
    assert!(token.starts_with("lln_") && token.len() > 40, "{token}");
    let tokens = ok(&llmnode(&data, &["tokens", "list"]).await);
    assert!(tokens.contains("bob") && tokens.contains("admin") && tokens.contains("live") && !tokens.contains(token));
    ok(&llmnode(&data, &["tokens", "revoke", "1"]).await);
    assert!(ok(&llmnode(&data, &["tokens", "list"]).await).contains("revoked"));

    let audit: Value = serde_json::from_str(&ok(&llmnode(&data, &["audit", "-w", "default", "--json"]).await)).unwrap();
    let actions: Vec<&str> = audit.as_array().unwrap().iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "workspace.create",
            "connection.create",
            "connection.test",
            "connection.create",
            "connection.test",
            "connection.delete",
            "connection.disable",
            "connection.delete",
            "token.create",
            "token.revoke"
        ]
    );
    // Attributed to the account the process runs as, whatever $USER claims.
    let account = std::process::Command::new("id").arg("-un").output().unwrap();
    let account = format!("cli:{}", String::from_utf8_lossy(&account.stdout).trim());
    assert!(audit.as_array().unwrap().iter().all(|e| e["actor"] == account.as_str()), "{audit:#}");

    // Nothing on disk holds the key or the token in plaintext.
    let token = token.to_string();
    for entry in std::fs::read_dir(&data).unwrap().flatten().filter(|e| e.path().is_file()) {
        let bytes = std::fs::read(entry.path()).unwrap();
        for secret in [KEY, token.as_str()] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{} holds a secret in plaintext", entry.path().display());
        }
    }
    // Nor anywhere below it (caches included) any other test key.
    assert!(leak::assert_clean_dir(&data) >= 3);
}

#[tokio::test]
async fn a_wrong_master_key_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&llmnode(&data, &["init"]).await);
    ok(&llmnode(&data, &["connections", "add", "openai", "--provider", "openai", "--api-key-env", "K"]).await);
    let key_file = data.join("master.key");
    let original = std::fs::read(&key_file).unwrap();
    let db_before = std::fs::read(data.join("llmnode.db")).unwrap();

    // Another valid key in place of the real one.
    std::fs::remove_file(&key_file).unwrap();
    ok(&llmnode(&dir.path().join("elsewhere"), &["init"]).await);
    std::fs::copy(dir.path().join("elsewhere/master.key"), &key_file).unwrap();

    for args in [&["vault", "rotate"][..], &["connections", "test", "openai"][..]] {
        let out = llmnode(&data, args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("master key"), "{args:?}: {stderr}");
        clean(&out);
    }
    assert!(!data.join("master.key.new").exists());
    assert_eq!(std::fs::read(data.join("llmnode.db")).unwrap(), db_before, "the store changed");

    // Put the right key back: rotation works and the connection still opens.
    std::fs::write(&key_file, &original).unwrap();
    ok(&llmnode(&data, &["vault", "rotate"]).await);
    assert_ne!(std::fs::read(&key_file).unwrap(), original);
    let shown = ok(&llmnode(&data, &["connections", "show", "openai"]).await);
    assert!(shown.contains("fak…3a4b"), "{shown}");
}

#[tokio::test]
async fn installed_plugins_are_hash_checked_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&llmnode(&data, &["init"]).await);
    let hostile = support::wasm("test_plugin_hostile");
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&hostile).unwrap()));
    let added = ok(&llmnode(&data, &["plugins", "add", hostile.to_str().unwrap(), "--sha256", &sha256]).await);
    assert!(added.contains("installed plugin `hostile`"), "{added}");
    let list = ok(&llmnode(&data, &["plugins", "list"]).await);
    assert!(list.contains("hostile") && list.contains("openai"), "{list}");

    // A changed file is refused with the path named (exit 3, a plugin problem).
    let installed = data.join("plugins/hostile-0.0.1.wasm");
    let mut bytes = std::fs::read(&installed).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&installed, &bytes).unwrap();
    let refused = llmnode(&data, &["plugins", "list"]).await;
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("changed since it was installed") && stderr.contains("hostile-0.0.1.wasm"), "{stderr}");

    ok(&llmnode(&data, &["plugins", "remove", "hostile"]).await);
    assert!(!installed.exists());
    assert!(!ok(&llmnode(&data, &["plugins", "list"]).await).contains("hostile"));
    let audit: Value = serde_json::from_str(&ok(&llmnode(&data, &["audit", "--json"]).await)).unwrap();
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(&actions[..2], ["plugin.remove", "plugin.install"]);
}

#[tokio::test]
async fn usage_prices_and_alerts_through_the_cli() {
    // The spec's example answer: 19 prompt tokens, 10 completion tokens.
    let body = support::fixture("openai/spec-examples/default.response.json");
    let upstream = Upstream::start(move |_| Reply::json(200, body.clone())).await;
    let webhook = Upstream::start(|_| Reply::json(200, "{}")).await;
    let dir = tempfile::tempdir().unwrap();
    let hook_url = webhook.url("/hook/secret-path-4f9e");
    let env = [("K", KEY), ("HOOK", hook_url.as_str()), ("USER", "operator-test")];
    let cli = support::PricedCli::new(dir.path(), &upstream.url("/v1"), &env).await;
    ok(&cli.run("alerts set --daily-spend-usd 0.00005 --webhook-url-env HOOK").await);
    let prices = ok(&cli.run("prices list").await);
    assert!(prices.lines().any(|l| l.contains("gpt-4o-mini") && l.contains("(override)")), "{prices}");

    let wf = dir.path().join("wf.json");
    std::fs::write(&wf, support::one_node("oa", &[], serde_json::json!({}))).unwrap();
    let mut costs = Vec::new();
    for _ in 0..2 {
        let report: Value = serde_json::from_str(&ok(&cli.run(&format!("run {} --json", wf.display())).await)).unwrap();
        costs.push(report["attempts"][0]["cost_usd"].as_f64().unwrap());
    }
    // (19 × $1 + 10 × $2) per million, at the override's prices.
    assert!(costs.iter().all(|c| (c - 39e-6).abs() < 1e-12), "{costs:?}");

    let usage: Value = serde_json::from_str(&ok(&cli.run("usage --json").await)).unwrap();
    assert_eq!(usage["total"]["requests"], 2);
    assert_eq!(usage["total"]["cost_nusd"], 78_000);
    assert_eq!(usage["by_model"][0]["model"], "gpt-4o-mini");
    assert_eq!(usage["top_workflows"][0]["name"], "test");
    assert_eq!(usage["daily"].as_array().unwrap().len(), 30);
    let text = ok(&cli.run("usage").await);
    assert!(text.contains("requests per day") && text.contains("cost by model") && text.contains("$0.0001"), "{text}");

    let list = ok(&cli.run("connections list").await);
    assert!(list.contains("2 req, $0.00"), "{list}");

    // The second run crossed $0.00005: one alert, posted to the webhook.
    let alerts: Value = serde_json::from_str(&ok(&cli.run("alerts list --json").await)).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts[0]["kind"], "daily_spend");
    assert!(alerts[0]["delivered_ms"].is_i64(), "{alerts}");
    assert_eq!(webhook.seen().len(), 1);
    let shown = ok(&cli.run("alerts show").await);
    assert!(shown.contains("$0.00") && shown.contains("http://127.0.0.1") && !shown.contains("secret-path"), "{shown}");

    let audit = ok(&cli.run("audit --json").await);
    assert!(audit.contains("price.set") && audit.contains("alerts.configure"), "{audit}");
    assert!(!audit.contains("secret-path"), "the webhook URL is in the audit log");
}
