//! `/api/v1/workflows` and `/api/v1/routes`: named definitions a workspace
//! keeps. Both are validated (a workflow against the workspace's connections,
//! a route by the workflow parser, both names by [`crate::names`] when
//! stored) before anything is stored.

use super::caller::Caller;
use super::chat_routes;
use super::error::ApiError;
use super::state::AppState;
use crate::store::connection_rows;
use crate::store::definition_rows::{self, Kind};
use crate::workflow::Workflow;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// Parse and validate a workflow text against the caller's connections.
pub fn validate_workflow(state: &AppState, caller: &Caller, text: &str) -> Result<Workflow, ApiError> {
    let workflow = Workflow::parse(text).map_err(|e| ApiError::Invalid(format!("invalid workflow:\n{e}")))?;
    let known = known_connections(state, caller)?;
    workflow
        .check_connections(|name| known.iter().any(|k| k == name))
        .map_err(|e| ApiError::Invalid(format!("invalid workflow:\n{e}")))?;
    Ok(workflow)
}

fn known_connections(state: &AppState, caller: &Caller) -> Result<Vec<String>, ApiError> {
    let store = state.store()?;
    Ok(connection_rows::list(store.db(), caller.workspace_id)?.into_iter().map(|r| r.name).collect())
}

fn list(state: &AppState, caller: &Caller, kind: Kind) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    let rows = definition_rows::list(store.db(), caller.workspace_id, kind)?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "name": r.name, "connections": r.connections, "updated_ms": r.updated_ms }))
        .collect();
    Ok(Json(json!({ format!("{}s", kind.as_str()): items })))
}

fn get(state: &AppState, caller: &Caller, kind: Kind, name: &str) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    let row = definition_rows::get(store.db(), caller.workspace_id, kind, name)?.ok_or_else(|| {
        ApiError::NotFound(format!("no {} `{name}` in workspace `{}`", kind.as_str(), caller.workspace))
    })?;
    Ok(Json(json!({ "name": row.name, "definition": row.body, "connections": row.connections,
        "created_ms": row.created_ms, "updated_ms": row.updated_ms })))
}

fn put(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    name: &str,
    body: &str,
    connections: Vec<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = state.admin(caller.actor())?.put_definition(&caller.workspace, kind, name, body, &connections)?;
    refresh(state, caller, kind);
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "name": name, "connections": connections, "created": created }))))
}

fn delete(state: &AppState, caller: &Caller, kind: Kind, name: &str) -> Result<StatusCode, ApiError> {
    state.admin(caller.actor())?.delete_definition(&caller.workspace, kind, name)?;
    refresh(state, caller, kind);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/workflows`.
pub async fn list_workflows(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    list(&state, &caller, Kind::Workflow)
}

/// `GET /api/v1/workflows/{name}`.
pub async fn get_workflow(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    get(&state, &caller, Kind::Workflow, &name)
}

/// `PUT /api/v1/workflows/{name}` (members): the body is the workflow JSON;
/// its `name` must be the one in the path.
pub async fn put_workflow(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::Invalid("the workflow is not UTF-8".into()))?;
    let workflow = validate_workflow(&state, &caller, text)?;
    if workflow.name != name {
        return Err(ApiError::Invalid(format!(
            "the workflow's name is `{}` but it is stored as `{name}`: make them agree",
            workflow.name
        )));
    }
    let connections: Vec<String> = workflow.connection_names().into_iter().map(str::to_string).collect();
    put(&state, &caller, Kind::Workflow, &name, text, connections)
}

/// `DELETE /api/v1/workflows/{name}` (members).
pub async fn delete_workflow(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete(&state, &caller, Kind::Workflow, &name)
}

/// `GET /api/v1/routes`.
pub async fn list_routes(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    list(&state, &caller, Kind::Route)
}

/// `GET /api/v1/routes/{name}`.
pub async fn get_route(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    get(&state, &caller, Kind::Route, &name)
}

/// `PUT /api/v1/routes/{name}` (admin): the model name `name` on the
/// OpenAI-compatible endpoint, served by the llm-node routing in the body.
pub async fn put_route(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin("storing a route")?;
    let value: Value = super::json_body::decode(&body)?;
    let route = chat_routes::parse_route(&value)?;
    let connections: Vec<String> = route.connection_names().map(str::to_string).collect();
    let known = known_connections(&state, &caller)?;
    if let Some(unknown) = connections.iter().find(|c| !known.contains(c)) {
        return Err(ApiError::Invalid(format!(
            "the route names connection `{unknown}`, which workspace `{}` does not have",
            caller.workspace
        )));
    }
    put(&state, &caller, Kind::Route, &name, &value.to_string(), connections)
}

/// `DELETE /api/v1/routes/{name}` (admin).
pub async fn delete_route(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin("deleting a route")?;
    delete(&state, &caller, Kind::Route, &name)
}

/// A route changes how model names resolve, so the workspace's engine is
/// rebuilt; a stored workflow is read at run time and rebuilds nothing.
fn refresh(state: &AppState, caller: &Caller, kind: Kind) {
    if kind == Kind::Route {
        state.invalidate_workspace(caller.workspace_id);
    }
}
