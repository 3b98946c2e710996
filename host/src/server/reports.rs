//! What members read and admins configure besides connections: usage reports,
//! the audit log, alerts and their settings, and the loaded plugins.

use super::caller::Caller;
use super::error::ApiError;
use super::json_body::JsonBody;
use super::state::AppState;
use crate::admin::alerting::WebhookChange;
use crate::alerts::channel::DEFAULT_WEBHOOK;
use crate::alerts::{AlertSettings, ChannelSettings};
use crate::secret::Secret;
use crate::store::audit::{self, AuditFilter};
use crate::store::{DAY_MS, alert_rows, now_ms};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
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

/// `GET /api/v1/alerts/settings`: thresholds, and the `webhook` channel as a hint.
pub async fn alert_settings(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    settings_body(state.store()?.db(), caller.workspace_id).map(Json)
}

/// Thresholds and the hint of the `webhook` channel, as the settings endpoints answer.
fn settings_body(db: &crate::store::Db, workspace_id: i64) -> Result<Value, ApiError> {
    let settings = alert_rows::settings(db, workspace_id)?;
    let webhook =
        alert_rows::channels(db, workspace_id)?.into_iter().find(|c| c.name == DEFAULT_WEBHOOK).map(|c| c.hint);
    Ok(json!({ "settings": settings, "webhook": webhook }))
}

/// The body of a settings change; `webhook_url: null` removes the `webhook`
/// channel, leaving it out keeps it.
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
    let settings = body.settings.unwrap_or(current);
    admin.configure_alerts(&caller.workspace, settings, webhook).map_err(|e| match e {
        crate::admin::AdminError::Refused(m) => ApiError::Invalid(m),
        other => other.into(),
    })?;
    state.invalidate_workspace(caller.workspace_id);
    settings_body(admin.store.db(), caller.workspace_id).map(Json)
}

/// `GET /api/v1/alerts/channels`: each channel's settings and hint, never its secret.
pub async fn alert_channels(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let channels = alert_rows::channels(state.store()?.db(), caller.workspace_id)?;
    Ok(Json(json!({ "channels": channels })))
}

/// The body of a channel change: its settings (tagged by `kind`) and its
/// secret (the webhook URL or the SMTP password; left out, the stored one
/// is kept).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    settings: ChannelSettings,
    #[serde(default)]
    secret: Option<String>,
}

/// `PUT /api/v1/alerts/channels/{name}` (admin): add or replace a channel.
pub async fn put_alert_channel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<ChannelBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin("changing alert channels")?;
    let mut admin = state.admin(caller.actor())?;
    let row = admin.put_alert_channel(&caller.workspace, &name, body.settings, body.secret.map(Secret::new))?;
    state.invalidate_workspace(caller.workspace_id);
    Ok(Json(json!(row)))
}

/// `DELETE /api/v1/alerts/channels/{name}` (admin).
pub async fn delete_alert_channel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin("changing alert channels")?;
    let mut admin = state.admin(caller.actor())?;
    admin.remove_alert_channel(&caller.workspace, &name)?;
    state.invalidate_workspace(caller.workspace_id);
    Ok(StatusCode::NO_CONTENT)
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
