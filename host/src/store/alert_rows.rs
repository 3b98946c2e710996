//! Alert settings and channels per workspace (each channel's secret sealed:
//! a webhook URL often carries a token, an SMTP password is one) and the
//! alerts that fired. The unique key on (workspace, kind, subject, window)
//! is what makes a condition alert once per window.

use super::sql::Db;
use super::{StoreError, now_ms};
use crate::alerts::{AlertSettings, ChannelSettings, Condition};
use crate::args;
use serde::Serialize;

/// The thresholds of `workspace_id` (defaults if never set).
pub fn settings(db: &Db, workspace_id: i64) -> Result<AlertSettings, StoreError> {
    let row: Option<String> =
        db.query_opt("SELECT settings FROM alert_settings WHERE workspace_id = ?1", args![workspace_id], |r| r.get(0))?;
    let Some(json) = row else { return Ok(AlertSettings::default()) };
    serde_json::from_str(&json).map_err(|e| StoreError::Malformed { what: "alert settings", detail: e.to_string() })
}

/// Replace the thresholds of `workspace_id`.
pub fn put_settings(db: &Db, workspace_id: i64, s: &AlertSettings) -> Result<(), StoreError> {
    let json = serde_json::to_string(s)
        .map_err(|e| StoreError::Malformed { what: "alert settings", detail: e.to_string() })?;
    db.execute(
        "INSERT INTO alert_settings (workspace_id, settings, updated_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (workspace_id) DO UPDATE SET settings = ?2, updated_ms = ?3",
        args![workspace_id, json, now_ms()],
    )?;
    Ok(())
}

/// One alert channel as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRow {
    pub name: String,
    pub settings: ChannelSettings,
    /// The webhook URL or SMTP password, sealed under the workspace's data key.
    #[serde(skip)]
    pub secret_sealed: Option<Vec<u8>>,
    /// What operators see of where it delivers.
    pub hint: String,
}

/// The channels of `workspace_id`, by name.
pub fn channels(db: &Db, workspace_id: i64) -> Result<Vec<ChannelRow>, StoreError> {
    let rows: Vec<(String, String, Option<Vec<u8>>, String)> = db.query(
        "SELECT name, settings, secret_sealed, hint FROM alert_channels WHERE workspace_id = ?1 ORDER BY name",
        args![workspace_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    rows.into_iter()
        .map(|(name, json, secret_sealed, hint)| {
            let settings = serde_json::from_str(&json).map_err(|e| StoreError::Malformed {
                what: "alert channel",
                detail: format!("channel `{name}`: {e}"),
            })?;
            Ok(ChannelRow { name, settings, secret_sealed, hint })
        })
        .collect()
}

/// Add channel `c` to `workspace_id`, or replace the one of its name.
pub fn put_channel(db: &Db, workspace_id: i64, c: &ChannelRow) -> Result<(), StoreError> {
    let json = serde_json::to_string(&c.settings)
        .map_err(|e| StoreError::Malformed { what: "alert channel", detail: e.to_string() })?;
    db.execute(
        "INSERT INTO alert_channels (workspace_id, name, settings, secret_sealed, hint, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (workspace_id, name) DO UPDATE SET settings = ?3, \
         secret_sealed = ?4, hint = ?5, updated_ms = ?6",
        args![workspace_id, c.name, json, c.secret_sealed, c.hint, now_ms()],
    )?;
    Ok(())
}

/// Remove channel `name` of `workspace_id`; whether there was one.
pub fn remove_channel(db: &Db, workspace_id: i64, name: &str) -> Result<bool, StoreError> {
    let n =
        db.execute("DELETE FROM alert_channels WHERE workspace_id = ?1 AND name = ?2", args![workspace_id, name])?;
    Ok(n > 0)
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
    /// When a channel took it; `None` if not (yet) delivered or no channel.
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
