//! Workspaces: the unit of isolation. A connection, its keys, usage and limits
//! belong to exactly one; each has its own data key, wrapped by the master key.

use super::sql::{Db, Row};
use super::{StoreError, now_ms};
use crate::args;
use crate::escape::quoted_list;
use serde::{Deserialize, Serialize};

/// A workspace row.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    /// The data key, wrapped by the master key (see [`crate::vault`]).
    pub wrapped_data_key: Vec<u8>,
    pub created_ms: i64,
    pub settings: WorkspaceSettings,
}

/// How a workspace is governed: stored as JSON, every field defaulted, so a
/// workspace that never set any has the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceSettings {
    /// A new connection, a changed base URL or key, and an installed plugin
    /// wait for a second admin's approval before they serve.
    pub require_approval: bool,
    /// What the prompt monitor does with each detector's hits.
    pub monitor: crate::monitor::Policy,
}

const COLUMNS: &str = "id, name, data_key, created_ms, settings";

fn from_row(r: &Row<'_>) -> Result<Workspace, StoreError> {
    let name: String = r.get(1)?;
    let settings: String = r.get(4)?;
    let settings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::Malformed { what: "workspace settings", detail: format!("`{name}`: {e}") })?;
    Ok(Workspace { id: r.get(0)?, name, wrapped_data_key: r.get(2)?, created_ms: r.get(3)?, settings })
}

/// Create `name`. The data key is wrapped by the caller, which knows the new
/// row's id only afterwards: `wrap` gets it and returns the wrapped key (or
/// its own error; run this in a transaction so a failure leaves no row).
pub fn create<E: From<StoreError>>(
    db: &Db,
    name: &str,
    wrap: impl FnOnce(i64) -> Result<Vec<u8>, E>,
) -> Result<Workspace, E> {
    if find(db, name)?.is_some() {
        return Err(StoreError::Exists { what: "workspace", name: name.into(), scope: String::new() }.into());
    }
    let created_ms = now_ms();
    let id = db.query_one(
        "INSERT INTO workspaces (name, data_key, created_ms) VALUES (?1, ?2, ?3) RETURNING id",
        args![name, b"".as_slice(), created_ms],
        |r| r.get(0),
    )?;
    let wrapped_data_key = wrap(id)?;
    db.execute("UPDATE workspaces SET data_key = ?1 WHERE id = ?2", args![wrapped_data_key, id])?;
    Ok(Workspace { id, name: name.into(), wrapped_data_key, created_ms, settings: WorkspaceSettings::default() })
}

/// The workspace called `name`, if any.
pub fn find(db: &Db, name: &str) -> Result<Option<Workspace>, StoreError> {
    db.query_opt(&format!("SELECT {COLUMNS} FROM workspaces WHERE name = ?1"), args![name], from_row)
}

/// The workspace called `name`, or an error naming the ones that exist.
pub fn get(db: &Db, name: &str) -> Result<Workspace, StoreError> {
    if let Some(ws) = find(db, name)? {
        return Ok(ws);
    }
    let existing: Vec<String> = list(db)?.into_iter().map(|w| w.name).collect();
    let scope = match existing.is_empty() {
        true => " (there are no workspaces yet)".to_string(),
        false => format!(" (workspaces: {})", quoted_list(&existing)),
    };
    Err(StoreError::NotFound { what: "workspace", name: name.into(), scope })
}

/// Every workspace, by name.
pub fn list(db: &Db) -> Result<Vec<Workspace>, StoreError> {
    db.query(&format!("SELECT {COLUMNS} FROM workspaces ORDER BY name"), args![], from_row)
}

/// Replace a workspace's wrapped data key (master key rotation).
pub fn set_wrapped_key(db: &Db, id: i64, wrapped: &[u8]) -> Result<(), StoreError> {
    db.execute("UPDATE workspaces SET data_key = ?1 WHERE id = ?2", args![wrapped, id])?;
    Ok(())
}

/// Replace a workspace's settings.
pub fn put_settings(db: &Db, id: i64, settings: &WorkspaceSettings) -> Result<(), StoreError> {
    let json = serde_json::to_string(settings)
        .map_err(|e| StoreError::Malformed { what: "workspace settings", detail: e.to_string() })?;
    db.execute("UPDATE workspaces SET settings = ?1 WHERE id = ?2", args![json, id])?;
    Ok(())
}
