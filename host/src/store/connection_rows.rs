//! Connections as stored: public settings as JSON, each secret sealed in its
//! own row of `connection_secrets` with a masked hint beside it. Nothing here
//! decrypts; the vault does, at the moment a request is signed.

use super::sql::{Db, Row};
use super::{StoreError, now_ms};
use crate::args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A connection's public settings: everything an operator may see. Each
/// `None` (or empty) means "not set": the plugin's or the host's default
/// applies ([`crate::admin::effective`] says which).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredSettings {
    /// Overrides the plugin's default base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Organization or project id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Non-secret custom headers (secret ones are sealed as `header:NAME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Provider-specific options handed to the plugin as they are (e.g.
    /// Azure's `api_version`, Vertex's `vertex_project`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Models workflows may use through this connection; empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Model used when a node names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    /// Requests per minute allowed; 0: no limit, even where the plugin declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute allowed; 0: no limit, even where the plugin declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    /// Spend allowed per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget_usd: Option<f64>,
    /// Time allowed for an answer, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    /// Seconds to wait for RPM/TPM capacity before failing over (default 0: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_secs: Option<f64>,
    /// Longest silence inside a stream, in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout_secs: Option<f64>,
    /// Retries of a transient failure on this connection (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// `true`: mark prompt prefixes for the provider's cache on every call;
    /// `false`: never, whatever a node asks; unset: only where a node asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_caching: Option<bool>,
    /// How long cached prefixes live, where the provider lets us choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_secs: Option<u32>,
    /// `false`: a node that streams is served by one whole (non-streamed)
    /// call here, its answer delivered as a single chunk.
    #[serde(default = "yes")]
    pub streaming: bool,
}

fn yes() -> bool {
    true
}

impl Default for StoredSettings {
    /// Nothing set; streaming allowed.
    fn default() -> Self {
        StoredSettings {
            base_url: None,
            organization: None,
            headers: BTreeMap::new(),
            options: BTreeMap::new(),
            models: Vec::new(),
            default_model: None,
            rpm: None,
            tpm: None,
            daily_budget_usd: None,
            timeout_secs: None,
            queue_secs: None,
            stream_idle_timeout_secs: None,
            max_retries: None,
            prompt_caching: None,
            cache_ttl_secs: None,
            streaming: true,
        }
    }
}

/// A stored connection, secrets as hints only.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub provider: String,
    pub settings: StoredSettings,
    pub enabled: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Each sealed secret as a masked hint, with when it was last set.
    pub secret_hints: Vec<SecretHint>,
    /// The approval its pending change (creation, or a new base URL or
    /// key) awaits, if any.
    pub pending_approval: Option<i64>,
}

/// What operators may see of a sealed secret: which field, a masked hint, and
/// its age (when it was last set: rotation is due after the workspace's
/// `rotation_days`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretHint {
    pub field: String,
    pub hint: String,
    pub set_ms: i64,
}

impl SecretHint {
    /// Whole days since the secret was set, at `now_ms`.
    pub fn age_days(&self, now_ms: i64) -> i64 {
        (now_ms - self.set_ms).max(0) / super::DAY_MS
    }
}

const COLUMNS: &str = "id, workspace_id, name, provider, settings, enabled, created_ms, updated_ms";

fn from_row(r: &Row<'_>) -> Result<(ConnectionRow, String), StoreError> {
    Ok((
        ConnectionRow {
            id: r.get(0)?,
            workspace_id: r.get(1)?,
            name: r.get(2)?,
            provider: r.get(3)?,
            settings: StoredSettings::default(),
            enabled: r.get(5)?,
            created_ms: r.get(6)?,
            updated_ms: r.get(7)?,
            secret_hints: Vec::new(),
            pending_approval: None,
        },
        r.get(4)?,
    ))
}

fn complete(db: &Db, (mut row, settings): (ConnectionRow, String)) -> Result<ConnectionRow, StoreError> {
    row.settings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::Malformed { what: "connection settings", detail: format!("`{}`: {e}", row.name) })?;
    row.secret_hints = db.query(
        "SELECT field, hint, set_ms FROM connection_secrets WHERE connection_id = ?1 ORDER BY field",
        args![row.id],
        |r| Ok(SecretHint { field: r.get(0)?, hint: r.get(1)?, set_ms: r.get(2)? }),
    )?;
    row.pending_approval = super::approval_rows::pending_for_connection(db, row.workspace_id, &row.name)?.map(|a| a.id);
    Ok(row)
}

/// " in workspace `NAME`", for errors.
fn scope(db: &Db, workspace_id: i64) -> String {
    let name: Option<String> =
        db.query_opt("SELECT name FROM workspaces WHERE id = ?1", args![workspace_id], |r| r.get(0)).ok().flatten();
    format!(" in workspace `{}`", crate::escape::Escaped(name.as_deref().unwrap_or("?")))
}

/// Insert a connection (without secrets; add them with [`put_secret`]).
pub fn insert(
    db: &Db,
    workspace_id: i64,
    name: &str,
    provider: &str,
    settings: &StoredSettings,
) -> Result<i64, StoreError> {
    if find(db, workspace_id, name)?.is_some() {
        return Err(StoreError::Exists { what: "connection", name: name.into(), scope: scope(db, workspace_id) });
    }
    let now = now_ms();
    let json = serde_json::to_string(settings)
        .map_err(|e| StoreError::Malformed { what: "settings", detail: e.to_string() })?;
    db.query_one(
        "INSERT INTO connections (workspace_id, name, provider, settings, enabled, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5) RETURNING id",
        args![workspace_id, name, provider, json, now],
        |r| r.get(0),
    )
}

/// The connection `name` of a workspace, if any.
pub fn find(db: &Db, workspace_id: i64, name: &str) -> Result<Option<ConnectionRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM connections WHERE workspace_id = ?1 AND name = ?2");
    let raw = db.query_opt(&sql, args![workspace_id, name], from_row)?;
    raw.map(|raw| complete(db, raw)).transpose()
}

/// The connection `name` of a workspace, or a clear error.
pub fn get(db: &Db, workspace_id: i64, name: &str) -> Result<ConnectionRow, StoreError> {
    find(db, workspace_id, name)?.ok_or_else(|| StoreError::NotFound {
        what: "connection",
        name: name.into(),
        scope: scope(db, workspace_id),
    })
}

/// Every connection of a workspace, by name.
pub fn list(db: &Db, workspace_id: i64) -> Result<Vec<ConnectionRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM connections WHERE workspace_id = ?1 ORDER BY name");
    let raws = db.query(&sql, args![workspace_id], from_row)?;
    raws.into_iter().map(|raw| complete(db, raw)).collect()
}

/// Replace a connection's public settings.
pub fn update_settings(db: &Db, id: i64, settings: &StoredSettings) -> Result<(), StoreError> {
    let json = serde_json::to_string(settings)
        .map_err(|e| StoreError::Malformed { what: "settings", detail: e.to_string() })?;
    db.execute("UPDATE connections SET settings = ?1, updated_ms = ?2 WHERE id = ?3", args![json, now_ms(), id])?;
    Ok(())
}

/// Enable or disable a connection.
pub fn set_enabled(db: &Db, id: i64, enabled: bool) -> Result<(), StoreError> {
    db.execute("UPDATE connections SET enabled = ?1, updated_ms = ?2 WHERE id = ?3", args![enabled, now_ms(), id])?;
    Ok(())
}

/// Delete a connection and its sealed secrets.
pub fn delete(db: &Db, id: i64) -> Result<(), StoreError> {
    db.execute("DELETE FROM connections WHERE id = ?1", args![id])?;
    Ok(())
}

/// Store (or replace) one sealed secret with its masked hint; its age starts now.
pub fn put_secret(db: &Db, connection_id: i64, field: &str, sealed: &[u8], hint: &str) -> Result<(), StoreError> {
    let now = now_ms();
    db.execute(
        "INSERT INTO connection_secrets (connection_id, field, sealed, hint, set_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (connection_id, field) DO UPDATE SET sealed = excluded.sealed, hint = excluded.hint, \
         set_ms = excluded.set_ms",
        args![connection_id, field, sealed, hint, now],
    )?;
    db.execute("UPDATE connections SET updated_ms = ?1 WHERE id = ?2", args![now, connection_id])?;
    Ok(())
}

/// Remove one secret.
pub fn remove_secret(db: &Db, connection_id: i64, field: &str) -> Result<(), StoreError> {
    db.execute("DELETE FROM connection_secrets WHERE connection_id = ?1 AND field = ?2", args![connection_id, field])?;
    Ok(())
}

/// The sealed secrets of a connection: (field, sealed bytes).
pub fn sealed_secrets(db: &Db, connection_id: i64) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    db.query(
        "SELECT field, sealed FROM connection_secrets WHERE connection_id = ?1 ORDER BY field",
        args![connection_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
