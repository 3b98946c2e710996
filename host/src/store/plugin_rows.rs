//! Installed plugins: name, version, the sha256 of the file the operator
//! approved, and where the copy lives. A file whose hash no longer matches is
//! refused at load time.

use super::{StoreError, now_ms};
use rusqlite::{Connection, params};
use serde::Serialize;

/// One installed plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginRow {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub file: String,
    pub added_ms: i64,
}

/// Record a plugin, replacing the same name and version.
pub fn upsert(db: &Connection, name: &str, version: &str, sha256: &str, file: &str) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO plugins (name, version, sha256, file, added_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (name, version) DO UPDATE SET sha256 = excluded.sha256, file = excluded.file, added_ms = excluded.added_ms",
        params![name, version, sha256, file, now_ms()],
    )?;
    Ok(())
}

/// Every installed plugin, by name then version.
pub fn list(db: &Connection) -> Result<Vec<PluginRow>, StoreError> {
    let mut stmt = db.prepare("SELECT name, version, sha256, file, added_ms FROM plugins ORDER BY name, version")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(PluginRow {
                name: r.get(0)?,
                version: r.get(1)?,
                sha256: r.get(2)?,
                file: r.get(3)?,
                added_ms: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Remove every version of `name`; returns the removed rows.
pub fn remove(db: &Connection, name: &str) -> Result<Vec<PluginRow>, StoreError> {
    let removed: Vec<PluginRow> = list(db)?.into_iter().filter(|p| p.name == name).collect();
    if removed.is_empty() {
        return Err(StoreError::NotFound { what: "plugin", name: name.into(), scope: String::new() });
    }
    db.execute("DELETE FROM plugins WHERE name = ?1", [name])?;
    Ok(removed)
}
