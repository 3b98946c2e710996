//! The operator's surface as a new operator meets it, through the real binary:
//! defaults and where they come from, prices, refusals that say what to do,
//! help for every flag, tables and pipes, and the seed's own snippets.

use crate::settings::anthropic_answer;
use crate::support::daemon::Setup;
use crate::support::{self, Reply, Upstream, leak};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

const KEY: &str = "fake-surface-key-for-tests-4d5e6f708192a3b4";

/// A data directory after `llmnode init`, and the binary run in it.
struct Cli {
    dir: tempfile::TempDir,
    plugins: Option<PathBuf>,
}

impl Cli {
    async fn new() -> Cli {
        let cli = Cli { dir: tempfile::tempdir().unwrap(), plugins: None };
        cli.ok(&["init"]).await;
        cli
    }

    /// With the third-party-style plugin that declares its defaults.
    async fn with_declared_plugin() -> Cli {
        let mut cli = Cli::new().await;
        let dir = cli.dir.path().join("extra-plugins");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(support::wasm("test_plugin_declared"), dir.join("declared.wasm")).unwrap();
        cli.plugins = Some(dir);
        cli
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = support::llmnode_command(&self.data());
        cmd.args(args).env("K", KEY).env("LLMNODE_LOG", "warn");
        if let Some(p) = &self.plugins {
            cmd.env("LLMNODE_PLUGINS_DIR", p);
        }
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        leak::assert_clean("stdout", &String::from_utf8_lossy(&out.stdout));
        leak::assert_clean("stderr", &String::from_utf8_lossy(&out.stderr));
        out
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "llmnode {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// `connections add NAME --provider PROVIDER --api-key-env K` and `flags`.
    async fn add(&self, name: &str, provider: &str, flags: &[&str]) -> String {
        let add = ["connections", "add", name, "--provider", provider, "--api-key-env", "K"];
        self.ok(&[&add[..], flags].concat()).await
    }

    /// A refused command: exit 2 and its error line.
    async fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "llmnode {args:?}: {stderr}");
        stderr
    }

    /// A workflow file holding `text`.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn defaults_come_from_the_plugin_or_the_host_and_show_says_which() {
    let cli = Cli::with_declared_plugin().await;
    let upstream =
        Upstream::start(|_| Reply::json(200, support::fixture("openai/spec-examples/default.response.json"))).await;
    let url = upstream.url("/v1");
    cli.add("oa", "openai", &["--base-url", &url]).await;
    cli.ok(&["connections", "edit", "oa", "--tpm", "5000", "--timeout-secs", "12"]).await;

    let shown = cli.ok(&["connections", "show", "oa"]).await;
    let line = |setting: &str| shown.lines().find(|l| l.starts_with(&format!("{setting} "))).unwrap_or("").to_string();
    let words = |setting: &str| line(setting).split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(words("rpm")[1..], ["10000", "plugin", "default"], "{shown}");
    assert_eq!(words("tpm")[1..], ["5000", "set"], "{shown}");
    assert_eq!(words("timeout_secs")[1..], ["12.0", "set"], "{shown}");
    assert_eq!(words("stream_idle_timeout_secs")[1..], ["30", "built-in", "default"], "{shown}");
    assert_eq!(words("max_retries")[1..], ["2", "built-in", "default"], "{shown}");
    assert!(line("base_url").contains(&url) && line("base_url").ends_with("set"), "{shown}");
    let json: Value = serde_json::from_str(&cli.ok(&["connections", "show", "oa", "--json"]).await).unwrap();
    assert_eq!(json["effective"]["rpm"], json!({ "value": 10000, "source": "plugin_default" }));
    assert_eq!(json["effective"]["timeout_secs"], json!({ "value": 12.0, "source": "set" }));
    cli.ok(&["connections", "edit", "oa", "--timeout-secs", "60"]).await;
    let json: Value = serde_json::from_str(&cli.ok(&["connections", "show", "oa", "--json"]).await).unwrap();
    assert_eq!(json["effective"]["timeout_secs"]["source"], "set");

    // A third party's plugin declares its provider's limit (2 a minute) and
    // takes no key: the connection needs neither, and the limit holds.
    cli.ok(&[
        "connections",
        "add",
        "third",
        "--provider",
        "declared",
        "--base-url",
        &url,
        "--default-model",
        "declared-1",
    ])
    .await;
    let shown = cli.ok(&["connections", "show", "third"]).await;
    assert!(
        shown.lines().any(|l| l.starts_with("rpm ") && l.contains(" 2 ") && l.ends_with("plugin default")),
        "{shown}"
    );
    let wf = cli.file("third.json", &support::one_node("third", &[], json!({})));
    for _ in 0..2 {
        cli.ok(&["run", &wf]).await;
    }
    let third = cli.run(&["run", &wf]).await;
    assert_eq!(third.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&third.stderr).contains("at its limit of 2 requests per minute"), "{third:?}");
    assert_eq!(upstream.seen().iter().filter(|s| s.headers.get("authorization").is_none()).count(), 2);
    // An operator's 0 turns the plugin's limit off.
    cli.ok(&["connections", "edit", "third", "--rpm", "0"]).await;
    cli.ok(&["run", &wf]).await;
    assert!(cli.ok(&["connections", "show", "third"]).await.contains("no limit"));
}

#[tokio::test]
async fn a_one_hour_cache_write_costs_the_hour_rate() {
    let cli = Cli::new().await;
    let upstream = Upstream::start(|_| Reply::json(200, anthropic_answer(1_000_000))).await;
    let url = upstream.url("");
    for (name, ttl) in [("five-minutes", "300"), ("one-hour", "3600")] {
        let caching = ["--prompt-caching", "true", "--cache-ttl-secs", ttl];
        cli.add(
            name,
            "anthropic",
            &[&["--base-url", &url, "--default-model", "claude-sonnet-4-5"][..], &caching].concat(),
        )
        .await;
        let wf = cli.file(&format!("{name}.json"), &support::one_node(name, &[], json!({})));
        cli.ok(&["run", &wf]).await;
    }
    let usage: Value = serde_json::from_str(&cli.ok(&["usage", "connections", "--json"]).await).unwrap();
    let cost = |name: &str| {
        usage.as_array().unwrap().iter().find(|l| l["name"] == name).unwrap()["cost_usd"].as_f64().unwrap()
    };
    // Sonnet: $3 input, $15 output; cache writes $3.75 (5 minutes) or $6 (1 hour) per million.
    let expected = |write: f64| (10.0 * 3.0 + 1_000_000.0 * write + 5.0 * 15.0) / 1e6;
    assert!((cost("five-minutes") - expected(3.75)).abs() < 1e-9, "{usage:#}");
    assert!((cost("one-hour") - expected(6.0)).abs() < 1e-9, "{usage:#}");
    let prices = cli.ok(&["prices", "list"]).await;
    let sonnet: Vec<&str> = prices
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w[..2] == ["anthropic", "claude-sonnet-4-5"])
        .unwrap();
    assert_eq!(sonnet[2..], ["3", "15", "0.3", "3.75", "6", "-"], "{prices}");
}

#[tokio::test]
async fn refusals_at_add_say_what_to_do_and_store_nothing() {
    let cli = Cli::new().await;
    let base = ["connections", "add", "c", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1"];
    let header = cli
        .refused(&[&base[..], &["--api-key-env", "K", "--header", "Authorization=Bearer sk-plain-1234"]].concat())
        .await;
    assert!(header.contains("--secret-env header:Authorization=VAR") && !header.contains("sk-plain-1234"), "{header}");
    let keyless = cli.refused(&base).await;
    assert!(
        keyless.contains("needs credentials") && keyless.contains("--api-key-env") && keyless.contains("--no-key"),
        "{keyless}"
    );
    let default =
        cli.refused(&[&base[..], &["--api-key-env", "K", "--model", "a", "--default-model", "b"]].concat()).await;
    assert!(default.contains("`b` is not one of the connection's models (`a`)"), "{default}");
    let timeout = cli.refused(&[&base[..], &["--api-key-env", "K", "--timeout-secs=-1"]].concat()).await;
    assert!(timeout.contains("`timeout_secs` (--timeout-secs)"), "{timeout}");
    assert!(cli.ok(&["connections", "list", "--json"]).await.trim() == "[]");

    cli.ok(&[&base[..], &["--api-key-env", "K"]].concat()).await;
    let edit = cli.refused(&["connections", "edit", "c", "--header", "x-api-key=abc123456"]).await;
    assert!(edit.contains("--secret-env header:x-api-key=VAR"), "{edit}");
    assert!(!cli.ok(&["connections", "show", "c", "--json"]).await.contains("abc123456"));
    // Errors name the workspace, not its row id.
    let missing = cli.refused(&["connections", "show", "nope"]).await;
    assert!(missing.contains("connection `nope` not found in workspace `default`"), "{missing}");
    let other = cli.refused(&["usage", "-w", "nope"]).await;
    assert!(other.contains("workspace `nope` not found (workspaces: `default`)"), "{other}");
}

#[tokio::test]
async fn output_into_a_closed_pipe_ends_quietly() {
    let cli = Cli::new().await;
    for i in 0..30 {
        let name = format!("connection-{i:02}");
        cli.add(&name, "openai", &[]).await;
    }
    for args in [&["connections", "list", "--json"][..], &["usage"], &["plugins", "list"], &["audit"]] {
        let mut cmd = cli.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            // The reader goes away before reading a byte, as `| head -0` would.
            drop(child.stdout.take());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(101), "llmnode {args:?} panicked: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "llmnode {args:?}: {stderr}");
    }
}

/// Every `--flag` in every command's help, with the line that describes it.
fn flags_without_help(bin: &Path, path: &mut Vec<String>, missing: &mut Vec<String>) {
    let out = std::process::Command::new(bin).args(path.iter()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut section = "";
    let lines: Vec<&str> = help.lines().collect();
    let mut commands = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line;
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if section == "Commands:" && indent == 2 {
            let name = trimmed.split_whitespace().next().unwrap();
            if name != "help" {
                commands.push(name.to_string());
            }
        }
        if section == "Options:" && trimmed.starts_with('-') && indent <= 6 {
            let inline = trimmed.split_once("  ").map(|(_, d)| d.trim()).unwrap_or("");
            let next = lines.get(i + 1).map(|l| l.trim()).filter(|l| !l.starts_with('-')).unwrap_or("");
            let said = if inline.is_empty() { next } else { inline };
            let without_brackets: String = said.split('[').next().unwrap_or("").trim().to_string();
            if without_brackets.is_empty() {
                missing.push(format!("llmnode {} {}", path.join(" "), trimmed));
            }
        }
    }
    for c in commands {
        path.push(c);
        flags_without_help(bin, path, missing);
        path.pop();
    }
}

#[test]
fn every_flag_has_a_line_of_help() {
    let mut missing = Vec::new();
    flags_without_help(Path::new(env!("CARGO_BIN_EXE_llmnode")), &mut Vec::new(), &mut missing);
    assert!(missing.is_empty(), "flags without help:\n{}", missing.join("\n"));
}

#[tokio::test]
async fn long_names_keep_tables_in_line() {
    let cli = Cli::new().await;
    for name in ["a", "a-connection-name-of-forty-characters-xx"] {
        cli.add(name, "openai", &["--default-model", "gpt-4o-mini"]).await;
    }
    let list = cli.ok(&["connections", "list"]).await;
    let lines: Vec<&str> = list.lines().take(3).collect();
    let column = |line: &str, word: &str| line.find(word).unwrap_or_else(|| panic!("{word} in {line:?}"));
    let provider = column(lines[0], "provider");
    assert!(lines[1..].iter().all(|l| column(l, "openai") == provider), "{list}");
    let status = column(lines[0], "status");
    assert!(lines[1..].iter().all(|l| column(l, "Active") == status), "{list}");
}

#[tokio::test]
async fn no_color_turns_the_live_table_grey() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        panic!("this test needs `script` (util-linux) to give the binary a terminal");
    }
    let cli = Cli::new().await;
    let upstream =
        Upstream::start(|_| Reply::json(200, support::fixture("openai/spec-examples/default.response.json"))).await;
    let url = upstream.url("/v1");
    cli.add("oa", "openai", &["--base-url", &url]).await;
    let two = json!({ "name": "two", "nodes": [
        { "id": "a", "node_type": "llm", "config": { "primary_connection": "oa", "model": "gpt-4o-mini",
          "messages": [{ "role": "user", "content": "hi" }] } },
        { "id": "b", "node_type": "llm", "config": { "primary_connection": "oa", "model": "gpt-4o-mini",
          "messages": [{ "role": "user", "content": "hi" }] } }
    ] });
    let wf = cli.file("two.json", &two.to_string());
    let bin = env!("CARGO_BIN_EXE_llmnode");
    let data = cli.data();
    let on_terminal = |no_color: Option<&'static str>| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &format!("{bin} run {wf}"), "/dev/null"])
            .env("LLMNODE_DATA_DIR", &data)
            .env("LLMNODE_LOG", "warn")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let coloured = on_terminal(None).await;
    assert!(coloured.contains("\x1b[32m"), "the live table did not draw: {coloured:?}");
    let plain = on_terminal(Some("1")).await;
    assert!(plain.contains("✔") && !plain.contains("\x1b[32m") && !plain.contains("\x1b[0m"), "{plain:?}");
}

#[tokio::test]
async fn the_webhook_hint_keeps_the_port() {
    let cli = Cli::new().await;
    let mut cmd = cli.command(&["alerts", "set", "--webhook-url-env", "HOOK"]);
    cmd.env("HOOK", "https://hooks.example.com:8443/services/T000/secret-path?token=abc");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let shown = cli.ok(&["alerts", "show"]).await;
    assert!(shown.contains("https://hooks.example.com:8443/…") && !shown.contains("secret-path"), "{shown}");
}

#[tokio::test]
async fn the_seeds_one_node_snippet_runs_and_fails_over() {
    let cli = Cli::new().await;
    let upstream = Upstream::start(|seen| match seen.uri.starts_with("/main/") {
        true => Reply::json(429, r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#),
        false => Reply::json(200, r#"{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"{\"ok\": true}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}"#),
    })
    .await;
    for (name, path) in [("openai-main", "/main/v1"), ("openai-backup", "/backup/v1")] {
        let url = upstream.url(path);
        cli.add(name, "openai", &["--base-url", &url, "--default-model", "gpt-4o-mini", "--max-retries", "0"]).await;
    }
    // As the seed shows a node: no workflow around it, and the short response_format.
    let snippet = json!({
        "node_type": "llm",
        "config": {
            "primary_connection": "openai-main",
            "fallback_connections": ["openai-backup"],
            "failover_on": ["rate_limit", "timeout", "server_error"],
            "messages": [{ "role": "user", "content": "Answer in JSON." }],
            "response_format": "json_object"
        }
    });
    let wf = cli.file("snippet.json", &snippet.to_string());
    let report: Value = serde_json::from_str(&cli.ok(&["run", &wf, "--json"]).await).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["nodes"][0]["connection"], "openai-backup");
    assert_eq!(report["nodes"][0]["output"]["json"], json!({ "ok": true }));
    let sent = upstream.seen().last().unwrap().json();
    assert_eq!(sent["response_format"], json!({ "type": "json_object" }));
}

#[tokio::test]
async fn an_anthropic_529_fails_over_at_once_with_the_seeds_list() {
    let cli = Cli::new().await;
    let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let upstream = Upstream::start(move |seen| match seen.uri.starts_with("/claude/") {
        true => Reply::json(529, overloaded),
        false => Reply::json(200, support::fixture("openai/spec-examples/default.response.json")),
    })
    .await;
    let claude = upstream.url("/claude");
    cli.add("claude", "anthropic", &["--base-url", &claude, "--default-model", "claude-sonnet-4-5"]).await;
    let oa = upstream.url("/oa/v1");
    cli.add("oa", "openai", &["--base-url", &oa, "--default-model", "gpt-4o-mini"]).await;
    let node = json!({ "failover_on": ["rate_limit", "timeout", "server_error"] });
    let wf = cli.file("wf.json", &support::one_node("claude", &["oa"], node));
    let started = std::time::Instant::now();
    let report: Value = serde_json::from_str(&cli.ok(&["run", &wf, "--json"]).await).unwrap();
    assert_eq!(report["nodes"][0]["connection"], "oa", "{report:#}");
    assert_eq!(report["nodes"][0]["skipped"][0]["class"], "overloaded");
    let to_claude = upstream.seen().iter().filter(|s| s.uri.starts_with("/claude/")).count();
    assert_eq!(to_claude, 1, "a 529 was retried on the same connection before failing over");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn a_connection_test_shows_the_answer_and_says_when_the_quota_is_gone() {
    let cli = Cli::new().await;
    let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}"#;
    let upstream = Upstream::start(move |seen| {
        if seen.uri.starts_with("/broke/") {
            Reply::json(429, quota)
        } else if seen.uri.contains("/models/") {
            Reply::json(200, r#"{"id":"gpt-4o-mini-2024-07-18","object":"model","owned_by":"system"}"#)
        } else {
            Reply::json(200, anthropic_answer(0))
        }
    })
    .await;
    for (name, provider, path, model) in [
        ("claude", "anthropic", "/claude", "claude-sonnet-4-5"),
        ("oa", "openai", "/oa/v1", "gpt-4o-mini"),
        ("broke", "openai", "/broke/v1", "gpt-4o-mini"),
    ] {
        cli.add(name, provider, &["--base-url", &upstream.url(path), "--default-model", model]).await;
    }

    let tested = cli.ok(&["connections", "test", "claude"]).await;
    assert!(
        tested.contains("answered by  claude-sonnet-4-5") && tested.contains("answer       \"Hello from the cache.\""),
        "{tested}"
    );
    let tested = cli.ok(&["connections", "test", "oa"]).await;
    assert!(tested.contains("answered by  gpt-4o-mini-2024-07-18"), "{tested}");
    let broke = cli.run(&["connections", "test", "broke"]).await;
    assert_eq!(broke.status.code(), Some(1));
    let said = stdout(&broke);
    assert!(said.contains("key valid    yes") && said.contains("quota exceeded"), "{said}");
    assert!(!said.contains("key valid    unknown"), "{said}");
    // Only the models a connection allows can be tested.
    cli.ok(&["connections", "edit", "oa", "--model", "gpt-4o-mini"]).await;
    let refused = cli.refused(&["connections", "test", "oa", "--model", "gpt-4o"]).await;
    assert!(refused.contains("does not allow model `gpt-4o` (its models: `gpt-4o-mini`)"), "{refused}");
}

#[tokio::test]
async fn a_disabled_connection_is_named_when_a_run_needs_it() {
    let cli = Cli::new().await;
    cli.add("off", "openai", &["--default-model", "gpt-4o-mini"]).await;
    cli.ok(&["connections", "disable", "off"]).await;
    let wf = cli.file("wf.json", &support::one_node("off", &[], json!({})));
    let out = cli.run(&["run", &wf]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connection `off` is disabled"), "{out:?}");
}

#[tokio::test]
async fn the_openai_endpoint_applies_allow_lists_streaming_and_says_disabled() {
    let s = Setup::new(Duration::ZERO).await;
    let sse = support::fixture("openai/sse/plain-text.sse");
    let up = Upstream::start(move |seen| match seen.json()["stream"] == json!(true) {
        true => Reply::sse(&sse, 64),
        false => Reply::json(200, support::fixture("openai/spec-examples/default.response.json")),
    })
    .await;
    let base = up.url("/v1");
    let add = ["connections", "add", "narrow", "--provider", "openai", "--api-key-env", "K", "--base-url", &base];
    s.cli(&[&add[..], &["--model", "gpt-4o-mini", "--default-model", "gpt-4o-mini", "--streaming", "false"]].concat())
        .await;
    s.cli(&["connections", "disable", "limited"]).await;
    let d = s.serve().await;
    let chat = |model: &str, stream: bool| json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] });

    // Only the allowed models are listed and served.
    let (_, models) = d.call("GET", "/v1/models", &s.member, None).await;
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"narrow/gpt-4o-mini") && !ids.iter().any(|i| i.starts_with("limited/")), "{ids:?}");
    let (status, answer) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat("narrow/gpt-4o", false))).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not allow model `gpt-4o` (its models: `gpt-4o-mini`)"), "{message}");
    // A route naming it asks for a model it does not allow: refused the same way.
    let route = json!({ "primary_connection": "narrow", "model": "gpt-4o" });
    let (status, _) = d.call("PUT", "/api/v1/routes/wide", &s.admin, Some(route)).await;
    assert!(status < 300);
    let (status, answer) = d.call("POST", "/v1/chat/completions", &s.member, Some(chat("wide", false))).await;
    assert_eq!(status, 400, "{answer}");

    // A disabled connection says so, by name.
    let (status, answer) =
        d.call("POST", "/v1/chat/completions", &s.member, Some(chat("limited/gpt-4o-mini", false))).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("disabled connection(s) `limited`"), "{answer}");

    // A connection that does not stream serves a streamed request in one chunk.
    let response = d
        .http
        .post(format!("{}/v1/chat/completions", d.base))
        .bearer_auth(&s.member)
        .header("content-type", "application/json")
        .body(chat("narrow/gpt-4o-mini", true).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let texts: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|l| *l != "[DONE]")
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|c| c["choices"][0]["delta"]["content"].is_string())
        .collect();
    assert_eq!(texts.len(), 1, "{body}");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    let sent = up.seen().last().unwrap().json();
    assert_ne!(sent["stream"], json!(true), "{sent}");
    d.assert_log_clean();
}
