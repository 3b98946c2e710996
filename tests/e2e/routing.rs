//! Load-balanced nodes over real loopback upstreams.

use crate::support::{self, Reply, Upstream};
use serde_json::json;

const KEY: &str = "fake-routing-key-for-tests-8a7b6c5d4e3f2a1b0c9d";

fn ok_reply() -> Reply {
    Reply::json(200, support::fixture("openai/spec-examples/default.response.json"))
}

fn pool_node(policy: &str, fallbacks: &[&str]) -> String {
    json!({
        "name": "pool",
        "nodes": [{ "id": "n", "node_type": "llm", "config": {
            "connections": ["a", "b", "c"],
            "load_balancing": policy,
            "fallback_connections": fallbacks,
            "messages": [{ "role": "user", "content": "Hello!" }]
        }}],
        "output": "{{nodes.n.output.text}}"
    })
    .to_string()
}

#[tokio::test]
async fn round_robin_spreads_runs_exactly_evenly_across_real_upstreams() {
    let ups = [
        Upstream::start(|_| ok_reply()).await,
        Upstream::start(|_| ok_reply()).await,
        Upstream::start(|_| ok_reply()).await,
    ];
    let engine = support::engine(
        ["a", "b", "c"].iter().zip(&ups).map(|(n, u)| support::connection(n, "openai", &u.url("/v1"), KEY)).collect(),
    );
    let workflow = pool_node("round_robin", &[]);
    for _ in 0..30 {
        assert!(support::run(&engine, &workflow, json!({})).await.ok);
    }
    assert_eq!(ups.iter().map(|u| u.seen().len()).collect::<Vec<_>>(), [10, 10, 10]);
}

#[tokio::test]
async fn a_failing_pool_member_fails_over_within_the_pool_before_the_fallbacks() {
    let limited = support::fixture_json("openai/errors/documented-error-catalog.json")["reconstructed_bodies"]
        ["429_tpm_rate_limit_reached"]
        .to_string();
    let a = Upstream::start(move |_| Reply::json(429, limited.clone())).await;
    let b = Upstream::start(|_| ok_reply()).await;
    let c = Upstream::start(|_| ok_reply()).await;
    let spare = Upstream::start(|_| ok_reply()).await;
    let engine = support::engine(vec![
        support::connection("a", "openai", &a.url("/v1"), KEY),
        support::connection("b", "openai", &b.url("/v1"), KEY),
        support::connection("c", "openai", &c.url("/v1"), KEY),
        support::connection("spare", "openai", &spare.url("/v1"), KEY),
    ]);
    let workflow = pool_node("round_robin", &["spare"]);
    for _ in 0..6 {
        let report = support::run(&engine, &workflow, json!({})).await;
        assert!(report.ok, "{report:#?}");
        assert_ne!(report.nodes[0].connection.as_deref(), Some("a"));
    }
    // a was tried first twice (and refused), b and c served everything; the fallback was never needed.
    assert_eq!((a.seen().len(), b.seen().len() + c.seen().len(), spare.seen().len()), (2, 6, 0));
}

#[tokio::test]
async fn the_last_connection_retries_transient_errors_with_backoff_and_retry_after() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let flaky = Upstream::start(move |_| match counter.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::json(500, r#"{"error":{"message":"The server had an error","type":"server_error"}}"#),
        1 => Reply::json(
            429,
            r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        )
        .header("retry-after-ms", "300"),
        _ => ok_reply(),
    })
    .await;
    let engine = support::engine(vec![support::connection("only", "openai", &flaky.url("/v1"), KEY)]);
    let started = Instant::now();
    let report = support::run(&engine, &support::one_node("only", &[], json!({})), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "Retry-After was not honoured");
    assert_eq!(flaky.seen().len(), 3);
    let outcomes: Vec<Option<String>> = report.attempts.iter().map(|a| a.error.map(|c| c.to_string())).collect();
    assert_eq!(outcomes, [Some("server_error".into()), Some("rate_limit".into()), None]);

    // Auth errors are never retried.
    let refused =
        Upstream::start(|_| Reply::json(401, support::fixture("openai/errors/401-invalid-api-key.body.json"))).await;
    let engine = support::engine(vec![support::connection("only", "openai", &refused.url("/v1"), KEY)]);
    let report = support::run(&engine, &support::one_node("only", &[], json!({})), json!({})).await;
    assert!(!report.ok);
    assert_eq!(refused.seen().len(), 1);
}

#[tokio::test]
async fn a_dead_primary_is_rested_not_hit_on_every_request() {
    let dead = Upstream::start(|_| Reply::json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#)).await;
    let backup = Upstream::start(|_| ok_reply()).await;
    let engine = support::engine(vec![
        support::connection("primary", "openai", &dead.url("/v1"), KEY),
        support::connection("backup", "openai", &backup.url("/v1"), KEY),
    ]);
    let workflow = support::one_node("primary", &["backup"], json!({}));
    for _ in 0..10 {
        assert!(support::run(&engine, &workflow, json!({})).await.ok);
    }
    // Three failures open the breaker; the other seven runs go straight to the backup.
    assert_eq!((dead.seen().len(), backup.seen().len()), (3, 10));
    let report = support::run(&engine, &workflow, json!({})).await;
    assert!(report.nodes[0].skipped[0].reason.contains("resting"), "{:?}", report.nodes[0].skipped);

    // With every connection resting, the node still tries the one closest to reopening.
    let engine = support::engine(vec![support::connection("primary", "openai", &dead.url("/v1"), KEY)]);
    let workflow = support::one_node("primary", &[], json!({}));
    let before = dead.seen().len();
    for _ in 0..2 {
        support::run(&engine, &workflow, json!({})).await;
    }
    assert!(dead.seen().len() > before + 2, "a lone connection is never starved");
}

#[tokio::test]
async fn a_stalled_stream_fails_over_before_content_and_is_surfaced_after() {
    use std::time::Duration;
    let sse = support::fixture("openai/sse/plain-text.sse");
    let first_event_end = sse.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    // Stalls inside the first event (no content yet), then after the first content.
    let (early, late) = (sse.clone(), sse.clone());
    let stalls_early =
        Upstream::start(move |_| Reply { delay: Duration::from_millis(600), ..Reply::sse(&early, 10) }).await;
    let second_event_end = first_event_end + sse[first_event_end..].windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let stalls_late = Upstream::start(move |_| Reply {
        chunks: vec![late[..second_event_end].to_vec(), late[second_event_end..].to_vec()],
        delay: Duration::from_millis(600),
        ..Reply::sse(&late, 1 << 20)
    })
    .await;
    let backup = Upstream::start(move |_| Reply::sse(&sse, 1 << 20)).await;
    let quick = |name: &str, up: &Upstream| {
        let mut c = support::connection(name, "openai", &up.url("/v1"), KEY);
        c.stream_idle_timeout = Duration::from_millis(150);
        c
    };
    let engine = support::engine(vec![
        quick("early", &stalls_early),
        quick("late", &stalls_late),
        support::connection("backup", "openai", &backup.url("/v1"), KEY),
    ]);

    let report =
        support::run(&engine, &support::one_node("early", &["backup"], json!({ "stream": true })), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.nodes[0].connection.as_deref(), Some("backup"));
    assert!(report.nodes[0].skipped[0].reason.contains("stalled"), "{:?}", report.nodes[0].skipped);

    let report =
        support::run(&engine, &support::one_node("late", &["backup"], json!({ "stream": true })), json!({})).await;
    assert!(!report.ok);
    let error = report.nodes[0].error.as_deref().unwrap();
    assert!(error.contains("stalled") && error.contains("already started"), "{error}");
    assert_eq!(backup.seen().len(), 1, "no silent switch after content");
}

#[tokio::test]
async fn a_prompt_too_long_for_a_models_window_skips_that_connection() {
    let small = Upstream::start(|_| ok_reply()).await;
    let large = Upstream::start(|_| ok_reply()).await;
    let engine = support::engine(vec![
        support::connection("small", "openai", &small.url("/v1"), KEY),
        support::connection("large", "openai", &large.url("/v1"), KEY),
    ]);
    // gpt-4o-mini has a 128k window, gpt-4.1-mini about a million: 200k words fit only the second.
    let prompt = "word ".repeat(200_000);
    let node = json!({
        "name": "long",
        "inputs": { "text": { "type": "string" } },
        "nodes": [{ "id": "n", "node_type": "llm", "config": {
            "primary_connection": "small",
            "fallback_connections": ["large"],
            "model": { "small": "gpt-4o-mini", "large": "gpt-4.1-mini" },
            "messages": [{ "role": "user", "content": "{{inputs.text}}" }]
        }}],
        "output": "{{nodes.n.output.text}}"
    })
    .to_string();
    let report = support::run(&engine, &node, json!({ "text": prompt })).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!((small.seen().len(), large.seen().len()), (0, 1));
    assert!(report.nodes[0].skipped[0].reason.contains("context window"), "{:?}", report.nodes[0].skipped);
}

#[tokio::test]
async fn local_limits_fail_over_and_64_concurrent_calls_never_overspend() {
    use llmnode::engine::Limits;
    let limited = Upstream::start(|_| ok_reply()).await;
    let backup = Upstream::start(|_| ok_reply()).await;
    let mut rpm = support::connection("limited", "openai", &limited.url("/v1"), KEY);
    rpm.limits = Limits { rpm: Some(2), ..Default::default() };
    let engine = support::engine(vec![rpm, support::connection("backup", "openai", &backup.url("/v1"), KEY)]);
    let workflow = support::one_node("limited", &["backup"], json!({}));
    for _ in 0..5 {
        assert!(support::run(&engine, &workflow, json!({})).await.ok);
    }
    assert_eq!((limited.seen().len(), backup.seen().len()), (2, 3));
    let report = support::run(&engine, &workflow, json!({})).await;
    assert!(report.nodes[0].skipped[0].reason.contains("local limit"), "{:?}", report.nodes[0].skipped);

    // A budget of $0.0003 on gpt-4o-mini with max_tokens 100: each call reserves about $0.00006.
    let budget = 0.0003;
    let upstream = Upstream::start(|_| ok_reply()).await;
    let mut capped = support::connection("capped", "openai", &upstream.url("/v1"), KEY);
    capped.limits = Limits { daily_budget_usd: Some(budget), ..Default::default() };
    capped.retry.max_retries = 0;
    let engine = std::sync::Arc::new(support::engine(vec![capped]));
    let workflow = std::sync::Arc::new(support::one_node("capped", &[], json!({ "max_tokens": 100 })));
    let runs = (0..64).map(|_| {
        let (engine, workflow) = (engine.clone(), workflow.clone());
        tokio::spawn(async move { support::run(&engine, &workflow, json!({})).await })
    });
    let reports: Vec<_> = futures_util::future::join_all(runs).await.into_iter().map(Result::unwrap).collect();
    let spent: f64 = reports.iter().map(|r| r.cost_usd()).sum();
    let served = reports.iter().filter(|r| r.ok).count();
    assert!(spent <= budget, "spent ${spent} of a ${budget} budget");
    assert!((1..64).contains(&served), "{served} served");
    assert_eq!(upstream.seen().len(), served, "a refused call reached the upstream");
}

/// An upstream that accepts connections and never answers.
async fn silent_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

#[tokio::test]
async fn each_kind_of_broken_upstream_fails_over_with_its_class() {
    use std::time::Duration;
    let full = support::fixture("openai/sse/plain-text.sse");
    let backup = Upstream::start(move |seen| match seen.json()["stream"] == true {
        true => Reply::sse(&full, 1 << 20),
        false => ok_reply(),
    })
    .await;
    let garbage = Upstream::start(|_| Reply::json(200, "<html>502 Bad Gateway</html>")).await;
    let overloaded =
        Upstream::start(|_| Reply::json(529, r#"{"error":{"message":"Overloaded","type":"overloaded_error"}}"#)).await;
    let sse = support::fixture("openai/sse/plain-text.sse");
    // Cut inside the first event, before any content: the node may still switch.
    // (A cut after content is surfaced instead; see the stalled-stream test.)
    let cut = sse[..40].to_vec();
    let truncated = Upstream::start(move |_| Reply::sse(&cut, 1 << 20)).await;
    let (hanging, _hold) = silent_upstream().await;
    let mut hang = support::connection("hang", "openai", &hanging, KEY);
    hang.timeout = Duration::from_millis(300);
    let engine = support::engine(vec![
        support::connection("garbage", "openai", &garbage.url("/v1"), KEY),
        support::connection("overloaded", "openai", &overloaded.url("/v1"), KEY),
        support::connection("truncated", "openai", &truncated.url("/v1"), KEY),
        support::connection("refused", "openai", "http://127.0.0.1:9/v1", KEY),
        hang,
        support::connection("backup", "openai", &backup.url("/v1"), KEY),
    ]);
    let all = ["rate_limit", "timeout", "server_error", "overloaded"];
    for (primary, stream, class) in [
        ("garbage", false, "server_error"),
        ("overloaded", false, "overloaded"),
        ("truncated", true, "server_error"),
        ("refused", false, "server_error"),
        ("hang", false, "timeout"),
    ] {
        let node = support::one_node(primary, &["backup"], json!({ "stream": stream, "failover_on": all }));
        let report = support::run(&engine, &node, json!({})).await;
        assert!(report.ok, "{primary}: {report:#?}");
        assert_eq!(report.nodes[0].connection.as_deref(), Some("backup"), "{primary}");
        let skip = &report.nodes[0].skipped[0];
        assert_eq!(skip.class.map(|c| c.to_string()).as_deref(), Some(class), "{primary}: {}", skip.reason);
        support::assert_no_leak(primary, &skip.reason, KEY);
    }
}

#[tokio::test]
async fn least_loaded_sends_work_where_the_most_quota_is_left() {
    let ups = [
        Upstream::start(|_| ok_reply()).await,
        Upstream::start(|_| ok_reply()).await,
        Upstream::start(|_| ok_reply()).await,
    ];
    // a allows 4 requests a minute, b 40, c 400: sequential runs (never two in
    // flight) spread by the share of quota each has left.
    let connections = ["a", "b", "c"].iter().zip(&ups).zip([4, 40, 400]).map(|((n, u), rpm)| {
        let mut c = support::connection(n, "openai", &u.url("/v1"), KEY);
        c.limits.rpm = Some(rpm);
        c
    });
    let engine = support::engine(connections.collect());
    let workflow = pool_node("least_loaded", &[]);
    for _ in 0..20 {
        assert!(support::run(&engine, &workflow, json!({})).await.ok);
    }
    let served: Vec<usize> = ups.iter().map(|u| u.seen().len()).collect();
    // Each call goes where the most quota is left: a once (75% left after),
    // then b and c, c ten times for each of b's (each of b's calls uses
    // 2.5% of its quota, each of c's 0.25%). Round robin would send a 7 and
    // exhaust it; counting requests in flight would send all 20 to a. (b's
    // quota refills as the test runs, which may earn it one more call.)
    assert_eq!((served[0], served.iter().sum::<usize>()), (1, 20), "{served:?}");
    assert!((2..=3).contains(&served[1]), "{served:?}");
}
