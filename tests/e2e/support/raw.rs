//! A loopback upstream that speaks raw TCP, so it can misbehave below HTTP:
//! reset the connection, hang, drip bytes, cut a body short, never end one.
//! It reads each request whole, then plays the script's steps for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One thing the server does to a connection, in order.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Write these bytes one at a time, `gap` apart.
    Drip(Vec<u8>, Duration),
    /// Wait.
    Sleep(Duration),
    /// Write `chunk` again and again until the client goes away (at most
    /// `max_bytes`, so a broken client cannot fill the machine).
    Endless { chunk: Vec<u8>, max_bytes: usize },
    /// Close with a TCP reset.
    Reset,
    /// Close normally: the end of an open-ended (or cut) body.
    Close,
}

/// Steps for the `n`th request (0-based) this server receives.
type Script = dyn Fn(usize) -> Vec<Step> + Send + Sync;

/// A raw loopback server; stops when dropped.
pub struct RawUpstream {
    pub addr: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RawUpstream {
    /// Start on an ephemeral port of 127.0.0.1.
    pub async fn start(script: impl Fn(usize) -> Vec<Step> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (script, counter) = (script.clone(), counter.clone());
                tokio::spawn(async move { serve(stream, &*script, &counter).await });
            }
        });
        RawUpstream { addr, requests, task }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve requests on one connection (keep-alive) until the script ends it.
async fn serve(mut stream: TcpStream, script: &Script, counter: &AtomicUsize) {
    loop {
        if !read_request(&mut stream).await {
            return;
        }
        let n = counter.fetch_add(1, Ordering::SeqCst);
        for step in script(n) {
            let ok = match step {
                Step::Send(bytes) => stream.write_all(&bytes).await.is_ok(),
                Step::Drip(bytes, gap) => {
                    let mut ok = true;
                    for b in bytes {
                        ok = stream.write_all(&[b]).await.is_ok() && stream.flush().await.is_ok();
                        if !ok {
                            break;
                        }
                        tokio::time::sleep(gap).await;
                    }
                    ok
                }
                Step::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    true
                }
                Step::Endless { chunk, max_bytes } => {
                    let mut sent = 0;
                    while sent < max_bytes && stream.write_all(&chunk).await.is_ok() {
                        sent += chunk.len();
                    }
                    false
                }
                Step::Reset => {
                    let _ = stream.set_zero_linger();
                    return;
                }
                Step::Close => return,
            };
            if !ok {
                return;
            }
        }
    }
}

/// Read one request (head and a `Content-Length` body); false at end of stream.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
        if buf.len() > 1 << 20 {
            return false;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => have += n,
        }
    }
    true
}

/// An HTTP/1.1 response head with a `Content-Length`, and the body.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = head(status, headers);
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// An HTTP/1.1 response head up to (not including) the blank line.
pub fn head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out
}

/// The head of a response whose body runs until the connection closes.
pub fn open_ended_head(status: u16, content_type: &str) -> Vec<u8> {
    let mut out = head(status, &[("content-type", content_type), ("connection", "close")]);
    out.extend_from_slice(b"\r\n");
    out
}
