//! The daemon's connection hygiene, attacked from raw sockets: silent and
//! half-sent connections are closed after the header timeout, idle
//! kept-alive ones after the idle timeout, a request in flight is never cut,
//! and past the connection and in-flight caps the answer is a JSON 503 with
//! `Retry-After` while `/healthz` keeps answering.

use crate::support::daemon::{Daemon, METRICS_TOKEN, Setup};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A socket to the daemon.
async fn connect(d: &Daemon) -> TcpStream {
    TcpStream::connect(d.base.strip_prefix("http://").unwrap()).await.unwrap()
}

/// How long until the daemon closes `socket` (reading and dropping whatever
/// it sends); `None` if it is still open after `limit`.
async fn closed_after(mut socket: TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A client that opens a fresh connection for every request.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(30)).build().unwrap()
}

async fn healthz(d: &Daemon) -> (u16, String) {
    let resp = fresh_client().get(format!("{}/healthz", d.base)).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A streamed chat completion, answered 200 and still streaming.
async fn start_stream(d: &Daemon, client: &reqwest::Client, token: &str) -> reqwest::Response {
    let body = json!({ "model": "openai/gpt-4o-mini", "stream": true,
        "messages": [{ "role": "user", "content": "Tell me a story in a few words" }] });
    let resp = client
        .post(format!("{}/v1/chat/completions", d.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

/// The message of an answer checked to be the documented 503.
async fn overloaded(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{:?}", resp.headers());
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], json!("overloaded"), "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

/// Fail unless an answer is the documented 503, naming the `names` cap.
async fn assert_overloaded(resp: reqwest::Response, names: &str) {
    let message = overloaded(resp).await;
    assert!(message.contains(names), "the refusal should name the {names} cap: {message}");
}

/// A metric's value from the operator's exposition (0 when absent).
async fn metric(d: &Daemon, series: &str) -> f64 {
    let (_, text) = d.get_text("/metrics", METRICS_TOKEN).await;
    text.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn silent_half_sent_and_idle_sockets_are_closed_while_healthz_answers() {
    // Slow words: a stream outlives both timeouts.
    let s = Setup::new(Duration::from_millis(150)).await;
    let d = s.serve_with(&["--header-read-timeout", "1s", "--idle-timeout", "4s"]).await;

    // 200 sockets that never send a byte, 50 that send half a request head,
    // one that drips a head a byte at a time, and 5 that finish a request
    // and then idle on keep-alive.
    // Each is watched from the moment it is in that state.
    let limit = Duration::from_secs(12);
    let watch = |socket| tokio::spawn(closed_after(socket, limit));
    let mut header_waits = Vec::new();
    for _ in 0..200 {
        header_waits.push(watch(connect(&d).await));
    }
    for _ in 0..50 {
        let mut socket = connect(&d).await;
        socket.write_all(b"POST /api/v1/run HTTP/1.1\r\nHost: llmnode\r\nContent-Le").await.unwrap();
        header_waits.push(watch(socket));
    }
    let mut dripping = connect(&d).await;
    let drip = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: llmnode\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa\r\n\r\n" {
            if dripping.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let mut idle_waits = Vec::new();
    for _ in 0..5 {
        let mut socket = connect(&d).await;
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: llmnode\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = socket.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{:?}", &buf[..n]);
        idle_waits.push(watch(socket));
    }

    // A stream running longer than both timeouts, on its own connection.
    let client = reqwest::Client::new();
    let stream = start_stream(&d, &client, &s.member).await;
    let streamed = tokio::spawn(async move {
        let started = Instant::now();
        let text = stream.text().await;
        (text, started.elapsed())
    });

    // /healthz answers while all of them are open.
    assert_eq!(healthz(&d).await, (200, "ok\n".to_string()));

    for (i, wait) in header_waits.into_iter().enumerate() {
        let after = wait.await.unwrap().unwrap_or_else(|| panic!("socket {i} is still open after {limit:?}"));
        // The header timeout (1 s), counted from the accept.
        assert!(after >= Duration::from_millis(900), "socket {i} was closed after {after:?}");
        assert!(after < Duration::from_secs(6), "socket {i} closed only after {after:?}");
    }
    assert!(drip.await.unwrap(), "a head dripped a byte at a time outlived the header timeout");
    for (i, wait) in idle_waits.into_iter().enumerate() {
        let idle = wait.await.unwrap().unwrap_or_else(|| panic!("idle socket {i} is still open after {limit:?}"));
        // The idle timeout (4 s) applies to them, not the header timeout (1 s).
        assert!(idle >= Duration::from_millis(3800), "an idle kept-alive socket was closed after {idle:?}");
        assert!(idle < Duration::from_secs(8), "an idle kept-alive socket was closed only after {idle:?}");
    }
    let (text, took) = streamed.await.unwrap();
    let text = text.expect("the stream in flight was cut");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(took > Duration::from_secs(1), "the stream was too short to prove anything: {took:?}");

    // Still answering, and the operator sees why the sockets went.
    assert_eq!(healthz(&d).await.0, 200);
    assert!(metric(&d, "llmnode_daemon_timeouts_total{wait=\"header\"}").await >= 251.0);
    assert!(metric(&d, "llmnode_daemon_timeouts_total{wait=\"idle\"}").await >= 5.0);
    d.assert_log_clean();
}

#[tokio::test]
async fn past_the_caps_requests_get_a_json_503_with_retry_after_and_healthz_still_answers() {
    // Slow words: the streams outlast every check below (about 8 s).
    let s = Setup::new(Duration::from_millis(400)).await;
    let d = s.serve_with(&["--max-connections", "4", "--max-in-flight", "2", "--header-read-timeout", "20s"]).await;

    // Two streams fill the in-flight cap (on two connections).
    let streaming = reqwest::Client::new();
    let streams = [start_stream(&d, &streaming, &s.member).await, start_stream(&d, &streaming, &s.member).await];
    let me = || fresh_client().get(format!("{}/api/v1/me", d.base)).bearer_auth(&s.member).send();
    assert_overloaded(me().await.unwrap(), "requests at once").await;
    assert_eq!(healthz(&d).await, (200, "ok\n".to_string()), "/healthz is not held to the in-flight cap");

    // Silent sockets fill the connection cap: two, once the daemon has seen
    // the requests above close (until then a socket may land past the cap,
    // where it is answered and closed instead).
    let mut silent = Vec::new();
    loop {
        silent.push(connect(&d).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let resp = me().await.unwrap();
        let message = overloaded(resp).await;
        if message.contains("connections") {
            break;
        }
        assert!(message.contains("requests at once"), "{message}");
        assert!(silent.len() < 20, "the connection cap was never reached");
    }
    assert_eq!(healthz(&d).await, (200, "ok\n".to_string()), "/healthz is not held to the connection cap");

    // Past the 64 refusal slots too (each held 2 s by a silent socket), a
    // new connection is closed at once. Four more, in case a slot under the
    // cap came free since.
    for _ in 0..64 + 4 {
        silent.push(connect(&d).await);
    }
    let extra = closed_after(connect(&d).await, Duration::from_millis(1500)).await;
    assert!(extra.is_some(), "a connection past the refusal slots was kept open");
    drop(silent);

    // The streams were never disturbed, and once they end the daemon serves again.
    for stream in streams {
        let text = stream.text().await.expect("a stream was cut");
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = me().await.unwrap();
        if resp.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon still refuses after the caps emptied: {}", resp.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(metric(&d, "llmnode_daemon_cap_refusals_total{cap=\"in_flight\"}").await >= 1.0);
    assert!(metric(&d, "llmnode_daemon_cap_refusals_total{cap=\"connections\"}").await >= 2.0);
    d.assert_log_clean();
}

#[test]
fn bad_caps_or_timeouts_and_a_short_metrics_token_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    // Test-key shaped, so the leak scan would find it echoed.
    let short_token = "a-for-tests-1";
    let cases: [(&[&str], Option<&str>, &str); 5] = [
        (&["--max-connections", "0"], None, "--max-connections"),
        (&["--max-in-flight", "99999999999"], None, "--max-in-flight"),
        (&["--idle-timeout", "0s"], None, "--idle-timeout"),
        (&["--header-read-timeout", "soon"], None, "--header-read-timeout"),
        (&[], Some(short_token), "LLMNODE_METRICS_TOKEN must be at least 16 characters"),
    ];
    for (flags, token, names) in cases {
        let mut cmd = crate::support::llmnode_command(&dir.path().join("data"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"]).args(flags).env("LLMNODE_LOG", "warn");
        if let Some(token) = token {
            cmd.env("LLMNODE_METRICS_TOKEN", token);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(names), "{flags:?}: the error should name {names}: {stderr}");
        crate::support::leak::assert_clean("the refusal", &stderr);
        assert!(out.stdout.is_empty(), "{flags:?}: the daemon started");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a refused start created something");
}

#[tokio::test]
async fn a_dripped_body_frees_its_slot_and_a_client_that_reads_nothing_is_dropped_after_their_timeouts() {
    let s = Setup::new(Duration::ZERO).await;
    let d = s.serve_with(&["--max-in-flight", "1", "--body-read-timeout", "1s", "--send-timeout", "1s"]).await;
    let me = || fresh_client().get(format!("{}/api/v1/me", d.base)).bearer_auth(&s.member).send();
    let serves_again = || async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if me().await.unwrap().status() == 200 {
                return Instant::now();
            }
            assert!(Instant::now() < deadline, "the slot was never freed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    // A head, then one byte of a 100-byte body, then nothing.
    let mut dripping = connect(&d).await;
    let head = format!(
        "PUT /api/v1/workflows/slow HTTP/1.1\r\nHost: llmnode\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        s.member
    );
    dripping.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_overloaded(me().await.unwrap(), "requests at once").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), dripping.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("application/json") && answer.contains("--body-read-timeout"), "{answer}");
    assert!(sent.elapsed() >= Duration::from_millis(900), "cut before the body-read timeout");
    serves_again().await;

    // A 7 MiB answer to a client that reads none of it: more than the
    // socket buffers hold, so the daemon's writes wait on it.
    let big = json!({ "name": "big", "description": "x".repeat(7 << 20), "nodes": [{ "id": "a", "node_type": "llm",
        "config": { "primary_connection": "openai", "messages": [{ "role": "user", "content": "hi" }] } }],
        "output": "{{nodes.a.output.text}}" });
    let (status, stored) = d.call("PUT", "/api/v1/workflows/big", &s.member, Some(big)).await;
    assert_eq!(status, 201, "{stored}");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(d.base.strip_prefix("http://").unwrap().parse().unwrap()).await.unwrap();
    let get =
        format!("GET /api/v1/workflows/big HTTP/1.1\r\nHost: llmnode\r\nAuthorization: Bearer {}\r\n\r\n", s.member);
    stalled.write_all(get.as_bytes()).await.unwrap();
    let asked = Instant::now();
    let send = "llmnode_daemon_timeouts_total{wait=\"send\"}";
    while metric(&d, send).await < 1.0 {
        // Generous: on a loaded machine the kernel may take a while to fill
        // the socket buffers before the daemon's writes start to wait.
        if asked.elapsed() >= Duration::from_secs(30) {
            let log = d.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let (_, metrics) = d.get_text("/metrics", METRICS_TOKEN).await;
            let daemon: Vec<&str> = metrics.lines().filter(|l| l.starts_with("llmnode_daemon")).collect();
            panic!("the daemon still waits on a client that reads nothing\n{daemon:#?}\n{tail:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(asked.elapsed() >= Duration::from_millis(900), "given up on before the send timeout");
    // The daemon gave up on it: what was buffered comes out, then the end.
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the stalled connection is still open");
    assert!(got.len() < 7 << 20, "the whole answer went out: {} bytes", got.len());
    assert_eq!(me().await.unwrap().status(), 200);
    d.assert_log_clean();
}
