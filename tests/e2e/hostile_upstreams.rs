//! Hostile upstreams, misbehaving at the byte level on raw TCP: every failure
//! gets the right error class (so failover applies or not), a clear error
//! naming the connection, bounded time and memory, and the host keeps serving.

use crate::support::raw::{self, RawUpstream, Step};
use crate::support::{self, Reply, Upstream, leak};
use llmnode::connections::Connection;
use llmnode::engine::{Engine, RetryPolicy, RunReport};
use llmnode::error_class::ErrorClass;
use serde_json::json;
use std::time::{Duration, Instant};

const KEY: &str = "fake-upstream-key-for-tests-1c2d3e4f5a6b";
const GOOD_STREAM: &str = "openai/recorded/stream-tool-call-include-usage.1.response.sse";

/// A well-behaved OpenAI-style upstream: JSON, or the recorded stream.
async fn good_upstream() -> Upstream {
    let body = support::fixture("openai/spec-examples/default.response.json");
    let stream = support::fixture(GOOD_STREAM);
    Upstream::start(move |seen| {
        if seen.json()["stream"] == json!(true) { Reply::sse(&stream, 97) } else { Reply::json(200, body.clone()) }
    })
    .await
}

/// Connection `p` (OpenAI plugin) on `bad`, with short bounds and no retries.
fn primary(bad: &RawUpstream) -> Connection {
    let mut p = support::connection("p", "openai", &bad.url("/v1"), KEY);
    p.timeout = Duration::from_millis(1000);
    p.stream_idle_timeout = Duration::from_millis(1000);
    p.retry = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
    p
}

/// Run one node on `p`, falling back to `b` on the good upstream.
async fn run(engine: &Engine, stream: bool) -> RunReport {
    let all = ["rate_limit", "timeout", "server_error", "overloaded"];
    let node = support::one_node("p", &["b"], json!({ "stream": stream, "failover_on": all }));
    let report = support::run(engine, &node, json!({})).await;
    support::assert_no_leak("the report", &serde_json::to_string(&report).unwrap(), KEY);
    report
}

/// A bad upstream scripted by `steps` as `p`, a good one as `b`.
async fn setup(steps: impl Fn(usize) -> Vec<Step> + Send + Sync + 'static) -> (RawUpstream, Upstream, Engine) {
    let bad = RawUpstream::start(steps).await;
    let good = good_upstream().await;
    let engine = support::engine(vec![primary(&bad), support::connection("b", "openai", &good.url("/v1"), KEY)]);
    (bad, good, engine)
}

/// The node was served by `b` after `p` failed with `class` and a reason
/// containing `why`.
fn failed_over(report: &RunReport, class: ErrorClass, why: &str) {
    let node = &report.nodes[0];
    assert!(report.ok, "{report:#?}");
    assert_eq!(node.connection.as_deref(), Some("b"), "{report:#?}");
    assert_eq!(report.attempts[0].error, Some(class), "{report:#?}");
    let reason = &node.skipped[0].reason;
    assert!(reason.contains("connection `p` (openai)") && reason.contains(why), "{reason}");
}

/// The node failed on `p` with an error containing `why` (no silent switch).
fn failed(report: &RunReport, why: &str) {
    let error = report.nodes[0].error.clone().unwrap_or_default();
    assert!(!report.ok && error.contains("connection `p` (openai)") && error.contains(why), "{report:#?}");
}

fn json_response(status: u16, headers: &[(&str, &str)], body: &str) -> Step {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    Step::Send(raw::response(status, &all, body.as_bytes()))
}

fn sse_head() -> Step {
    Step::Send(raw::open_ended_head(200, "text/event-stream"))
}

#[tokio::test]
async fn hostile_status_codes_fail_over_with_their_class() {
    let error = |kind: &str| format!(r#"{{"error":{{"message":"upstream says {kind}","type":"{kind}"}}}}"#);
    for (status, class) in [
        (429, ErrorClass::RateLimit),
        (500, ErrorClass::ServerError),
        (503, ErrorClass::Overloaded),
        (529, ErrorClass::Overloaded),
    ] {
        let body = error(&format!("no-{status}"));
        let (bad, _good, engine) = setup(move |_| vec![json_response(status, &[("retry-after", "1")], &body)]).await;
        let report = run(&engine, false).await;
        failed_over(&report, class, &format!("HTTP {status}"));
        assert!(report.nodes[0].skipped[0].reason.contains(&format!("upstream says no-{status}")));
        assert_eq!(bad.requests(), 1, "{status}: failover is immediate, no retry on p");
    }
}

#[tokio::test]
async fn a_429_retry_after_is_honoured_on_the_last_connection() {
    let bad = RawUpstream::start(|n| {
        let body = support::fixture("openai/spec-examples/default.response.json");
        let rate_limited = r#"{"error":{"message":"slow down","type":"rate_limit"}}"#;
        if n == 0 {
            vec![json_response(429, &[("retry-after", "1")], rate_limited)]
        } else {
            vec![json_response(200, &[], std::str::from_utf8(&body).unwrap())]
        }
    })
    .await;
    let mut p = primary(&bad);
    p.retry = RetryPolicy { max_retries: 1, ..RetryPolicy::default() };
    let engine = support::engine(vec![p]);
    let started = Instant::now();
    let report = support::run(&engine, &support::one_node("p", &[], json!({})), json!({})).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(bad.requests(), 2);
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After: 1 was not waited ({:?})", started.elapsed());
}

#[tokio::test]
async fn hostile_connections_reset_hang_or_redirect_elsewhere() {
    // A reset before any answer: a broken server, so failover.
    let (_bad, _good, engine) = setup(|_| vec![Step::Reset]).await;
    failed_over(&run(&engine, false).await, ErrorClass::ServerError, "failed");

    // No answer at all: the 1 s timeout, then failover.
    let (_bad, _good, engine) = setup(|_| vec![Step::Sleep(Duration::from_secs(60))]).await;
    let started = Instant::now();
    failed_over(&run(&engine, false).await, ErrorClass::Timeout, "did not answer within 1.0 s");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // A redirect to another origin is never followed.
    let location = [("location", "http://127.0.0.1:1/v1/chat/completions")];
    let (_bad, _good, engine) = setup(move |_| vec![Step::Send(raw::response(302, &location, b""))]).await;
    let report = run(&engine, false).await;
    failed_over(&report, ErrorClass::ServerError, "never follows redirects");
    assert!(report.nodes[0].skipped[0].reason.contains("127.0.0.1:1"), "{report:#?}");
}

#[tokio::test]
async fn hostile_slow_drips_time_out_in_bounded_time() {
    // A JSON body dripped a byte every 20 ms: each byte is "on time", the whole
    // never is. The body's total bound (1 s) applies.
    let (_bad, _good, engine) = setup(|_| {
        let body = vec![b' '; 4000];
        let mut head = raw::head(200, &[("content-type", "application/json")]);
        head.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        vec![Step::Send(head), Step::Drip(body, Duration::from_millis(20))]
    })
    .await;
    let started = Instant::now();
    failed_over(&run(&engine, false).await, ErrorClass::Timeout, "was not complete within 1.0 s");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // A stream dripping an event that never completes: bytes keep coming, but
    // no event does, so the idle bound (1 s) still applies.
    let (_bad, _good, engine) = setup(|_| {
        vec![
            sse_head(),
            Step::Drip(format!("data: {{\"id\":\"{}", "x".repeat(4000)).into_bytes(), Duration::from_millis(20)),
        ]
    })
    .await;
    let started = Instant::now();
    failed_over(&run(&engine, true).await, ErrorClass::Timeout, "stalled");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn hostile_streams_truncated_garbled_or_reporting_an_error() {
    // Cut after content has reached the caller, between events or inside
    // one: surfaced, never switched.
    let recorded = support::fixture(GOOD_STREAM);
    let half = recorded.len() / 2;
    let boundary = recorded[..half].windows(2).rposition(|w| w == b"\n\n").unwrap() + 2;
    for (cut, why) in
        [(boundary, "the stream ended before the provider finished its answer"), (half, "not the expected JSON")]
    {
        let cut = recorded[..cut].to_vec();
        let (_bad, _good, engine) = setup(move |_| vec![sse_head(), Step::Send(cut.clone()), Step::Close]).await;
        failed(&run(&engine, true).await, why);
    }

    // Bytes that are not UTF-8 inside an event, before any content: a broken
    // server, so failover.
    let (_bad, _good, engine) =
        setup(|_| vec![sse_head(), Step::Send(b"data: {\"id\":\"\xff\xfe\"}\n\n".to_vec()), Step::Close]).await;
    failed_over(&run(&engine, true).await, ErrorClass::ServerError, "not valid UTF-8");

    // A 200 stream whose first event is an error.
    let event = b"data: {\"error\":{\"message\":\"stream broke upstream\",\"type\":\"server_error\"}}\n\n".to_vec();
    let (_bad, _good, engine) = setup(move |_| vec![sse_head(), Step::Send(event.clone()), Step::Close]).await;
    failed_over(&run(&engine, true).await, ErrorClass::ServerError, "stream broke upstream");
}

#[tokio::test]
async fn hostile_bodies_invalid_json_or_endless_are_refused() {
    let (_bad, _good, engine) =
        setup(|_| vec![json_response(200, &[], "{\"id\": \"chatcmpl-1\", \"choices\": [")]).await;
    failed_over(&run(&engine, false).await, ErrorClass::ServerError, "HTTP 200");

    // Endless bodies: read up to the 32 MiB bound, then refused.
    let endless = |content_type: &'static str, chunk: &'static [u8]| {
        move |_| {
            vec![
                Step::Send(raw::open_ended_head(200, content_type)),
                Step::Endless { chunk: chunk.repeat(4096), max_bytes: 40 << 20 },
            ]
        }
    };
    for (stream, content_type, chunk) in
        [(false, "application/json", &b"[[[[[[[[[[[[[[[["[..]), (true, "text/event-stream", &b": keep-alive\n"[..])]
    {
        let (_bad, _good, engine) = setup(endless(content_type, chunk)).await;
        let report = run(&engine, stream).await;
        let text = serde_json::to_string(&report.nodes[0]).unwrap();
        assert!(text.contains("exceeded 33554432 bytes"), "stream {stream}: {report:#?}");
    }
    leak::assert_logs_clean();
}
