//! A real `llmnode serve` process on a loopback port, over a data directory
//! prepared through the real CLI, with a simulated provider (OpenAI and
//! Anthropic wire formats) for its connections to reach.

use super::llmnode_command;
use llmnode::demo::SimulatedUpstream;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// The key every daemon test's connections use; it must never come back.
pub const KEY: &str = "fake-daemon-key-for-tests-7c1d9e2a";

/// The operator's `/metrics` token every test daemon runs with (a secret
/// too: the leak scans look for it).
pub const METRICS_TOKEN: &str = "fake-metrics-key-for-tests-5b8e3a91";

/// A data directory with a store, users and tokens, and two connections to a
/// simulated upstream: `openai` (healthy) and `limited` (always 429).
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub upstream: SimulatedUpstream,
    /// Admin and member of `default`, admin of `team-b`.
    pub admin: String,
    pub member: String,
    pub other_admin: String,
}

impl Setup {
    /// Prepare everything through the binary; `word_delay` paces streamed words.
    pub async fn new(word_delay: Duration) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let upstream = SimulatedUpstream::start(KEY, word_delay).await.unwrap();
        let s = Setup { dir, upstream, admin: String::new(), member: String::new(), other_admin: String::new() };
        s.cli(&["init"]).await;
        let base = s.upstream.base_url();
        let limited = s.upstream.rate_limited_base_url();
        for (name, url) in [("openai", base.as_str()), ("limited", limited.as_str())] {
            let add = ["connections", "add", name, "--provider", "openai", "--api-key-env", "K", "--base-url", url];
            s.cli(&[&add[..], &["--default-model", "gpt-4o-mini", "--max-retries", "0"]].concat()).await;
        }
        s.cli(&["workspaces", "create", "team-b"]).await;
        s.cli(&[
            "connections",
            "add",
            "elsewhere",
            "--provider",
            "openai",
            "--api-key-env",
            "K",
            "-w",
            "team-b",
            "--base-url",
            &base,
        ])
        .await;
        for user in ["alice", "bob", "carol"] {
            s.cli(&["users", "add", user]).await;
        }
        let admin = s.token("alice", "default", "admin").await;
        let member = s.token("bob", "default", "member").await;
        let other_admin = s.token("carol", "team-b", "admin").await;
        Setup { admin, member, other_admin, ..s }
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Run the CLI; panics on failure; returns stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_output(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "llmnode {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        super::leak::assert_clean("CLI output", &stdout);
        stdout
    }

    /// `llmnode usage connections`: (name, requests, errors) per connection, and the report.
    pub async fn requests_by_connection(&self) -> (Vec<(String, u64, u64)>, Value) {
        let usage: Value = serde_json::from_str(&self.cli(&["usage", "connections", "--json"]).await).unwrap();
        let by = usage
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let n = |k: &str| c[k].as_u64().unwrap();
                (c["name"].as_str().unwrap().to_string(), n("requests"), n("errors"))
            })
            .collect();
        (by, usage)
    }

    /// Run the CLI and return its whole output.
    pub async fn cli_output(&self, args: &[&str]) -> Output {
        let mut cmd = llmnode_command(&self.data());
        cmd.args(args).env("K", KEY).env("LLMNODE_LOG", "warn");
        tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
    }

    /// A new user `name` and an admin token of theirs in `default`: a
    /// second admin, for changes that need one.
    pub async fn second_admin(&self, name: &str) -> String {
        self.cli(&["users", "add", name]).await;
        self.token(name, "default", "admin").await
    }

    async fn token(&self, user: &str, workspace: &str, role: &str) -> String {
        self.cli(&["tokens", "create", "--user", user, "-w", workspace, "--role", role]).await.trim().to_string()
    }

    /// Start the daemon on a free loopback port.
    pub async fn serve(&self) -> Daemon {
        self.serve_with(&[]).await
    }

    /// Start the daemon with more `llmnode serve` flags.
    pub async fn serve_with(&self, flags: &[&str]) -> Daemon {
        Daemon::start(&self.data(), &self.dir.path().join("daemon.log"), flags).await
    }
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
    pub http: reqwest::Client,
}

impl Daemon {
    async fn start(data: &Path, log: &Path, flags: &[&str]) -> Daemon {
        Daemon::start_with_env(data, log, flags, &[]).await
    }

    /// Start a daemon over `data` with more environment (a shared store's
    /// URL, the fleet's master key).
    pub async fn start_with_env(data: &Path, log: &Path, flags: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = llmnode_command(data);
        cmd.envs(env.iter().copied());
        let log_file = std::fs::File::create(log).unwrap();
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .args(flags)
            .env("LLMNODE_METRICS_TOKEN", METRICS_TOKEN)
            .env("LLMNODE_LOG", "debug,cranelift_codegen=warn,wasmtime=warn")
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let first = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        });
        let line =
            tokio::time::timeout(Duration::from_secs(60), first).await.expect("the daemon did not start").unwrap();
        let base = line.trim().strip_prefix("llmnode listening on ").unwrap_or_else(|| {
            let said = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String =
                said.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            panic!("the daemon did not start (first line: {line:?}); the end of its log:\n{tail}")
        });
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Daemon { child, base: base.to_string(), log: log.to_path_buf(), http }
    }

    /// `METHOD path` with `token` and an optional JSON body: (status, JSON body).
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        super::leak::assert_clean(&format!("the answer to {method} {path}"), &text);
        let json =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, json)
    }

    /// `GET path` with `token`: (status, body text), leak-scanned.
    pub async fn get_text(&self, path: &str, token: &str) -> (u16, String) {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        super::leak::assert_clean(&format!("the answer to GET {path}"), &text);
        (status, text)
    }

    /// SIGTERM, then wait for the graceful shutdown to finish.
    pub async fn stop(&mut self) {
        self.terminate();
        let start = std::time::Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < Duration::from_secs(30), "the daemon did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        let ok = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fail if any test key is in the daemon's (debug-level) log.
    pub fn assert_log_clean(&self) {
        super::leak::assert_clean("the daemon's log", &self.log_text());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
