//! Installed plugins: name, version, the contract version, the sha256 of the
//! file the operator approved, and where the copy lives. A file whose hash no longer matches is
//! refused at load time.

use super::sql::Db;
use super::{StoreError, now_ms};
use crate::args;
use serde::Serialize;

/// One installed plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginRow {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub file: String,
    pub added_ms: i64,
    /// The contract version the plugin was built against, e.g. `0.2.0`.
    pub contract_version: String,
}

/// What [`upsert`] records.
#[derive(Debug, Clone, Copy)]
pub struct NewPlugin<'a> {
    /// Name, version, contract version and sha256 as the plugin's info and
    /// bytes say; `file` is where the copy lives.
    pub name: &'a str,
    pub version: &'a str,
    pub contract_version: &'a str,
    pub sha256: &'a str,
    pub file: &'a str,
}

/// Record a plugin, replacing the same name and version.
pub fn upsert(db: &Db, p: NewPlugin<'_>) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO plugins (name, version, sha256, file, added_ms, contract_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (name, version) DO UPDATE SET sha256 = excluded.sha256, file = excluded.file, \
         added_ms = excluded.added_ms, contract_version = excluded.contract_version",
        args![p.name, p.version, p.sha256, p.file, now_ms(), p.contract_version],
    )?;
    Ok(())
}

/// Every installed plugin, by name then version.
pub fn list(db: &Db) -> Result<Vec<PluginRow>, StoreError> {
    db.query(
        "SELECT name, version, sha256, file, added_ms, contract_version FROM plugins ORDER BY name, version",
        args![],
        |r| {
            Ok(PluginRow {
                name: r.get(0)?,
                version: r.get(1)?,
                sha256: r.get(2)?,
                file: r.get(3)?,
                added_ms: r.get(4)?,
                contract_version: r.get(5)?,
            })
        },
    )
}

/// Remove every version of `name`; returns the removed rows.
pub fn remove(db: &Db, name: &str) -> Result<Vec<PluginRow>, StoreError> {
    let removed: Vec<PluginRow> = list(db)?.into_iter().filter(|p| p.name == name).collect();
    if removed.is_empty() {
        return Err(StoreError::NotFound { what: "plugin", name: name.into(), scope: String::new() });
    }
    db.execute("DELETE FROM plugins WHERE name = ?1", args![name])?;
    Ok(removed)
}
