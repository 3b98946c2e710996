//! The operator's state in one SQLite file: workspaces, users and API tokens,
//! connections (secrets sealed by the [`crate::vault`]), the plugin registry,
//! the append-only audit log, usage events, price overrides and alerts.
//!
//! The file is opened in WAL mode with foreign keys on; its schema is versioned
//! in code ([`migrations`]) and upgraded in one transaction when opened.

pub mod alert_rows;
pub mod audit;
pub mod connection_rows;
pub mod definition_rows;
pub mod limit_rows;
mod migrations;
pub mod plugin_rows;
pub mod price_rows;
pub mod usage_rows;
pub mod users;
pub mod workspaces;

use crate::escape::Escaped;
use rusqlite::Connection as Db;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "llmnode.db";

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the store {path} has schema version {found}, newer than this llmnode understands ({supported}); upgrade llmnode"
    )]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{what} `{}` not found{scope}", Escaped(name))]
    NotFound { what: &'static str, name: String, scope: String },
    #[error("{what} `{}` already exists{scope}", Escaped(name))]
    Exists { what: &'static str, name: String, scope: String },
    #[error("store: malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
}

/// An open store. Not `Sync`: each thread or task opens its own (SQLite's WAL
/// lets readers and one writer work at once).
pub struct Store {
    db: Db,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        let created = !path.exists();
        let mut db = Db::open(path).map_err(open_err)?;
        #[cfg(unix)]
        if created {
            // Sealed secrets are safe at rest, but names, settings and the audit
            // log are the operator's business only.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        db.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        db.pragma_update(None, "foreign_keys", true).map_err(open_err)?;
        db.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        db.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        migrations::apply(&mut db, path)?;
        Ok(Store { db, path: path.to_path_buf() })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite connection, for the query functions of this module's
    /// submodules (which take `&rusqlite::Connection` so they also run inside
    /// transactions).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Run `f` in one transaction: all its writes land, or none do. `f` may
    /// fail with the caller's own error type (e.g. a vault error mid-write).
    /// The write lock is taken at the start (waiting for another process's
    /// writer like any lock): a transaction that read first and wrote later
    /// would fail at once with "database is locked" whenever another process
    /// (two operators' commands, a daemon) had written in between.
    pub fn transaction<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx =
            self.db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(StoreError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }
}

/// A UTC day in milliseconds: daily budgets, spend alerts and reports count by it.
pub const DAY_MS: i64 = 86_400_000;

/// The first millisecond of the UTC day holding `ms`.
pub fn day_start_ms(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests;
