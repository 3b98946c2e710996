//! `--limits redis://…`: daemons and CLI runs on one Redis share one exact
//! window against an upstream that counts what reaches it; with Redis gone a
//! budget refuses, RPM goes on at the daemon's share and `/metrics` counts
//! it; it recovers on its own; a password in the address never shows.

use crate::limits::{add, billing_upstream, chat};
use crate::support::daemon::{METRICS_TOKEN, Setup};
use crate::support::redis_server::RedisServer;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_and_cli_runs_on_redis_share_one_exact_rpm() {
    let s = Setup::new(Duration::ZERO).await;
    let redis = RedisServer::start();
    let upstream = billing_upstream().await;
    add(&s, "shared", &upstream.url("/v1"), &["--rpm", "4"]).await;
    let url = redis.url();
    let (a, b) = (s.serve_with(&["--limits", &url]).await, s.serve_with(&["--limits", &url]).await);
    let wf = s.dir.path().join("one.json");
    let node = serde_json::json!({ "name": "one", "nodes": [{ "id": "n", "node_type": "llm", "config": {
        "primary_connection": "shared", "messages": [{ "role": "user", "content": "x" }] } }] });
    std::fs::write(&wf, node.to_string()).unwrap();
    let wf = wf.to_str().unwrap();
    let args = ["run", wf, "--json", "--limits", &url];
    let runs = (0..2).map(|_| s.cli_output(&args));
    let calls = (0..8).map(|i| {
        let d = if i % 2 == 0 { &a } else { &b };
        d.call("POST", "/v1/chat/completions", &s.admin, Some(chat("shared/gpt-4o-mini")))
    });
    let (runs, calls) = tokio::join!(futures_util::future::join_all(runs), futures_util::future::join_all(calls));
    let served = runs.iter().filter(|o| o.status.success()).count() + calls.iter().filter(|(st, _)| *st == 200).count();
    assert_eq!(served, 4, "rpm 4 served {served} calls across two daemons and two runs");
    assert_eq!(upstream.seen().len(), 4, "the upstream saw more than the limit");
    let refused = calls.iter().find(|(st, _)| *st == 429).expect("a refusal");
    assert!(refused.1.to_string().contains("4 requests per minute"), "{}", refused.1);
    // The window lives in Redis (keys name the connection, nothing more).
    let keys = redis.cli(&["--scan", "--pattern", "llmnode:v1:*"]);
    assert!(keys.contains(":shared}:rpm"), "{keys}");
    a.assert_log_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_budgets_refuse_rpm_runs_at_its_share_and_it_recovers_and_the_password_never_shows() {
    let password = "fake-redis-key-for-tests-41c7e09b";
    let s = Setup::new(Duration::ZERO).await;
    let mut redis = RedisServer::start_with(Some(password));
    let upstream = billing_upstream().await;
    add(&s, "paced", &upstream.url("/v1"), &["--rpm", "10"]).await;
    add(&s, "budgeted", &upstream.url("/v1"), &["--daily-budget-usd", "5"]).await;
    let d = s.serve_with(&["--limits", &redis.url()]).await;
    let call = |model: &'static str| d.call("POST", "/v1/chat/completions", &s.admin, Some(chat(model)));
    assert_eq!(call("budgeted/gpt-4o-mini").await.0, 200);

    redis.kill();
    let started = Instant::now();
    let (status, body) = call("budgeted/gpt-4o-mini").await;
    assert_eq!(status, 429, "{body}");
    assert!(body.to_string().contains("budget store (Redis) is unreachable"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(2), "a dead Redis stalled a call: {:?}", started.elapsed());
    // One live daemon: its share is the whole limit.
    let statuses: Vec<u16> = futures_util::future::join_all((0..12).map(|_| call("paced/gpt-4o-mini")))
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    let (_, metrics) = d.get_text("/metrics", METRICS_TOKEN).await;
    assert!(metrics.contains("llmnode_limits_fallback_admissions 10"), "{metrics}");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while call("budgeted/gpt-4o-mini").await.0 != 200 {
        assert!(Instant::now() < deadline, "the daemon did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the fallback admitted counts in the shared window after recovery.
    assert_eq!(call("paced/gpt-4o-mini").await.0, 429);
    let log = d.log_text();
    assert_eq!(log.matches("Redis is unreachable").count(), 1, "the outage is logged once:\n{log}");
    assert_eq!(log.matches("Redis is reachable again").count(), 1, "its end once:\n{log}");
    assert!(log.contains("redis://***@127.0.0.1:"), "the address shows scrubbed:\n{log}");
    d.assert_log_clean();

    drop(d);

    // A wrong password: the daemon starts, its budgets refuse, and neither
    // password shows in its log.
    let wrong = format!("redis://:fake-wrong-key-for-tests-0d1e@127.0.0.1:{}", redis.port);
    let w = s.serve_with(&["--limits", &wrong]).await;
    let (status, body) = w.call("POST", "/v1/chat/completions", &s.admin, Some(chat("budgeted/gpt-4o-mini"))).await;
    assert_eq!(status, 429, "{body}");
    assert!(w.log_text().contains("Redis is unreachable"), "{}", w.log_text());
    w.assert_log_clean();
}
