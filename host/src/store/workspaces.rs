//! Workspaces: the unit of isolation. A connection, its keys, usage and limits
//! belong to exactly one; each has its own data key, wrapped by the master key.

use super::sql::{Db, Row};
use super::{StoreError, now_ms};
use crate::args;
use crate::escape::quoted_list;

/// A workspace row.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    /// The data key, wrapped by the master key (see [`crate::vault`]).
    pub wrapped_data_key: Vec<u8>,
    pub created_ms: i64,
}

fn from_row(r: &Row<'_>) -> Result<Workspace, StoreError> {
    Ok(Workspace { id: r.get(0)?, name: r.get(1)?, wrapped_data_key: r.get(2)?, created_ms: r.get(3)? })
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
    Ok(Workspace { id, name: name.into(), wrapped_data_key, created_ms })
}

/// The workspace called `name`, if any.
pub fn find(db: &Db, name: &str) -> Result<Option<Workspace>, StoreError> {
    db.query_opt("SELECT id, name, data_key, created_ms FROM workspaces WHERE name = ?1", args![name], from_row)
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
    db.query("SELECT id, name, data_key, created_ms FROM workspaces ORDER BY name", args![], from_row)
}

/// Replace a workspace's wrapped data key (master key rotation).
pub fn set_wrapped_key(db: &Db, id: i64, wrapped: &[u8]) -> Result<(), StoreError> {
    db.execute("UPDATE workspaces SET data_key = ?1 WHERE id = ?2", args![wrapped, id])?;
    Ok(())
}
