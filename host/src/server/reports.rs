//! What members read and admins configure besides connections: usage reports,
//! the audit log, alerts and their settings, and the loaded plugins.

use super::caller::Caller;
use super::error::ApiError;
use super::json_body::JsonBody;
use super::state::AppState;
use crate::admin::alerting::WebhookChange;
use crate::alerts::AlertSettings;
use crate::secret::Secret;
use crate::store::audit::{self, AuditFilter};
use crate::store::{DAY_MS, alert_rows, now_ms};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// `?days=&top=` of a usage report.
#[derive(Deserialize)]
pub struct UsageQuery {
    #[serde(default = "thirty")]
    days: u32,
    #[serde(default = "ten")]
    top: usize,
}

fn thirty() -> u32 {
    30
}

fn ten() -> usize {
    10
}

/// `GET /api/v1/usage`: requests per day, cost by model, top workflows and
/// per-connection totals (the same report as `llmnode usage --json`).
pub async fn usage(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    if !(1..=366).contains(&q.days) {
        return Err(ApiError::Invalid("`days` must be within 1 and 366".into()));
    }
    let store = state.store()?;
    let report = crate::usage::report::build(store.db(), caller.workspace_id, &caller.workspace, q.days, q.top)?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

/// Filters of the audit log.
#[derive(Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    target: Option<String>,
    actor: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/audit` (admin): the workspace's audit entries, newest first.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("reading the audit log")?;
    let filter = AuditFilter {
        workspace: Some(caller.workspace.clone()),
        action: q.action,
        target: q.target,
        actor: q.actor,
        since_ms: None,
        limit: Some(q.limit.unwrap_or(100).min(1000)),
    };
    let entries = audit::list(state.store()?.db(), &filter)?;
    Ok(Json(json!({ "entries": entries })))
}

/// `?days=&limit=` of the alert list.
#[derive(Deserialize)]
pub struct AlertsQuery {
    #[serde(default = "seven")]
    days: u32,
    #[serde(default = "hundred")]
    limit: u32,
}

fn seven() -> u32 {
    7
}

fn hundred() -> u32 {
    100
}

/// `GET /api/v1/alerts`: alerts that fired, newest first, with their delivery.
pub async fn alerts(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Value>, ApiError> {
    let since = now_ms() - i64::from(q.days) * DAY_MS;
    let rows = alert_rows::list(state.store()?.db(), caller.workspace_id, since, q.limit.min(1000))?;
    Ok(Json(json!({ "alerts": rows })))
}

/// `GET /api/v1/alerts/settings`: thresholds, and the webhook as a hint.
pub async fn alert_settings(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let stored = alert_rows::settings(state.store()?.db(), caller.workspace_id)?;
    Ok(Json(json!({ "settings": stored.settings, "webhook": stored.webhook_hint })))
}

/// The body of a settings change; `webhook_url: null` removes the webhook,
/// leaving it out keeps it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettingsBody {
    #[serde(default)]
    settings: Option<AlertSettings>,
    #[serde(default, deserialize_with = "present")]
    webhook_url: Option<Option<String>>,
}

/// Tells a field set to `null` from a missing one.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// `PUT /api/v1/alerts/settings` (admin).
pub async fn put_alert_settings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(body): JsonBody<AlertSettingsBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("changing alert settings")?;
    let mut admin = state.admin(caller.actor())?;
    let current = alert_rows::settings(admin.store.db(), caller.workspace_id)?;
    let webhook = match body.webhook_url {
        None => WebhookChange::Keep,
        Some(None) => WebhookChange::Remove,
        Some(Some(url)) => WebhookChange::Set(Secret::new(url)),
    };
    let settings = body.settings.unwrap_or(current.settings);
    admin.configure_alerts(&caller.workspace, settings, webhook).map_err(|e| match e {
        crate::admin::AdminError::Refused(m) => ApiError::Invalid(m),
        other => other.into(),
    })?;
    state.invalidate_workspace(caller.workspace_id);
    let stored = alert_rows::settings(admin.store.db(), caller.workspace_id)?;
    Ok(Json(json!({ "settings": stored.settings, "webhook": stored.webhook_hint })))
}

/// `GET /api/v1/plugins`: every loaded plugin with its models and capabilities.
pub async fn plugins(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<Value> {
    let plugins = state.plugins();
    let list: Vec<Value> = plugins
        .iter()
        .map(|p| {
            let info = p.info();
            json!({
                "name": p.name(), "version": info.version, "origin": p.origin(), "sha256": p.sha256(),
                "models": info.models.iter().map(|m| json!({ "id": m.id, "context_window": m.context_window })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "plugins": list }))
}
