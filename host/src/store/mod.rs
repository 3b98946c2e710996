//! The operator's state: workspaces, users and API tokens, connections
//! (secrets sealed by the [`crate::vault`]), the plugin registry, the
//! append-only audit log, usage events, price overrides and alerts.
//!
//! It lives in one SQLite file by default (WAL mode, foreign keys on) or on a
//! PostgreSQL server that several daemons share ([`Location`]); the modules
//! below write each statement once for both ([`sql`]). The schema is
//! versioned in code ([`migrations`]) and upgraded in one transaction when a
//! store is first opened.

pub mod alert_rows;
pub mod approval_rows;
pub mod audit;
pub mod config_version;
pub mod connection_rows;
pub mod definition_rows;
pub mod limit_rows;
mod location;
mod migrations;
pub mod plugin_rows;
pub mod price_rows;
pub mod sql;
pub mod usage_rows;
pub mod users;
pub mod volume_rows;
pub mod workspaces;

pub use location::{Location, STORE_URL_ENV};
pub use sql::Db;

use crate::escape::Escaped;
use sql::postgres::PgConn;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "llmnode.db";

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the store {location} has schema version {found}, newer than this llmnode understands ({supported}); upgrade llmnode"
    )]
    TooNew { location: String, found: i64, supported: i64 },
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store (PostgreSQL): {0}")]
    Postgres(String),
    #[error("{what} `{}` not found{scope}", Escaped(name))]
    NotFound { what: &'static str, name: String, scope: String },
    #[error("{what} `{}` already exists{scope}", Escaped(name))]
    Exists { what: &'static str, name: String, scope: String },
    #[error("store: malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
}

/// An open store. Not `Sync`: each thread or task opens its own (SQLite's WAL
/// lets readers and one writer work at once; PostgreSQL connections come
/// from a pool and go back to it when the store is dropped).
pub struct Store {
    db: Db,
    location: Location,
}

impl Store {
    /// Open (creating if needed) the store at `location` and bring its schema
    /// up to date.
    pub fn open(location: impl Into<Location>) -> Result<Self, StoreError> {
        let location = location.into();
        let db = match &location {
            Location::Sqlite(path) => Db::sqlite(open_sqlite(path)?),
            Location::Postgres(url) => {
                let conn = PgConn::checkout(url)?;
                let pool = conn.pool().clone();
                let db = Db::postgres(conn);
                let mut migrated = pool.migrated.lock().unwrap_or_else(|e| e.into_inner());
                if !*migrated {
                    migrations::apply(&db, &location)?;
                    *migrated = true;
                }
                db
            }
        };
        if let Location::Sqlite(_) = location {
            migrations::apply(&db, &location)?;
        }
        Ok(Store { db, location })
    }

    /// Where the store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The connection, for the query functions of this module's submodules
    /// (which take `&Db` so they also run inside transactions).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Run `f` in one transaction: all its writes land, or none do. `f` may
    /// fail with the caller's own error type (e.g. a vault error mid-write).
    /// On SQLite the write lock is taken at the start (waiting for another
    /// process's writer like any lock): a transaction that read first and
    /// wrote later would fail at once with "database is locked" whenever
    /// another process had written in between.
    pub fn transaction<T, E: From<StoreError>>(&mut self, f: impl FnOnce(&Db) -> Result<T, E>) -> Result<T, E> {
        self.db.batch("BEGIN IMMEDIATE")?;
        let open = Open(&self.db);
        let value = f(open.0)?;
        // A commit that fails leaves the transaction to the guard's rollback.
        open.0.batch("COMMIT")?;
        std::mem::forget(open);
        Ok(value)
    }
}

/// A transaction that has begun: rolled back unless it was committed (an
/// error or a panic in the middle leaves nothing behind).
struct Open<'a>(&'a Db);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.batch("ROLLBACK") {
            tracing::warn!(error = %e, "store: rollback failed");
        }
    }
}

fn open_sqlite(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let created = !path.exists();
    let db = rusqlite::Connection::open(path).map_err(open_err)?;
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
    Ok(db)
}

/// What in-process caches of usage (the alert tally) compare to know
/// whether anyone else changed what they hold: the configuration's version
/// (settings, limits) and the newest usage event's id (another process's
/// runs). Writes that touch neither, such as the shared limits' windows on
/// every admission, leave them alone, so a busy daemon keeps its cache.
pub fn usage_marks(db: &Db) -> Result<(i64, i64), StoreError> {
    db.query_one(
        "SELECT (SELECT version FROM config_version WHERE id = 1), COALESCE((SELECT MAX(id) FROM usage_events), 0)",
        crate::args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
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
pub(crate) mod test_postgres;
#[cfg(test)]
mod tests;
