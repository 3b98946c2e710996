//! Several daemons, one PostgreSQL store: three real `llmnode serve`
//! processes, each with its own data directory (as on three machines),
//! sharing a private PostgreSQL server and the master key (given in the
//! environment). Limits hold across the fleet, a change through one daemon
//! reaches the others within a second, a killed daemon's reservation is
//! released, alerts fire once, daemons starting together migrate once, and
//! the prompt monitor's volume baselines are the fleet's.

use crate::limits::{billing_upstream, spent_usd};
use crate::support::daemon::{Daemon, KEY, METRICS_TOKEN};
use crate::support::redis_server::RedisServer;
use crate::support::{self, Upstream, leak, postgres};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Three data directories, one store URL, one master key.
struct Fleet {
    dir: tempfile::TempDir,
    url: String,
    master_key: String,
    admin: String,
}

impl Fleet {
    /// A fresh database, initialised once through the CLI of the first machine.
    async fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let url = postgres::shared().database();
        let master_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let mut f = Fleet { dir, url, master_key, admin: String::new() };
        f.cli(0, &["init"]).await;
        f.cli(0, &["users", "add", "alice"]).await;
        f.admin = f.cli(0, &["tokens", "create", "--user", "alice", "--role", "admin"]).await.trim().to_string();
        f
    }

    fn data(&self, machine: usize) -> PathBuf {
        self.dir.path().join(format!("machine-{machine}"))
    }

    fn env(&self) -> [(&str, &str); 2] {
        [("LLMNODE_STORE_URL", self.url.as_str()), ("LLMNODE_MASTER_KEY", self.master_key.as_str())]
    }

    /// Run the CLI on `machine`; panics on failure; returns stdout.
    async fn cli(&self, machine: usize, args: &[&str]) -> String {
        let mut cmd = support::llmnode_command(&self.data(machine));
        cmd.args(args).envs(self.env()).env("K", KEY).env("LLMNODE_LOG", "warn");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "llmnode {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        leak::assert_clean("CLI output", &stdout);
        stdout
    }

    /// Add an OpenAI connection to `upstream` with `extra` flags.
    async fn add(&self, name: &str, base_url: &str, extra: &[&str]) {
        let add = ["connections", "add", name, "--provider", "openai", "--api-key-env", "K", "--base-url", base_url];
        self.cli(0, &[&add[..], &["--default-model", "gpt-4o-mini", "--max-retries", "0"], extra].concat()).await;
    }

    /// Start the daemon of `machine`.
    async fn serve(&self, machine: usize) -> Daemon {
        self.serve_with(machine, &[]).await
    }

    /// Start the daemon of `machine` with more `llmnode serve` flags.
    async fn serve_with(&self, machine: usize, flags: &[&str]) -> Daemon {
        let log = self.dir.path().join(format!("daemon-{machine}.log"));
        Daemon::start_with_env(&self.data(machine), &log, flags, &self.env()).await
    }

    /// Start `n` daemons at once.
    async fn serve_all(&self, n: usize) -> Vec<Daemon> {
        futures_util::future::join_all((0..n).map(|m| self.serve(m))).await
    }
}

fn chat(model: &str) -> Value {
    json!({ "model": model, "max_tokens": 50, "messages": [{ "role": "user", "content": "hi" }] })
}

/// Every daemon log clean of keys and of the store's URL password-free form
/// aside, and no stray error.
fn assert_logs_clean(daemons: &[Daemon]) {
    for d in daemons {
        d.assert_log_clean();
        leak::assert_clean("a fleet daemon's log", &d.log_text());
    }
    let _ = METRICS_TOKEN;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_admit_exactly_one_rpm_and_never_pass_one_budget() {
    let f = Fleet::new().await;
    let upstream = billing_upstream().await;
    f.add("capped", &upstream.url("/rpm/v1"), &["--rpm", "7"]).await;
    // gpt-4o-mini: $0.15 in, $0.60 out per million; a call with max_tokens
    // 1000 may cost about $0.0006, so the budget fits about ten.
    let budget = 0.0062;
    f.add("budgeted", &upstream.url("/budget/v1"), &["--daily-budget-usd", &budget.to_string()]).await;
    let daemons = f.serve_all(3).await;

    // Round-robin bursts, each call of a burst at once: exactly seven in all
    // reach the upstream.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let calls = (0..6)
            .map(|i| daemons[i % 3].call("POST", "/v1/chat/completions", &f.admin, Some(chat("capped/gpt-4o-mini"))));
        for (status, body) in futures_util::future::join_all(calls).await {
            assert!(status == 200 || status == 429, "{status} {body}");
            statuses.push(status);
        }
    }
    let rpm_seen = upstream.seen().iter().filter(|s| s.uri.starts_with("/rpm/")).count();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 7, "{statuses:?}");
    assert_eq!(rpm_seen, 7, "rpm 7 across three daemons reached the upstream {rpm_seen} times");

    // 64 calls at once, spread over the three daemons.
    let body = || json!({ "model": "budgeted/gpt-4o-mini", "max_tokens": 1000, "messages": [{ "role": "user", "content": "h" }] });
    let calls = (0..64).map(|i| daemons[i % 3].call("POST", "/v1/chat/completions", &f.admin, Some(body())));
    let statuses: Vec<u16> = futures_util::future::join_all(calls).await.into_iter().map(|(s, _)| s).collect();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let spent = spent_usd(&upstream, "/budget/");
    assert!(ok >= 5, "only {ok} calls admitted");
    assert!(spent <= budget, "{ok} calls over three daemons spent ${spent:.6} of a ${budget} budget");
    assert_logs_clean(&daemons);
}

/// Poll `probe` until it is true; how long that took (panics past `limit`).
async fn within(limit: Duration, what: &str, mut probe: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if probe().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_daemon_reaches_the_others_within_a_second() {
    let f = Fleet::new().await;
    let upstream = Upstream::start(|_| {
        support::Reply::json(200, support::fixture_json("openai/spec-examples/default.response.json").to_string())
    })
    .await;
    f.add("main", &upstream.url("/v1"), &[]).await;
    f.cli(0, &["users", "add", "bob"]).await;
    let bob = f.cli(0, &["tokens", "create", "--user", "bob", "--role", "member"]).await.trim().to_string();
    let daemons = f.serve_all(3).await;
    for d in &daemons {
        let (status, body) = d.call("POST", "/v1/chat/completions", &bob, Some(chat("main/gpt-4o-mini"))).await;
        assert_eq!(status, 200, "{body}");
    }

    // Disabled through daemon 0's API: daemons 1 and 2 refuse it within a second.
    let (status, body) = daemons[0].call("POST", "/api/v1/connections/main/disable", &f.admin, None).await;
    assert!(status < 300, "{status} {body}");
    for d in &daemons[1..] {
        let took = within(Duration::from_secs(3), "the disable to reach another daemon", async || {
            d.call("POST", "/v1/chat/completions", &bob, Some(chat("main/gpt-4o-mini"))).await.0 != 200
        })
        .await;
        assert!(took < Duration::from_secs(1), "a disabled connection served for {took:?} on another daemon");
    }
    let (status, _) = daemons[0].call("POST", "/api/v1/connections/main/enable", &f.admin, None).await;
    assert!(status < 300);

    // Revoked through daemon 0's API (tokens are an admin's business): every
    // daemon refuses bob within a second.
    let (status, body) = daemons[0].call("GET", "/api/v1/tokens", &bob, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = daemons[0].call("GET", "/api/v1/tokens", &f.admin, None).await;
    assert_eq!(status, 200, "{body}");
    let id = body["tokens"].as_array().unwrap().iter().find(|t| t["user"] == "bob").expect("bob's token")["id"].clone();
    let (status, body) = daemons[0].call("DELETE", &format!("/api/v1/tokens/{id}"), &f.admin, None).await;
    assert_eq!(status, 200, "{body}");
    let refused = |token: String| {
        let daemons = &daemons;
        async move {
            for d in daemons {
                let took = within(Duration::from_secs(3), "the revocation to reach a daemon", async || {
                    d.call("GET", "/api/v1/me", &token, None).await.0 == 401
                })
                .await;
                assert!(took < Duration::from_secs(1), "a revoked token worked for {took:?}");
            }
        }
    };
    refused(bob).await;

    // Created through daemon 1's API, revoked through the CLI of another machine.
    let (status, body) =
        daemons[1].call("POST", "/api/v1/tokens", &f.admin, Some(json!({ "user": "bob", "role": "member" }))).await;
    assert_eq!(status, 201, "{body}");
    let again = body["token"].as_str().unwrap().to_string();
    for d in &daemons {
        assert_eq!(d.call("GET", "/api/v1/me", &again, None).await.0, 200);
    }
    f.cli(2, &["tokens", "revoke", &body["id"].to_string()]).await;
    refused(again).await;
    assert_logs_clean(&daemons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_starting_together_migrate_once_and_a_condition_alerts_once() {
    // A fresh database: the three daemons find no schema and race to create it.
    let dir = tempfile::tempdir().unwrap();
    let url = postgres::shared().database();
    let master_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let f = Fleet { dir, url, master_key, admin: String::new() };
    let daemons = f.serve_all(3).await;
    let upgraded: usize = daemons.iter().map(|d| d.log_text().matches("store schema upgraded").count()).sum();
    assert_eq!(upgraded, 1, "the schema was created {upgraded} times");
    drop(daemons);

    // One spend condition, seen by three daemons' alert watches: one alert.
    let mut f = f;
    f.cli(0, &["init"]).await;
    f.cli(0, &["users", "add", "alice"]).await;
    f.admin = f.cli(0, &["tokens", "create", "--user", "alice", "--role", "admin"]).await.trim().to_string();
    let upstream = billing_upstream().await;
    f.add("spender", &upstream.url("/v1"), &[]).await;
    f.cli(0, &["alerts", "set", "--daily-spend-usd", "0.000001"]).await;
    let daemons = f.serve_all(3).await;
    for round in 0..3 {
        for d in &daemons {
            let (status, body) =
                d.call("POST", "/v1/chat/completions", &f.admin, Some(chat("spender/gpt-4o-mini"))).await;
            assert_eq!(status, 200, "round {round}: {body}");
        }
    }
    let listed = within(Duration::from_secs(5), "the alert to fire", async || {
        let (_, body) = daemons[2].call("GET", "/api/v1/alerts", &f.admin, None).await;
        body["alerts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_000).saturating_sub(listed)).await;
    let (_, body) = daemons[1].call("GET", "/api/v1/alerts", &f.admin, None).await;
    let spend: Vec<&Value> = body["alerts"].as_array().unwrap().iter().filter(|a| a["kind"] == "daily_spend").collect();
    assert_eq!(spend.len(), 1, "{body}");
    assert_logs_clean(&daemons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_stream_loses_no_acknowledged_usage_and_its_hold_expires() {
    let f = Fleet::new().await;
    // Streams a word every 100 ms: the daemon is killed while one is read.
    let upstream = llmnode::demo::SimulatedUpstream::start(KEY, Duration::from_millis(100)).await.unwrap();
    // A budget that fits one worst-case reservation (max_tokens 20000 at
    // $0.60 per million out is $0.012) and little more.
    f.add("held", &upstream.base_url(), &["--daily-budget-usd", "0.015"]).await;
    let mut daemons = f.serve_all(2).await;
    let small =
        || json!({ "model": "held/gpt-4o-mini", "max_tokens": 10, "messages": [{ "role": "user", "content": "a" }] });
    for _ in 0..3 {
        let (status, body) = daemons[0].call("POST", "/v1/chat/completions", &f.admin, Some(small())).await;
        assert_eq!(status, 200, "{body}");
    }

    // Daemon 0 holds the worst case of a stream it never finishes.
    let big = |stream: bool| {
        json!({ "model": "held/gpt-4o-mini", "max_tokens": 20000, "stream": stream,
            "messages": [{ "role": "user", "content": "tell me a long story about many things" }] })
    };
    let url = format!("{}/v1/chat/completions", daemons[0].base);
    let mut stream = daemons[0]
        .http
        .post(url)
        .bearer_auth(&f.admin)
        .header("content-type", "application/json")
        .body(big(true).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().expect("the stream starts");
    assert!(!first.is_empty());
    // Meanwhile the other daemon cannot reserve the same worst case again.
    let (status, body) = daemons[1].call("POST", "/v1/chat/completions", &f.admin, Some(big(false))).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.to_string().contains("budget"), "{body}");
    let killed = daemons.remove(0);
    assert!(
        std::process::Command::new("kill").args(["-KILL", &killed.child.id().to_string()]).status().unwrap().success()
    );
    drop(stream);
    drop(killed);

    // The three acknowledged calls are in the store, with their cost.
    let store = llmnode::store::Store::open(llmnode::store::Location::Postgres(f.url.clone())).unwrap();
    let ws = llmnode::store::workspaces::get(store.db(), "default").unwrap();
    let scope = llmnode::store::usage_rows::Scope { workspace_id: ws.id, since_ms: 0, connection: Some("held") };
    let totals = llmnode::store::usage_rows::totals(store.db(), scope).unwrap();
    assert!(totals.requests >= 3 && totals.cost_nusd > 0, "{totals:?}");

    // The dead daemon's hold is released: the worst case fits again.
    let took = within(Duration::from_secs(30), "the dead daemon's hold to expire", async || {
        daemons[0].call("POST", "/v1/chat/completions", &f.admin, Some(big(false))).await.0 == 200
    })
    .await;
    assert!(took <= Duration::from_secs(25), "the hold of a killed daemon lasted {took:?}");
    assert_logs_clean(&daemons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_refuses_what_needs_the_store_and_recovers_by_itself() {
    // A cluster of this test's own, to stop and start again.
    let server = postgres::PgServer::start();
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let master_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let mut f = Fleet { dir, url, master_key, admin: String::new() };
    f.cli(0, &["init"]).await;
    f.cli(0, &["users", "add", "alice"]).await;
    f.admin = f.cli(0, &["tokens", "create", "--user", "alice", "--role", "admin"]).await.trim().to_string();
    let upstream = billing_upstream().await;
    // `--rpm 0`: no limit at all, not even the plugin's declared default.
    f.add("free", &upstream.url("/free/v1"), &["--rpm", "0", "--tpm", "0"]).await;
    f.add("capped", &upstream.url("/capped/v1"), &["--rpm", "100"]).await;
    let d = f.serve(0).await;
    for model in ["free/gpt-4o-mini", "capped/gpt-4o-mini"] {
        let (status, body) = d.call("POST", "/v1/chat/completions", &f.admin, Some(chat(model))).await;
        assert_eq!(status, 200, "{body}");
    }
    let before = upstream.seen().len();

    server.stop();
    let (status, _) = d.call("GET", "/healthz", "", None).await;
    assert_eq!(status, 200, "the daemon stays up without its store");
    // A limited call is never admitted unlimited.
    let (status, body) = d.call("POST", "/v1/chat/completions", &f.admin, Some(chat("capped/gpt-4o-mini"))).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.to_string().contains("the shared limits could not be read"), "{body}");
    assert!(!upstream.seen().iter().skip(before).any(|s| s.uri.starts_with("/capped/")), "admitted without its limits");
    // An unlimited call is served, and its usage is spooled on the daemon's
    // disk (synced before the answer) until the store takes it.
    let (status, body) = d.call("POST", "/v1/chat/completions", &f.admin, Some(chat("free/gpt-4o-mini"))).await;
    assert_eq!(status, 200, "{body}");
    let spool = f.data(0).join("usage-spool.jsonl");
    assert!(spool.exists(), "the outage's usage is not spooled");
    leak::assert_clean("the usage spool", &std::fs::read_to_string(&spool).unwrap());
    let (status, body) = d.call("POST", "/api/v1/connections/free/disable", &f.admin, None).await;
    assert!(status >= 500, "{status} {body}");

    // Back: everything works again without a restart.
    server.resume();
    let took = within(Duration::from_secs(20), "the daemon to use its store again", async || {
        d.call("POST", "/v1/chat/completions", &f.admin, Some(chat("capped/gpt-4o-mini"))).await.0 == 200
    })
    .await;
    let (status, body) = d.call("POST", "/v1/chat/completions", &f.admin, Some(chat("free/gpt-4o-mini"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = d.call("POST", "/api/v1/connections/free/disable", &f.admin, None).await;
    assert!(status < 300, "{status} {body}");
    assert!(took < Duration::from_secs(15), "recovery took {took:?}");
    // The spooled call is in the store now, once.
    assert!(!spool.exists(), "the spool was not replayed");
    let store = llmnode::store::Store::open(llmnode::store::Location::Postgres(f.url.clone())).unwrap();
    let ws = llmnode::store::workspaces::get(store.db(), "default").unwrap();
    let scope = llmnode::store::usage_rows::Scope { workspace_id: ws.id, since_ms: 0, connection: Some("free") };
    assert_eq!(llmnode::store::usage_rows::totals(store.db(), scope).unwrap().requests, 3);
    let log = d.log_text();
    assert!(!log.contains(&f.master_key), "the master key is in the log");
    d.assert_log_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_on_postgres_and_redis_hold_exact_limits_and_fall_back_at_their_share() {
    let f = Fleet::new().await;
    let mut redis = RedisServer::start();
    let upstream = billing_upstream().await;
    f.add("capped", &upstream.url("/rpm/v1"), &["--rpm", "7"]).await;
    let budget = 0.0062;
    f.add("budgeted", &upstream.url("/budget/v1"), &["--daily-budget-usd", &budget.to_string()]).await;
    f.add("paced", &upstream.url("/paced/v1"), &["--rpm", "9"]).await;
    f.add("roomy", &upstream.url("/roomy/v1"), &["--daily-budget-usd", "100"]).await;
    let url = redis.url();
    let flags = ["--limits", url.as_str()];
    let daemons = futures_util::future::join_all((0..3).map(|m| f.serve_with(m, &flags))).await;
    let call = |m: usize, body: Value| daemons[m].call("POST", "/v1/chat/completions", &f.admin, Some(body));

    // Bursts round-robin over the three: exactly seven reach the upstream.
    let calls = (0..18).map(|i| call(i % 3, chat("capped/gpt-4o-mini")));
    let statuses: Vec<u16> = futures_util::future::join_all(calls).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 7, "{statuses:?}");
    assert_eq!(upstream.seen().iter().filter(|s| s.uri.starts_with("/rpm/")).count(), 7);
    // 64 at once never pass the budget.
    let body = || json!({ "model": "budgeted/gpt-4o-mini", "max_tokens": 1000, "messages": [{ "role": "user", "content": "h" }] });
    let calls = (0..64).map(|i| call(i % 3, body()));
    let ok = futures_util::future::join_all(calls).await.into_iter().filter(|(s, _)| *s == 200).count();
    let spent = spent_usd(&upstream, "/budget/");
    assert!(ok >= 5 && spent <= budget, "{ok} calls spent ${spent:.6} of ${budget}");

    // Redis gone: budgets refuse on every daemon; RPM goes on at each
    // daemon's share, floor(9 / 3) = 3, so the fleet stays under 9.
    tokio::time::sleep(Duration::from_secs(2)).await; // every daemon has beaten
    redis.kill();
    let roomy =
        || json!({ "model": "roomy/gpt-4o-mini", "max_tokens": 10, "messages": [{ "role": "user", "content": "h" }] });
    for m in 0..3 {
        let (status, body) = call(m, roomy()).await;
        assert_eq!(status, 429, "{body}");
        assert!(body.to_string().contains("budget store (Redis) is unreachable"), "{body}");
    }
    for m in 0..3 {
        let served = futures_util::future::join_all((0..5).map(|_| call(m, chat("paced/gpt-4o-mini"))))
            .await
            .into_iter()
            .filter(|(s, _)| *s == 200)
            .count();
        assert_eq!(served, 3, "daemon {m} admitted {served} of rpm 9 on its own");
    }
    assert_eq!(upstream.seen().iter().filter(|s| s.uri.starts_with("/paced/")).count(), 9);

    // Back: budgets admit again everywhere, without a restart.
    redis.restart();
    for m in 0..3 {
        within(Duration::from_secs(15), "a daemon to use Redis again", async || call(m, roomy()).await.0 == 200).await;
    }
    assert_logs_clean(&daemons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_share_one_prompt_volume_baseline() {
    let f = Fleet::new().await;
    let upstream = billing_upstream().await;
    f.add("oa", &upstream.url("/v1"), &[]).await;
    f.cli(0, &["workspaces", "set", "--volume", "block"]).await;
    let daemons = [f.serve(0).await, f.serve(1).await];
    // 800 KB in all is under the 1 MiB an hour must pass before it can be an anomaly.
    let prompt = |word: &str| {
        json!({ "model": "oa/gpt-4o-mini", "max_tokens": 5,
            "messages": [{ "role": "user", "content": word.repeat(400_000 / word.len()) }] })
    };
    for word in ["a", "b"] {
        let (status, body) = daemons[0].call("POST", "/v1/chat/completions", &f.admin, Some(prompt(word))).await;
        assert_eq!(status, 200, "{body}");
    }
    // Once both have synced, the second daemon counts the first's 800 KB too:
    // its own 400 KB makes the workflow's hour 1.2 MB over a baseline of nothing.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (status, body) = daemons[1].call("POST", "/v1/chat/completions", &f.admin, Some(prompt("c"))).await;
    assert_eq!(status, 400, "the second daemon did not see the first's volume: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("prompt volume far above its baseline"), "{body}");
    assert_eq!(upstream.seen().len(), 2, "the blocked prompt was sent");
    assert_logs_clean(&daemons);
}
