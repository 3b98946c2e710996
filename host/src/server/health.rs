//! Liveness, readiness, metrics, the OpenAPI document, and the JSON 404.

use super::caller::MetricsReader;
use super::error::ApiError;
use super::state::AppState;
use crate::metrics::Load;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::IntoResponse;
use std::sync::Arc;

/// The OpenAPI 3.1 document of every route.
const OPENAPI: &str = include_str!("openapi.json");

/// The liveness path: answered past every cap.
pub const HEALTHZ: &str = "/healthz";

/// The liveness answer.
pub const HEALTHY: &str = "ok\n";

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    HEALTHY
}

/// `GET /readyz`: 503 once shutdown has begun, so balancers stop sending work.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    match state.is_ready() {
        true => Ok("ready\n"),
        false => Err(ApiError::Unavailable("draining: the daemon is shutting down".into())),
    }
}

/// `GET /metrics`: Prometheus text exposition; every series for the daemon's
/// operator, a workspace's own series for its admins.
pub async fn metrics(State(state): State<Arc<AppState>>, reader: MetricsReader) -> impl IntoResponse {
    let text = match reader {
        MetricsReader::Operator => {
            let load = Load { limits_fallback_admissions: state.limits_fallback_admissions(), ..state.slots().load() };
            state.metrics.render_all(&state.plugins(), load)
        }
        MetricsReader::Admin(caller) => state.metrics.render_workspace(&caller.workspace),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// `GET /openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Any other path: a JSON 404 that names it.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {} (see /openapi.json)", uri.path()))
}
