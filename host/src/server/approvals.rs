//! `/api/v1/approvals` (members read, admins decide) and
//! `/api/v1/workspace/settings` (the approval workflow and the prompt
//! monitor's policy; admins change them, and only the operator at the CLI
//! turns approvals off, so one admin cannot lift the rule they are under).

use super::caller::Caller;
use super::error::ApiError;
use super::json_body::JsonBody;
use super::state::AppState;
use crate::store::workspaces::{self, WorkspaceSettings};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// `?all=true`: decided approvals too.
#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/v1/approvals`: pending ones, newest first (`?all=true`: every one).
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = state.admin(caller.actor())?.approvals(&caller.workspace, !q.all)?;
    Ok(Json(json!({ "approvals": rows })))
}

/// `POST /api/v1/approvals/{id}/approve` (admin, not the requester).
pub async fn approve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    decide(&state, &caller, id, true)
}

/// `POST /api/v1/approvals/{id}/reject` (admin).
pub async fn reject(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    decide(&state, &caller, id, false)
}

fn decide(state: &AppState, caller: &Caller, id: i64, approve: bool) -> Result<Json<Value>, ApiError> {
    caller.require_admin(if approve { "approving a change" } else { "rejecting a change" })?;
    let row = state.admin(caller.actor())?.decide_approval(&caller.workspace, id, approve)?;
    state.invalidate_workspace(caller.workspace_id);
    Ok(Json(json!(row)))
}

/// `GET /api/v1/workspace/settings`.
pub async fn settings(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let ws = workspaces::get(state.store()?.db(), &caller.workspace)?;
    Ok(Json(json!({ "workspace": ws.name, "settings": ws.settings })))
}

/// `PUT /api/v1/workspace/settings` (admin): the whole settings object.
pub async fn put_settings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(new): JsonBody<WorkspaceSettings>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("changing workspace settings")?;
    let mut admin = state.admin(caller.actor())?;
    let ws = workspaces::get(admin.store.db(), &caller.workspace)?;
    if ws.settings.require_approval && !new.require_approval {
        return Err(ApiError::Forbidden(format!(
            "approvals in workspace `{}` can only be turned off by the operator: \
             `llmnode workspaces set {} --require-approval false`",
            caller.workspace, caller.workspace
        )));
    }
    admin.set_workspace_settings(&caller.workspace, new)?;
    state.invalidate_workspace(caller.workspace_id);
    Ok(Json(json!({ "workspace": ws.name, "settings": new })))
}
