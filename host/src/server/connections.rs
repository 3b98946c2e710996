//! `/api/v1/connections`: list, show and what uses one (members), create, edit, test,
//! enable, disable and delete (admins). Keys arrive in the body's `secrets`
//! object and leave only as hints.

use super::caller::Caller;
use super::error::ApiError;
use super::json_body::{self, JsonBody};
use super::state::AppState;
use crate::admin::connections::{Edit, NewConnection};
use crate::secret::Secret;
use crate::store::connection_rows::{self, StoredSettings};
use crate::store::workspaces;
use crate::transport::Credentials;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `GET /api/v1/me`: who the token belongs to.
pub async fn me(caller: Caller) -> Json<Value> {
    Json(json!({
        "user": caller.user, "token_id": caller.token_id,
        "workspace": caller.workspace, "role": caller.role,
    }))
}

/// `GET /api/v1/connections`.
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let admin = state.admin(caller.actor())?;
    let all = admin.overview(&caller.workspace, None)?;
    Ok(Json(json!({ "connections": all.iter().map(|o| o.to_json()).collect::<Vec<_>>() })))
}

/// `GET /api/v1/connections/{name}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let admin = state.admin(caller.actor())?;
    let one = admin.overview(&caller.workspace, Some(&name))?;
    let plugins = state.plugins();
    Ok(Json(one[0].to_json_effective(plugins.get(&one[0].row.provider).map(|p| &**p))))
}

/// `GET /api/v1/connections/{name}/used-by`: the workflows and routes that
/// disabling or deleting it would break, for a confirmation that names them.
pub async fn used_by(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let used_by = state.admin(caller.actor())?.connection_used_by(&caller.workspace, &name)?;
    Ok(Json(json!({ "connection": name, "used_by": used_by })))
}

/// The body of a create.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    provider: String,
    #[serde(default)]
    settings: Option<StoredSettings>,
    /// Secrets by field (`api_key`, `aws_secret_access_key`, `header:NAME`, …).
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    /// The server takes no credentials (a local one): no key although the
    /// plugin declares an auth scheme.
    #[serde(default)]
    no_key: bool,
}

/// The body of an edit: only what it names changes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    #[serde(default)]
    settings: Option<Map<String, Value>>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    remove_secrets: Vec<String>,
}

/// Secrets as [`Secret`]s, each field checked against the ones the host knows.
fn sealable(raw: BTreeMap<String, String>) -> Result<BTreeMap<String, Secret>, ApiError> {
    raw.into_iter()
        .map(|(field, value)| {
            Credentials::check_field(&field).map_err(|e| ApiError::Invalid(format!("secrets.{field}: {e}")))?;
            Ok((field, Secret::new(value.trim())))
        })
        .collect()
}

/// `POST /api/v1/connections` (admin).
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin("adding a connection")?;
    let plugins = state.plugins();
    let Some(plugin) = plugins.get(&body.provider) else {
        return Err(ApiError::Invalid(format!(
            "no plugin provides {:?} (loaded: {})",
            body.provider,
            plugins.names().join(", ")
        )));
    };
    let auth = plugin.info().auth;
    let settings = body.settings.unwrap_or_default();
    let secrets = sealable(body.secrets)?;
    let mut admin = state.admin(caller.actor())?;
    let new = NewConnection { name: body.name, provider: body.provider, settings, secrets, auth, no_key: body.no_key };
    let row = admin.add_connection(&caller.workspace, new)?;
    state.invalidate_workspace(caller.workspace_id);
    let one = admin.overview(&caller.workspace, Some(&row.name))?;
    // A connection awaiting approval is accepted, not yet created for use.
    let status = if row.pending_approval.is_some() { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    Ok((status, Json(one[0].to_json())))
}

/// `PATCH /api/v1/connections/{name}` (admin).
pub async fn edit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<EditBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin("editing a connection")?;
    let mut admin = state.admin(caller.actor())?;
    let ws = workspaces::get(admin.store.db(), &caller.workspace)?;
    let current = connection_rows::get(admin.store.db(), ws.id, &name)?;
    let settings = match body.settings {
        None => None,
        Some(changes) => {
            let mut merged = serde_json::to_value(&current.settings).unwrap_or_default();
            if let Some(obj) = merged.as_object_mut() {
                obj.extend(changes);
            }
            let text = merged.to_string();
            let settings: StoredSettings = json_body::decode_as(text.as_bytes(), "settings")?;
            Some(settings)
        }
    };
    for field in &body.remove_secrets {
        Credentials::check_field(field).map_err(|e| ApiError::Invalid(format!("remove_secrets: {e}")))?;
    }
    let edit = Edit { settings, set_secrets: sealable(body.secrets)?, remove_secrets: body.remove_secrets };
    let row = admin.edit_connection(&caller.workspace, &name, edit)?;
    state.invalidate_workspace(caller.workspace_id);
    let one = admin.overview(&caller.workspace, Some(&name))?;
    // A staged edit is accepted; the approved version serves until it is decided.
    let status = if row.pending_approval.is_some() { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(one[0].to_json())))
}

/// `?force=true` on a delete.
#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// `?name=NAME&force=true` on a delete of the collection.
#[derive(Deserialize)]
pub struct DeleteNamedQuery {
    name: Option<String>,
    #[serde(default)]
    force: bool,
}

/// `DELETE /api/v1/connections/{name}` (admin); refused while a workflow or
/// route names the connection, unless forced.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    delete_checked(&state, &caller, &name, q.force)
}

/// `DELETE /api/v1/connections?name=NAME` (admin): the same delete, for a
/// name no path segment can carry (`""`, stored before names were checked),
/// so an operator can clean up through the API too.
pub async fn delete_named(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<DeleteNamedQuery>,
) -> Result<StatusCode, ApiError> {
    let name = q.name.ok_or_else(|| ApiError::Invalid("name the connection to delete: ?name=NAME".into()))?;
    delete_checked(&state, &caller, &name, q.force)
}

fn delete_checked(state: &AppState, caller: &Caller, name: &str, force: bool) -> Result<StatusCode, ApiError> {
    caller.require_admin("deleting a connection")?;
    state.admin(caller.actor())?.delete_connection_checked(&caller.workspace, name, force)?;
    state.invalidate_workspace(caller.workspace_id);
    Ok(StatusCode::NO_CONTENT)
}

/// `?model=` for a test.
#[derive(Deserialize)]
pub struct TestQuery {
    model: Option<String>,
}

/// `POST /api/v1/connections/{name}/test` (admin): key, reachability and
/// model access, reported apart.
pub async fn test(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<TestQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("testing a connection")?;
    let mut admin = state.admin(caller.actor())?;
    let outcome = admin.probe_connection(&caller.workspace, &name, q.model, &state.plugins()).await?;
    let passed = outcome.passed();
    let mut body = serde_json::to_value(&outcome).unwrap_or_default();
    body["passed"] = json!(passed);
    Ok(Json(body))
}

async fn set_enabled(state: &AppState, caller: &Caller, name: &str, enabled: bool) -> Result<Json<Value>, ApiError> {
    caller.require_admin(if enabled { "enabling a connection" } else { "disabling a connection" })?;
    let mut admin = state.admin(caller.actor())?;
    admin.set_connection_enabled(&caller.workspace, name, enabled)?;
    state.invalidate_workspace(caller.workspace_id);
    let one = admin.overview(&caller.workspace, Some(name))?;
    Ok(Json(one[0].to_json()))
}

/// `POST /api/v1/connections/{name}/enable` (admin).
pub async fn enable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&state, &caller, &name, true).await
}

/// `POST /api/v1/connections/{name}/disable` (admin).
pub async fn disable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&state, &caller, &name, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every public setting, each one set (a literal: a new field must be added here).
    fn every_setting() -> StoredSettings {
        StoredSettings {
            base_url: Some("http://127.0.0.1:1/v1".into()),
            organization: Some("org".into()),
            headers: BTreeMap::from([("x-a".into(), "1".into())]),
            options: BTreeMap::from([("api_version".into(), "1".into())]),
            models: vec!["m".into()],
            default_model: Some("m".into()),
            rpm: Some(1),
            tpm: Some(1),
            daily_budget_usd: Some(1.0),
            timeout_secs: Some(1.0),
            queue_secs: Some(1.0),
            stream_idle_timeout_secs: Some(1.0),
            max_retries: Some(1),
            prompt_caching: Some(true),
            cache_ttl_secs: Some(1),
            streaming: false,
        }
    }

    #[test]
    fn the_api_description_names_every_setting() {
        let spec: Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        let described: Vec<&String> =
            spec["components"]["schemas"]["ConnectionSettings"]["properties"].as_object().unwrap().keys().collect();
        let stored = serde_json::to_value(every_setting()).unwrap();
        let fields: Vec<&String> = stored.as_object().unwrap().keys().collect();
        let (mut a, mut b) = (described.clone(), fields.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "openapi.json's ConnectionSettings and StoredSettings differ");
    }
}
