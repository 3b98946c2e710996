//! Workspaces: the unit of isolation. A connection, its keys, usage and limits
//! belong to exactly one; each has its own data key, wrapped by the master key.

use super::{StoreError, now_ms};
use crate::escape::quoted_list;
use rusqlite::{Connection, OptionalExtension, params};

/// A workspace row.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    /// The data key, wrapped by the master key (see [`crate::vault`]).
    pub wrapped_data_key: Vec<u8>,
    pub created_ms: i64,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace { id: r.get(0)?, name: r.get(1)?, wrapped_data_key: r.get(2)?, created_ms: r.get(3)? })
}

/// Create `name`. The data key is wrapped by the caller, which knows the new
/// row's id only afterwards: `wrap` gets it and returns the wrapped key (or
/// its own error; run this in a transaction so a failure leaves no row).
pub fn create<E: From<StoreError>>(
    db: &Connection,
    name: &str,
    wrap: impl FnOnce(i64) -> Result<Vec<u8>, E>,
) -> Result<Workspace, E> {
    if find(db, name)?.is_some() {
        return Err(StoreError::Exists { what: "workspace", name: name.into(), scope: String::new() }.into());
    }
    let created_ms = now_ms();
    db.execute("INSERT INTO workspaces (name, data_key, created_ms) VALUES (?1, x'', ?2)", params![name, created_ms])
        .map_err(StoreError::from)?;
    let id = db.last_insert_rowid();
    let wrapped_data_key = wrap(id)?;
    db.execute("UPDATE workspaces SET data_key = ?1 WHERE id = ?2", params![wrapped_data_key, id])
        .map_err(StoreError::from)?;
    Ok(Workspace { id, name: name.into(), wrapped_data_key, created_ms })
}

/// The workspace called `name`, if any.
pub fn find(db: &Connection, name: &str) -> Result<Option<Workspace>, StoreError> {
    Ok(db
        .query_row("SELECT id, name, data_key, created_ms FROM workspaces WHERE name = ?1", [name], from_row)
        .optional()?)
}

/// The workspace called `name`, or an error naming the ones that exist.
pub fn get(db: &Connection, name: &str) -> Result<Workspace, StoreError> {
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
pub fn list(db: &Connection) -> Result<Vec<Workspace>, StoreError> {
    let mut stmt = db.prepare("SELECT id, name, data_key, created_ms FROM workspaces ORDER BY name")?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Replace a workspace's wrapped data key (master key rotation).
pub fn set_wrapped_key(db: &Connection, id: i64, wrapped: &[u8]) -> Result<(), StoreError> {
    db.execute("UPDATE workspaces SET data_key = ?1 WHERE id = ?2", params![wrapped, id])?;
    Ok(())
}
