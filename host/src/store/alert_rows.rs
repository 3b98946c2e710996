//! Alert settings per workspace (the webhook URL sealed, as it often carries
//! a token) and the alerts that fired. The unique key on (workspace, kind,
//! subject, window) is what makes a condition alert once per window.

use super::sql::Db;
use super::{StoreError, now_ms};
use crate::alerts::{AlertSettings, Condition};
use crate::args;
use serde::Serialize;

/// A workspace's alert settings as stored.
#[derive(Debug, Clone, Default)]
pub struct StoredAlertSettings {
    pub settings: AlertSettings,
    /// The webhook URL, sealed under the workspace's data key.
    pub webhook_sealed: Option<Vec<u8>>,
    /// What operators see of the webhook: scheme and host.
    pub webhook_hint: Option<String>,
}

/// The vault field the webhook URL is sealed as (bound to the workspace).
pub const WEBHOOK_FIELD: &str = "alerts.webhook_url";

/// The settings of `workspace_id` (defaults if never set).
pub fn settings(db: &Db, workspace_id: i64) -> Result<StoredAlertSettings, StoreError> {
    let row: Option<(String, Option<Vec<u8>>, Option<String>)> = db.query_opt(
        "SELECT settings, webhook_sealed, webhook_hint FROM alert_settings WHERE workspace_id = ?1",
        args![workspace_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let Some((json, webhook_sealed, webhook_hint)) = row else { return Ok(StoredAlertSettings::default()) };
    let settings = serde_json::from_str(&json)
        .map_err(|e| StoreError::Malformed { what: "alert settings", detail: e.to_string() })?;
    Ok(StoredAlertSettings { settings, webhook_sealed, webhook_hint })
}

/// Replace the settings of `workspace_id`.
pub fn put_settings(db: &Db, workspace_id: i64, s: &StoredAlertSettings) -> Result<(), StoreError> {
    let json = serde_json::to_string(&s.settings)
        .map_err(|e| StoreError::Malformed { what: "alert settings", detail: e.to_string() })?;
    db.execute(
        "INSERT INTO alert_settings (workspace_id, settings, webhook_sealed, webhook_hint, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (workspace_id) DO UPDATE SET settings = ?2, \
         webhook_sealed = ?3, webhook_hint = ?4, updated_ms = ?5",
        args![workspace_id, json, s.webhook_sealed, s.webhook_hint, now_ms()],
    )?;
    Ok(())
}

/// One alert that fired.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub window_start_ms: i64,
    pub fired_ms: i64,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    /// When the webhook took it; `None` if not (yet) delivered or no webhook.
    pub delivered_ms: Option<i64>,
    pub delivery_attempts: i64,
    pub delivery_error: Option<String>,
}

/// Record `c` unless it already alerted in its window; the new alert's id, if any.
pub fn fire(db: &Db, workspace_id: i64, c: &Condition, at_ms: i64) -> Result<Option<i64>, StoreError> {
    db.query_opt(
        "INSERT INTO alerts (workspace_id, kind, subject, window_start_ms, fired_ms, value, threshold, message) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING RETURNING id",
        args![workspace_id, c.kind.as_str(), c.subject, c.window_start_ms, at_ms, c.value, c.threshold, c.message],
        |r| r.get(0),
    )
}

/// Note one delivery attempt of alert `id`.
pub fn record_delivery(db: &Db, id: i64, error: Option<&str>) -> Result<(), StoreError> {
    db.execute(
        "UPDATE alerts SET delivery_attempts = delivery_attempts + 1, delivery_error = ?2, \
         delivered_ms = CASE WHEN CAST(?2 AS TEXT) IS NULL THEN ?3 ELSE delivered_ms END WHERE id = ?1",
        args![id, error, now_ms()],
    )?;
    Ok(())
}

/// Alerts of `workspace_id` fired since `since_ms`, newest first, at most `limit`.
pub fn list(db: &Db, workspace_id: i64, since_ms: i64, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
    db.query(
        "SELECT id, kind, subject, window_start_ms, fired_ms, value, threshold, message, delivered_ms, \
         delivery_attempts, delivery_error FROM alerts WHERE workspace_id = ?1 AND fired_ms >= ?2 \
         ORDER BY fired_ms DESC, id DESC LIMIT ?3",
        args![workspace_id, since_ms, limit],
        |r| {
            Ok(AlertRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                subject: r.get(2)?,
                window_start_ms: r.get(3)?,
                fired_ms: r.get(4)?,
                value: r.get(5)?,
                threshold: r.get(6)?,
                message: r.get(7)?,
                delivered_ms: r.get(8)?,
                delivery_attempts: r.get(9)?,
                delivery_error: r.get(10)?,
            })
        },
    )
}
