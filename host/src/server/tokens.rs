//! `/api/v1/tokens` (admins): list, create and revoke the workspace's API
//! tokens, as `llmnode tokens` does. A revocation through any daemon is
//! refused by every daemon on the store within a second (it is audited, and
//! the audit bumps the configuration version the daemons watch).

use super::caller::Caller;
use super::error::ApiError;
use super::json_body::JsonBody;
use super::state::AppState;
use crate::principal::TokenPolicy;
use crate::store::users::{self, Role};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /api/v1/tokens`: every token of the caller's workspace, newest first
/// (ids, users, roles, when; never a token or its hash).
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin("listing tokens")?;
    let tokens = users::list_tokens(state.store()?.db(), caller.workspace_id)?;
    Ok(Json(json!({ "tokens": tokens })))
}

/// The body of a create.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    user: String,
    role: String,
    /// The token's own daily budget, RPM and route/model allow-lists.
    #[serde(default)]
    limits: TokenPolicy,
}

/// `POST /api/v1/tokens`: a token for an existing user in the caller's
/// workspace; the token is in this answer and nowhere else, ever.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin("creating tokens")?;
    let role = Role::parse(&body.role).map_err(|_| ApiError::Invalid("`role` must be `admin` or `member`".into()))?;
    body.limits.validate().map_err(ApiError::Invalid)?;
    let (id, token) = state.admin(caller.actor())?.create_token(&body.user, &caller.workspace, role, &body.limits)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "user": body.user, "role": role, "token": token.expose() }))))
}

/// `DELETE /api/v1/tokens/{id}`: revoke a token of the caller's workspace.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("revoking tokens")?;
    state.admin(caller.actor())?.revoke_token(&caller.workspace, id)?;
    Ok(Json(json!({ "revoked": id })))
}
