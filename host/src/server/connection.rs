//! One client connection: HTTP/1.1 served by hyper, watched for the two ways
//! a client can hold a socket without asking for anything.
//!
//! hyper's own `header_read_timeout` restarts whenever a kept-alive
//! connection goes idle, so with it the idle and header waits could not
//! differ (and without a timer, as `axum::serve` runs it, there is none at
//! all). The watch here tells them apart:
//! - a request head must be whole within `header_read_timeout`, counted from
//!   the accept (a new connection) or from the first byte of the next
//!   request (a kept-alive one): this closes silent and half-sent sockets;
//! - a kept-alive connection with no request in flight and no byte coming
//!   is closed after `idle_timeout`.
//!
//! A request in flight is never cut by either. What bounds it instead is its
//! body's deadline ([`super::body_deadline`]) and the send timeout here: a
//! write that waits that long on a client reading nothing fails, and the
//! connection closes.

use super::admission::Admission;
use super::state::AppState;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::{Instant, Sleep};

/// Waiting for a request head to be whole.
const HEAD: u64 = 0;
/// Kept alive, nothing in flight, no byte since.
const IDLE: u64 = 1;
/// A request in flight.
const BUSY: u64 = 2;

/// What one connection is doing, for its watch. Every change happens on the
/// connection's own task (hyper polls the IO, the request and the answer's
/// body there), so plain loads and stores suffice.
pub struct Activity {
    opened: Instant,
    /// Requests whose answer is not finished.
    busy: AtomicUsize,
    /// The phase in the two low bits; above them, the milliseconds since
    /// `opened` at which it began.
    mark: AtomicU64,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            busy: AtomicUsize::new(0),
            mark: AtomicU64::new(HEAD),
            changed: Notify::new(),
        }
    }

    fn enter(&self, phase: u64) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX >> 2);
        self.mark.store((ms << 2) | phase, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// Bytes arrived: on an idle connection, a request head has begun.
    fn bytes_arrived(&self) {
        if self.mark.load(Ordering::Relaxed) & 3 == IDLE {
            self.enter(HEAD);
        }
    }

    /// A request's head is whole and it is being answered.
    pub fn begin(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.mark.store(BUSY, Ordering::Relaxed);
    }

    /// A request's answer is finished (or its client left).
    pub fn end(&self) {
        if self.busy.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.enter(IDLE);
        }
    }

    /// When the connection is closed unless something happens first, and
    /// which wait that is (`header` or `idle`); `None` while busy.
    fn deadline(&self, header: Duration, idle: Duration) -> Option<(Instant, &'static str)> {
        let mark = self.mark.load(Ordering::Relaxed);
        let since = self.opened + Duration::from_millis(mark >> 2);
        match mark & 3 {
            HEAD => Some((since + header, "header")),
            IDLE => Some((since + idle, "idle")),
            _ => None,
        }
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive, and
/// failing a write that has waited on a client reading nothing for longer
/// than the send timeout.
struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
    state: Arc<AppState>,
    /// Armed (lazily, once) while a write waits on the client.
    stall: Option<Pin<Box<Sleep>>>,
    stalled: bool,
}

impl Watched {
    /// `polled`, unless the write it comes from has waited too long.
    fn bounded<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = false;
            return polled;
        }
        let limit = self.state.capacity().send_timeout;
        let stall = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if !self.stalled {
            stall.as_mut().reset(Instant::now() + limit);
            self.stalled = true;
        }
        match stall.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.state.metrics.timeout("send");
                tracing::debug!("closing a connection whose client read nothing for the send timeout");
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing for the send timeout",
                )))
            }
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.bounded(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.bounded(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.tcp).poll_flush(cx);
        self.bounded(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Serve `tcp` on its own task until it closes, a wait runs out, or
/// shutdown drains it; `slot` is its place under the connection cap.
pub fn spawn(
    tcp: TcpStream,
    app: &TowerToHyperService<Router>,
    state: &Arc<AppState>,
    graceful: &GracefulShutdown,
    slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io =
        TokioIo::new(Watched { tcp, activity: activity.clone(), state: state.clone(), stall: None, stalled: false });
    let service = Admission::new(app.clone(), state.clone(), activity.clone());
    let conn = graceful.watch(http1::Builder::new().serve_connection(io, service));
    let (header, idle) = (state.capacity().header_read_timeout, state.capacity().idle_timeout);
    let state = state.clone();
    tokio::spawn(async move {
        watch(conn, &activity, (header, idle), &state).await;
        drop(slot);
    });
}

/// Drive `conn` until it ends, or drop it (closing the socket) when the
/// wait its [`Activity`] is in runs out.
async fn watch(
    conn: impl Future<Output = Result<(), hyper::Error>>,
    activity: &Activity,
    (header, idle): (Duration, Duration),
    state: &AppState,
) {
    let mut conn = pin!(conn);
    loop {
        let deadline = activity.deadline(header, idle);
        tokio::select! {
            // The connection first: bytes that just arrived move it out of
            // an idle wait before that wait is judged.
            biased;
            served = &mut conn => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(deadline.map_or_else(Instant::now, |(at, _)| at)), if deadline.is_some() => {
                if let Some((at, wait)) = activity.deadline(header, idle) && at <= Instant::now() {
                    state.metrics.timeout(wait);
                    tracing::debug!(wait, "closing a connection that sent no request in time");
                    return;
                }
            }
        }
    }
}
