//! Names and what people read, through the real binary and daemon: one name
//! rule at every entry point (CLI, API, connections files, workflow files,
//! plugin install) refuses hostile names and stores nothing; and no value
//! stored before the rule existed, no model id, upstream error message or
//! login name reaches the terminal or a log line with a raw control character
//! or as a forged line. Rows with such names stay listable and deletable.

use crate::support::daemon::{KEY, Setup};
use crate::support::{self, Reply, Upstream};
use llmnode::store::connection_rows::{self, StoredSettings};
use llmnode::store::definition_rows::{self, Kind};
use llmnode::store::{Store, workspaces};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// What a forged audit line would look like.
const FORGED: &str = "2026-01-01T00:00:00Z  default    cli:root       connection.delete    forged";

/// Characters that forge a line or drive a terminal.
const RAW: [char; 6] = ['\x1b', '\r', '\0', '\x07', '\u{9b}', '\u{202e}'];

/// Names no entry point may accept; `with_nul` adds one only JSON can carry
/// (a process argument cannot).
fn hostile_names(with_nul: bool) -> Vec<String> {
    let mut names = vec![
        format!("a\r\n{FORGED}"),
        "\x1b[31mred\x07".to_string(),
        "x".repeat(5000),
        String::new(),
        "a/b".to_string(),
        "rtl\u{202e}gpj.exe".to_string(),
    ];
    if with_nul {
        names.push("nul\0byte".into());
    }
    names
}

/// Fail if `text` holds a raw control character or a line forged from [`FORGED`].
fn assert_inert(what: &str, text: &str) {
    if let Some(at) = text.find(RAW) {
        let from = text[..at].char_indices().rev().nth(100).map_or(0, |(i, _)| i);
        let to = text[at..].char_indices().nth(100).map_or(text.len(), |(i, _)| at + i);
        panic!("{what} holds a raw control character: {:?}", &text[from..to]);
    }
    assert!(!text.lines().any(|l| l.starts_with(FORGED)), "{what} holds a forged line:\n{text}");
}

/// A path segment carrying any name.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Run the binary in `data` (trace logs on, the key in `K`) as login `user`.
async fn llmnode(data: &Path, args: &[&str], user: &str) -> Output {
    let mut cmd = support::llmnode_command(data);
    cmd.args(args).env("K", KEY).env("USER", user);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    for (what, bytes) in [("stdout", &out.stdout), ("stderr (trace logs)", &out.stderr)] {
        assert_inert(&format!("`llmnode {}` {what}", args.join(" ").escape_debug()), &String::from_utf8_lossy(bytes));
    }
    out
}

fn stdout(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "exit {:?}\n{text}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    text
}

/// The error line of a refused command: exit `code`, one `error:` line naming `what`.
fn refused(out: &Output, code: i32, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(what), "{what:?} not in {:?}", errors[0]);
    errors[0].to_string()
}

async fn audit(data: &Path) -> Value {
    serde_json::from_str(&stdout(&llmnode(data, &["audit", "--json", "--limit", "1000"], "t").await)).unwrap()
}

#[tokio::test]
async fn every_cli_entry_point_refuses_hostile_names_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&llmnode(&data, &["init"], "t").await);
    let before = audit(&data).await;
    let good_connections = dir.path().join("good.json");
    let good = json!({ "connections": [{ "name": "ok", "provider": "openai", "api_key_env": "K" }] });
    std::fs::write(&good_connections, good.to_string()).unwrap();
    let workflow = dir.path().join("wf.json");
    std::fs::write(&workflow, support::one_node("ok", &[], json!({}))).unwrap();

    for name in hostile_names(false) {
        let add = ["connections", "add", name.as_str(), "--provider", "openai", "--api-key-env", "K"];
        let error = refused(&llmnode(&data, &add, "t").await, 2, "error: connection name \"");
        assert!(error.len() < 300, "the error repeats the whole name: {error}");
        refused(&llmnode(&data, &["workspaces", "create", name.as_str()], "t").await, 2, "error: workspace name \"");
        let add = ["connections", "add", "ok", "--provider", "openai", "--api-key-env", "K", "-w", name.as_str()];
        refused(&llmnode(&data, &add, "t").await, 2, "error: workspace `");
        if name != "a/b" {
            refused(&llmnode(&data, &["users", "add", name.as_str()], "t").await, 2, "error: user name \"");
        }
    }
    for name in hostile_names(true) {
        let file = dir.path().join("hostile.json");
        let conns = json!({ "connections": [{ "name": name, "provider": "openai", "api_key_env": "K" }] });
        std::fs::write(&file, conns.to_string()).unwrap();
        let run = ["run", workflow.to_str().unwrap(), "-c", file.to_str().unwrap()];
        let error = refused(&llmnode(&data, &run, "t").await, 2, "hostile.json: connection \"");
        assert!(error.contains(": name: connection name \""), "{error}");

        let bad_workflow = dir.path().join("bad-wf.json");
        let mut wf: Value = serde_json::from_str(&support::one_node("ok", &[], json!({}))).unwrap();
        wf["name"] = json!(name);
        std::fs::write(&bad_workflow, wf.to_string()).unwrap();
        let run = ["run", bad_workflow.to_str().unwrap(), "-c", good_connections.to_str().unwrap()];
        let out = llmnode(&data, &run, "t").await;
        refused(&out, 2, "bad-wf.json is invalid");
        assert!(String::from_utf8_lossy(&out.stderr).contains("$.name: must"), "{out:?}");
    }

    // A plugin whose info names it (or its version) with a control character or a `/`.
    let hostile = std::fs::read(support::wasm("test_plugin_hostile")).unwrap();
    for (what, from, to) in [
        ("plugin name", &b"hostile"[..], &b"ho\r\nile"[..]),
        ("plugin name", b"hostile", b"h\x1b[31mx"),
        ("plugin name", b"hostile", b"hos\0ile"),
        ("plugin name", b"hostile", b"hos/ile"),
        ("plugin version", b"0.0.1", b"0/0.1"),
    ] {
        // Same length, so the data segment stays well formed.
        assert_eq!(from.len(), to.len());
        let mut bytes = hostile.clone();
        let mut replaced = 0;
        let mut at = 0;
        while let Some(p) = bytes[at..].windows(from.len()).position(|w| w == from) {
            bytes[at + p..at + p + to.len()].copy_from_slice(to);
            at += p + to.len();
            replaced += 1;
        }
        assert!(replaced > 0, "{what}: nothing to patch");
        let file = dir.path().join("patched.wasm");
        std::fs::write(&file, &bytes).unwrap();
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let out = llmnode(&data, &["plugins", "install", file.to_str().unwrap(), "--sha256", &sha256], "t").await;
        refused(&out, 3, &format!("describes itself wrongly: {what} \""));
    }
    let plugins = data.join("plugins");
    let installed = std::fs::read_dir(&plugins).map(|d| d.count()).unwrap_or(0);
    assert_eq!(installed, 0, "a refused plugin was left in {}", plugins.display());

    assert_eq!(audit(&data).await, before, "a refused command changed the audit log");
    let list: Value =
        serde_json::from_str(&stdout(&llmnode(&data, &["connections", "list", "--json"], "t").await)).unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn every_api_entry_point_refuses_hostile_names_and_stores_nothing() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve().await;
    let before = audit(&s.data()).await;
    for name in hostile_names(true) {
        let body = json!({ "name": name, "provider": "openai", "secrets": { "api_key": KEY } });
        let (status, answer) = d.call("POST", "/api/v1/connections", &s.admin, Some(body)).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("connection name \""), "{message}");
        assert_inert("the API's error", message);

        let mut workflow: Value = serde_json::from_str(&support::one_node("openai", &[], json!({}))).unwrap();
        workflow["name"] = json!(name);
        let path = format!("/api/v1/workflows/{}", if name.is_empty() { "x".into() } else { segment(&name) });
        let (status, answer) = d.call("PUT", &path, &s.member, Some(workflow)).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("$.name: must"), "{answer}");

        if !name.is_empty() {
            let path = format!("/api/v1/routes/{}", segment(&name));
            let route = json!({ "primary_connection": "openai" });
            let (status, answer) = d.call("PUT", &path, &s.admin, Some(route)).await;
            assert_eq!(status, 400, "{path}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("route name \""), "{message}");
        }
    }
    assert_eq!(audit(&s.data()).await, before, "a refused request changed the audit log");
    let (_, list) = d.call("GET", "/api/v1/connections", &s.member, None).await;
    let names: Vec<&str> = list["connections"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["limited", "openai"]);
    for kind in ["workflows", "routes"] {
        let (_, list) = d.call("GET", &format!("/api/v1/{kind}"), &s.member, None).await;
        assert_eq!(list[kind], json!([]), "{list}");
    }
    assert_inert("the daemon's log", &d.log_text());
}

/// Rows written before names were checked, straight through the store layer.
fn store_legacy_rows(data: &Path) -> Vec<(&'static str, String)> {
    let store = Store::open(data.join(llmnode::store::FILE_NAME)).unwrap();
    let mut rows = Vec::new();
    for workspace in ["default", "team-b"] {
        let ws = workspaces::get(store.db(), workspace).unwrap();
        for name in [format!("a\r\n{FORGED}"), "\x1b]0;pwned\x07\x1b[2J".into(), String::new(), "a/b".into()] {
            let settings = StoredSettings { default_model: Some("gpt\x1b[2J\u{9b}".into()), ..Default::default() };
            connection_rows::insert(store.db(), ws.id, &name, "openai", &settings).unwrap();
            rows.push((workspace, name));
        }
    }
    let ws = workspaces::get(store.db(), "default").unwrap();
    definition_rows::put(store.db(), ws.id, Kind::Route, "r\x1b[2J\r\nforged", "{}", &[]).unwrap();
    rows
}

#[tokio::test]
async fn stored_hostile_values_are_shown_escaped_and_their_rows_can_be_deleted() {
    let s = Setup::new(Duration::ZERO).await;
    let data = s.data();
    // An upstream whose error message tries to forge lines and drive the terminal.
    let message = format!("boom\\r\\n{FORGED}\\u001b[31m\\u0007\\u009b\\u202e");
    let upstream =
        Upstream::start(move |_| Reply::json(400, format!(r#"{{"error":{{"message":"{message}","type":"x"}}}}"#)))
            .await;
    let add = ["connections", "add", "hostile", "--provider", "openai", "--api-key-env", "K", "--max-retries", "0"];
    let url = upstream.url("/v1");
    stdout(
        &llmnode(&data, &[&add[..], &["--base-url", &url, "--default-model", "gpt\x1b[2J\x07"]].concat(), "t").await,
    );
    let legacy = store_legacy_rows(&data);

    // Listed, escaped, one line each; the JSON has the exact names.
    let list = stdout(&llmnode(&data, &["connections", "list"], "t").await);
    assert!(list.contains("a\\r\\n2026-01-01T00:00:00Z") && list.contains("\\x1b]0;pwned\\x07"), "{list}");
    assert!(list.contains("gpt\\x1b[2J\\u{9b} (default)"), "{list}");
    let json: Value =
        serde_json::from_str(&stdout(&llmnode(&data, &["connections", "list", "--json"], "t").await)).unwrap();
    let names: Vec<&str> = json.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for (_, name) in legacy.iter().filter(|(w, _)| *w == "default") {
        assert!(names.contains(&name.as_str()), "{name:?} not listed: {names:?}");
        stdout(&llmnode(&data, &["connections", "show", name], "t").await);
    }

    // Audited actions on them; a login name that tries the same is not who acts.
    let evil_user = format!("evil\r\n{FORGED}\x1b[2J");
    for (_, name) in legacy.iter().filter(|(w, _)| *w == "default") {
        stdout(&llmnode(&data, &["connections", "disable", name], &evil_user).await);
    }
    // A run whose upstream answers with the hostile message, recorded in usage.
    let workflow = s.dir.path().join("wf.json");
    std::fs::write(&workflow, support::one_node("hostile", &[], json!({}))).unwrap();
    let run = llmnode(&data, &["run", workflow.to_str().unwrap()], "t").await;
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("boom\\r\\n2026"), "{run:?}");

    let audit_text = stdout(&llmnode(&data, &["audit", "--limit", "1000"], "t").await);
    let entries = audit(&data).await.as_array().unwrap().len();
    assert_eq!(audit_text.lines().count(), entries + 1, "an entry spans lines:\n{audit_text}");
    assert!(audit_text.lines().skip(1).all(|l| l.starts_with("20") && l.contains("Z  ")), "{audit_text}");
    assert!(!audit_text.contains("cli:evil"), "$USER decided who acted:\n{audit_text}");
    let usage = stdout(&llmnode(&data, &["usage"], "t").await);
    assert!(usage.contains("gpt\\x1b[2J\\x07"), "{usage}");

    // Deleted through the CLI (default) and the API (team-b), `""` included.
    for (_, name) in legacy.iter().filter(|(w, _)| *w == "default") {
        stdout(&llmnode(&data, &["connections", "delete", name], "t").await);
    }
    let d = s.serve().await;
    let (status, routes) = d.call("GET", "/api/v1/routes", &s.member, None).await;
    assert_eq!(routes["routes"][0]["name"], "r\x1b[2J\r\nforged", "{status} {routes}");
    let (status, _) =
        d.call("DELETE", &format!("/api/v1/routes/{}", segment("r\x1b[2J\r\nforged")), &s.admin, None).await;
    assert_eq!(status, 204);
    for (_, name) in legacy.iter().filter(|(w, _)| *w == "team-b") {
        let path = match name.is_empty() {
            true => "/api/v1/connections?name=".to_string(),
            false => format!("/api/v1/connections/{}", segment(name)),
        };
        let (status, answer) = d.call("DELETE", &path, &s.other_admin, None).await;
        assert_eq!(status, 204, "{path}: {answer}");
    }
    let (status, answer) = d.call("DELETE", "/api/v1/connections", &s.other_admin, None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{answer}");
    for (token, expected) in [(&s.admin, &["hostile", "limited", "openai"][..]), (&s.other_admin, &["elsewhere"])] {
        let (_, list) = d.call("GET", "/api/v1/connections", token, None).await;
        let names: Vec<&str> =
            list["connections"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(names, expected);
    }

    // The daemon's debug log, after a chat through the hostile upstream.
    let chat = json!({ "model": "hostile/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    let (status, answer) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat)).await;
    assert!(status >= 400, "{answer}");
    let log = d.log_text();
    assert!(log.contains("boom\\r\\n2026-01-01T00:00:00Z"), "the upstream's message is not logged:\n{log}");
    assert_inert("the daemon's log", &log);
    d.assert_log_clean();
}
