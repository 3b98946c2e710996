//! `GET /api/v1/usage/export?from=&to=&format=csv|jsonl` (admin): every usage
//! event of the caller's workspace in a time range, one row per attempt,
//! streamed page by page as the store is read (never the whole table in
//! memory; a client that leaves stops the reading).

use super::caller::Caller;
use super::error::ApiError;
use super::state::AppState;
use crate::store::now_ms;
use crate::usage::export::{self, Encoder, Format};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use std::sync::Arc;

/// Pages read ahead of a slow client.
const AHEAD: usize = 4;

/// The export's range and format; `workspace`, when given, must be the
/// caller's own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    format: Option<String>,
    workspace: Option<String>,
}

/// `GET /api/v1/usage/export`.
pub async fn usage_export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    caller.require_admin("exporting usage")?;
    if let Some(ws) = q.workspace.as_deref().filter(|ws| *ws != caller.workspace) {
        return Err(ApiError::Forbidden(format!(
            "token {} reaches workspace `{}` only, not `{}`",
            caller.token_id,
            caller.workspace,
            crate::escape::Escaped(ws)
        )));
    }
    let format: Format = q.format.as_deref().unwrap_or("csv").parse().map_err(ApiError::Invalid)?;
    let time = |t: Option<&str>, end: bool| {
        t.map(|t| export::parse_time(t, end)).transpose().map_err(|e| ApiError::Invalid(format!("`from`/`to`: {e}")))
    };
    let from = time(q.from.as_deref(), false)?.unwrap_or(0);
    let to = time(q.to.as_deref(), true)?.unwrap_or_else(|| now_ms() + 1);
    if from >= to {
        return Err(ApiError::Invalid("`from` must be before `to`".into()));
    }
    let store = state.store()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(AHEAD);
    let (workspace_id, workspace) = (caller.workspace_id, caller.workspace.clone());
    tokio::task::spawn_blocking(move || {
        let mut encoder = Encoder::new(format, &workspace);
        let sent = |bytes: Vec<u8>| tx.blocking_send(Ok(Bytes::from(bytes))).is_ok();
        if let Err(e) = export::export(store.db(), workspace_id, &mut encoder, from, to, sent) {
            tracing::error!(error = %e, "a usage export failed mid-way");
            // An error item aborts the body: the client sees a cut transfer, not a short file.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = Body::from_stream(stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    Ok(([(header::CONTENT_TYPE, format.content_type()), (header::CACHE_CONTROL, "no-store")], body).into_response())
}
