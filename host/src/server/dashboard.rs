//! The dashboard: three static files compiled into the binary (no build step),
//! served under a strict Content-Security-Policy. It logs in with an API token
//! kept in sessionStorage and reads the same API as any other client.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use std::sync::Arc;

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// `/` redirects to the dashboard; `/dashboard/` serves it.
pub fn routes() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(|| async { file("text/html; charset=utf-8", INDEX) }))
        .route("/dashboard/app.js", get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/dashboard/style.css", get(|| async { file("text/css; charset=utf-8", STYLE) }))
}
