//! Time to first byte and to the end of streamed answers, one request at a
//! time on one keep-alive connection: wrk reports only whole-response latency,
//! and what a streaming user feels first is the first event.
//!
//!   ttfb URL TOKEN BODY SECONDS  →  "ttfb_p50 ttfb_p99 end_p50 end_p99 count" (ms)
//!
//! Plain blocking std I/O with `TCP_NODELAY`, so the client adds no runtime of
//! its own to what it measures. "First byte" is the first byte of the body
//! (the first SSE event), not of the headers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: ttfb URL TOKEN BODY SECONDS");
        std::process::exit(2);
    }
    let (url, token, body) = (&args[1], &args[2], &args[3]);
    let seconds: f64 = args[4].parse().expect("SECONDS is a number");
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );

    let stream = TcpStream::connect(authority).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let (mut first, mut end) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        let started = Instant::now();
        writer.write_all(request.as_bytes()).expect("send");
        let (ttfb, total) = read_response(&mut reader, started);
        first.push(ttfb);
        end.push(total);
    }
    println!(
        "{:.3} {:.3} {:.3} {:.3} {}",
        percentile(&mut first, 50.0),
        percentile(&mut first, 99.0),
        percentile(&mut end, 50.0),
        percentile(&mut end, 99.0),
        end.len()
    );
}

/// Reads one HTTP/1.1 response (chunked or sized); returns the time to its
/// first body byte and to its end.
fn read_response(reader: &mut BufReader<TcpStream>, started: Instant) -> (Duration, Duration) {
    let mut line = String::new();
    let mut chunked = false;
    let mut length = None;
    let mut status_line = true;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        if status_line {
            assert!(line.contains(" 200 "), "not a 200 answer: {line}");
            status_line = false;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = Some(v.trim().parse::<usize>().expect("content-length"));
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut ttfb = None;
    let mark = |ttfb: &mut Option<Duration>| {
        if ttfb.is_none() {
            *ttfb = Some(started.elapsed());
        }
    };
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).expect("chunk size");
            let size = usize::from_str_radix(line.trim(), 16).expect("hex chunk size");
            let mut data = vec![0; size + 2];
            reader.read_exact(&mut data).expect("chunk");
            if size == 0 {
                break;
            }
            mark(&mut ttfb);
        }
    } else {
        let mut data = vec![0; length.expect("a sized or chunked body")];
        reader.read_exact(&mut data).expect("body");
        mark(&mut ttfb);
    }
    (ttfb.unwrap_or_default(), started.elapsed())
}

/// The nearest-rank percentile, in milliseconds.
fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1000.0
}
