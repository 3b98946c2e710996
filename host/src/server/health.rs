//! Liveness, readiness, metrics, the OpenAPI document, and the JSON 404.

use super::caller::Caller;
use super::error::ApiError;
use super::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use std::sync::Arc;

/// The OpenAPI 3.1 document of every route.
const OPENAPI: &str = include_str!("openapi.json");

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 503 once shutdown has begun, so balancers stop sending work.
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    match state.is_ready() {
        true => (StatusCode::OK, "ready\n"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
    }
}

/// `GET /metrics` (admin): Prometheus text exposition.
pub async fn metrics(State(state): State<Arc<AppState>>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin("reading metrics")?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render(&state.plugins())))
}

/// `GET /openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Any other path: a JSON 404 that names it.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {} (see /openapi.json)", uri.path()))
}
