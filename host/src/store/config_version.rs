//! The configuration's version: one counter, bumped in the transaction of
//! every audited change. Daemons sharing a store compare it to what they
//! last applied instead of watching audit ids, which are assigned before
//! commit (a late commit under a lower id would be missed). The bump takes
//! the counter's row lock, so versions commit in order; on PostgreSQL it
//! also notifies [`CHANNEL`] on commit, so listeners wake at once.

use super::StoreError;
use super::sql::{Backend, Db};
use crate::args;

/// The PostgreSQL notification channel a change is announced on.
pub const CHANNEL: &str = "llmnode_config";

/// Bump the version inside the caller's transaction; the new version.
pub fn bump(db: &Db) -> Result<i64, StoreError> {
    let version: i64 =
        db.query_one("UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version", args![], |r| {
            r.get(0)
        })?;
    if db.backend() == Backend::Postgres {
        db.execute("SELECT pg_notify(?1, ?2)", args![CHANNEL, version.to_string()])?;
    }
    Ok(version)
}

/// The version committed last.
pub fn current(db: &Db) -> Result<i64, StoreError> {
    db.query_one("SELECT version FROM config_version WHERE id = 1", args![], |r| r.get(0))
}

/// Something to wait on for changes at `location`: on PostgreSQL, woken by
/// [`CHANNEL`]'s notifications; `None` on SQLite (watchers poll [`current`]).
pub fn wakeups(location: &super::Location) -> Result<Option<std::sync::Arc<tokio::sync::Notify>>, StoreError> {
    match location {
        super::Location::Sqlite(_) => Ok(None),
        super::Location::Postgres(url) => super::sql::postgres::listen(url, CHANNEL).map(Some),
    }
}
