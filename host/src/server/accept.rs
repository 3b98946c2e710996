//! The accept loop. Each connection under the cap is served; past it, a few
//! more are answered (503 with `Retry-After`, or `/healthz`) and the rest are
//! closed at once, so a flood of sockets cannot exhaust the process. On
//! shutdown the listener closes first, then every connection finishes what
//! it has in flight (streams included) and closes.

use super::capacity::REFUSAL_HEADER_TIMEOUT;
use super::connection;
use super::error::ApiError;
use super::health::{HEALTHY, HEALTHZ};
use super::state::AppState;
use axum::Router;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Accept until `shutdown` completes, then drain every connection.
pub async fn run(listener: TcpListener, state: Arc<AppState>, app: Router, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let app = TowerToHyperService::new(app);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                pause_after(&e).await;
                continue;
            }
        };
        // Small writes (stream chunks) go out at once instead of waiting on Nagle.
        let _ = tcp.set_nodelay(true);
        match state.slots().connections.clone().try_acquire_owned() {
            Ok(slot) => connection::spawn(tcp, &app, &state, &graceful, slot),
            Err(_) => refuse(tcp, &state, &graceful),
        }
    }
    drop(listener);
    state.set_ready(false);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    graceful.shutdown().await;
}

/// A failed accept: a connection that died in the backlog is nothing; any
/// other error (out of file descriptors) gets a pause before the next try.
async fn pause_after(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::error!(error = %e, "accepting a connection failed; retrying in a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A connection past the cap: one request answered, `/healthz` as usual and
/// anything else 503, then closed; past the refusal slots, closed at once.
fn refuse(tcp: TcpStream, state: &AppState, graceful: &GracefulShutdown) {
    state.metrics.cap_refusal("connections");
    let Ok(slot) = state.slots().refusals.clone().try_acquire_owned() else {
        return;
    };
    let max = state.capacity().max_connections;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let answer = match request.uri().path() == HEALTHZ {
            true => HEALTHY.into_response(),
            false => {
                ApiError::Overloaded(format!("the daemon is serving its limit of {max} connections; retry shortly"))
                    .into_response()
            }
        };
        std::future::ready(Ok::<_, Infallible>(answer))
    });
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_HEADER_TIMEOUT.min(state.capacity().header_read_timeout));
    let conn = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service));
    tokio::spawn(async move {
        let _ = conn.await;
        drop(slot);
    });
}
