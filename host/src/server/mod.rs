//! `llmnode serve`: the daemon. An HTTP API for operators and members
//! (connections, workflows, routes, usage, audit, alerts, plugins), an
//! OpenAI-compatible endpoint so existing clients work unchanged, Prometheus
//! metrics and a small dashboard, all over one [`AppState`].
//!
//! Every `/api` and `/v1` request carries a bearer token that names one user,
//! one workspace and one role ([`caller`]); nothing crosses workspaces.
//!
//! The daemon drives its own HTTP/1.1 connections ([`accept`],
//! [`connection`], [`admission`], [`body_deadline`]) for the caps and
//! timeouts in [`Capacity`].

mod accept;
mod admission;
mod approvals;
mod body_deadline;
mod caller;
mod capacity;
mod chat_routes;
mod chat_run;
mod connection;
mod connections;
mod dashboard;
mod definitions;
mod embeddings;
mod error;
mod health;
mod json_body;
mod messages;
mod messages_wire;
mod openai;
mod openai_wire;
mod reports;
mod run;
mod sse;
mod state;
mod tokens;
mod usage_export;
mod volume_sync;
mod watch;

pub use capacity::Capacity;
pub use error::ApiError;
pub use json_body::MAX_BODY;
pub use state::{AppState, ServerConfig};

/// The environment variable that holds the operator's `/metrics` token.
pub const METRICS_TOKEN_ENV: &str = "LLMNODE_METRICS_TOKEN";

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Every route the daemon answers; `openapi.json` documents the same set.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/me", get(connections::me))
        .route("/connections", get(connections::list).post(connections::create).delete(connections::delete_named))
        .route("/connections/{name}", get(connections::show).patch(connections::edit).delete(connections::delete))
        .route("/connections/{name}/used-by", get(connections::used_by))
        .route("/connections/{name}/test", post(connections::test))
        .route("/connections/{name}/enable", post(connections::enable))
        .route("/connections/{name}/disable", post(connections::disable))
        .route("/workflows", get(definitions::list_workflows))
        .route(
            "/workflows/{name}",
            get(definitions::get_workflow).put(definitions::put_workflow).delete(definitions::delete_workflow),
        )
        .route("/workflows/{name}/run", post(run::run_stored))
        .route("/run", post(run::run_inline))
        .route("/routes", get(definitions::list_routes))
        .route(
            "/routes/{name}",
            get(definitions::get_route).put(definitions::put_route).delete(definitions::delete_route),
        )
        .route("/usage", get(reports::usage))
        .route("/usage/export", get(usage_export::usage_export))
        .route("/audit", get(reports::audit))
        .route("/alerts", get(reports::alerts))
        .route("/alerts/settings", get(reports::alert_settings).put(reports::put_alert_settings))
        .route("/alerts/channels", get(reports::alert_channels))
        .route(
            "/alerts/channels/{name}",
            axum::routing::put(reports::put_alert_channel).delete(reports::delete_alert_channel),
        )
        .route("/plugins", get(reports::plugins))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
        .route("/workspace/settings", get(approvals::settings).put(approvals::put_settings));
    Router::new()
        .nest("/api/v1", api)
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route(messages::PATH, post(messages::messages))
        .route(health::HEALTHZ, get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi))
        .merge(dashboard::routes())
        .fallback(health::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(json_body::MAX_BODY))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn(error::anthropic_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Count and time every request by its matched route, inside a span.
async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let route = route.unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("http", method = %method, route = %route);
    let response = tracing::Instrument::instrument(next.run(request), span).await;
    state.metrics.http(method.as_str(), &route, response.status().as_u16(), started.elapsed());
    response
}

/// Serve on `listener` until `shutdown` completes, then finish every request
/// in flight (streams included), write every queued usage event, and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let watcher = tokio::spawn(watch::run(state.clone()));
    let sharing = tokio::spawn(volume_sync::run(state.clone()));
    accept::run(listener, state.clone(), router(state.clone()), shutdown).await;
    watcher.abort();
    sharing.abort();
    let last = state.clone();
    let _ = tokio::task::spawn_blocking(move || volume_sync::sync(&last, None)).await;
    state.close().await;
}
