//! The limits every process on this store shares: RPM/TPM windows (as
//! blobs the limits service reads and writes inside one transaction), the
//! day's spend per connection (booked with each usage event), the budget held
//! by calls in flight (released when its holder settles or dies), and the
//! circuit breakers.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

/// The window blob of `kind` (`rpm` or `tpm`), empty if none yet.
pub fn window(db: &Connection, workspace_id: i64, connection: &str, kind: &str) -> Result<Vec<u8>, StoreError> {
    let mut stmt = db.prepare_cached(
        "SELECT buckets FROM limit_windows WHERE workspace_id = ?1 AND connection = ?2 AND kind = ?3",
    )?;
    Ok(stmt.query_row(params![workspace_id, connection, kind], |r| r.get(0)).optional()?.unwrap_or_default())
}

/// Store the window blob of `kind`.
pub fn set_window(
    db: &Connection,
    workspace_id: i64,
    connection: &str,
    kind: &str,
    buckets: &[u8],
) -> Result<(), StoreError> {
    let mut stmt = db.prepare_cached(
        "INSERT INTO limit_windows (workspace_id, connection, kind, buckets) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace_id, connection, kind) DO UPDATE SET buckets = excluded.buckets",
    )?;
    stmt.execute(params![workspace_id, connection, kind, buckets])?;
    Ok(())
}

/// Add `nusd` to the connection's spend on `day`.
pub fn book_spend(db: &Connection, workspace_id: i64, connection: &str, day: i64, nusd: i64) -> Result<(), StoreError> {
    let mut stmt = db.prepare_cached(
        "INSERT INTO budget_days (workspace_id, connection, day, spent_nusd) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace_id, connection, day) DO UPDATE SET spent_nusd = spent_nusd + excluded.spent_nusd",
    )?;
    stmt.execute(params![workspace_id, connection, day, nusd])?;
    Ok(())
}

/// The connection's spend on `day` and the budget held for it by calls in flight.
pub fn budget(db: &Connection, workspace_id: i64, connection: &str, day: i64) -> Result<(i64, i64), StoreError> {
    let mut stmt = db.prepare_cached(
        "SELECT COALESCE((SELECT spent_nusd FROM budget_days \
                          WHERE workspace_id = ?1 AND connection = ?2 AND day = ?3), 0), \
                COALESCE((SELECT SUM(nusd) FROM budget_holds \
                          WHERE workspace_id = ?1 AND connection = ?2 AND day = ?3), 0)",
    )?;
    Ok(stmt.query_row(params![workspace_id, connection, day], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Hold `nusd` of the connection's budget on `day` for `holder`; the hold's id.
pub fn hold(
    db: &Connection,
    holder: &str,
    workspace_id: i64,
    connection: &str,
    day: i64,
    nusd: i64,
) -> Result<i64, StoreError> {
    let mut stmt = db.prepare_cached(
        "INSERT INTO budget_holds (holder, workspace_id, connection, day, nusd) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    stmt.execute(params![holder, workspace_id, connection, day, nusd])?;
    Ok(db.last_insert_rowid())
}

/// Release a hold.
pub fn release(db: &Connection, id: i64) -> Result<(), StoreError> {
    db.prepare_cached("DELETE FROM budget_holds WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// Record that `holder` is alive at `now_ms`.
pub fn beat(db: &Connection, holder: &str, now_ms: i64) -> Result<(), StoreError> {
    let mut stmt = db.prepare_cached(
        "INSERT INTO limit_holders (holder, heartbeat_ms) VALUES (?1, ?2) \
         ON CONFLICT (holder) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
    )?;
    stmt.execute(params![holder, now_ms])?;
    Ok(())
}

/// Release every hold of holders silent since before `stale_ms`, and of
/// holders that never beat at all; returns how many holds were released.
pub fn reap(db: &Connection, stale_ms: i64) -> Result<usize, StoreError> {
    let released = db.execute(
        "DELETE FROM budget_holds WHERE holder NOT IN \
         (SELECT holder FROM limit_holders WHERE heartbeat_ms >= ?1)",
        [stale_ms],
    )?;
    db.execute("DELETE FROM limit_holders WHERE heartbeat_ms < ?1", [stale_ms])?;
    Ok(released)
}

/// Forget `holder` and release its holds (it is stopping).
pub fn retire(db: &Connection, holder: &str) -> Result<(), StoreError> {
    db.execute("DELETE FROM budget_holds WHERE holder = ?1", [holder])?;
    db.execute("DELETE FROM limit_holders WHERE holder = ?1", [holder])?;
    Ok(())
}

/// The connection's breaker: (consecutive failures, open until), if recorded.
pub fn breaker(db: &Connection, workspace_id: i64, connection: &str) -> Result<Option<(u32, Option<i64>)>, StoreError> {
    let mut stmt =
        db.prepare_cached("SELECT failures, open_until_ms FROM breakers WHERE workspace_id = ?1 AND connection = ?2")?;
    Ok(stmt.query_row(params![workspace_id, connection], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
}

/// Store the connection's breaker.
pub fn set_breaker(
    db: &Connection,
    workspace_id: i64,
    connection: &str,
    failures: u32,
    open_until_ms: Option<i64>,
) -> Result<(), StoreError> {
    let mut stmt = db.prepare_cached(
        "INSERT INTO breakers (workspace_id, connection, failures, open_until_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace_id, connection) DO UPDATE SET failures = excluded.failures, \
         open_until_ms = excluded.open_until_ms",
    )?;
    stmt.execute(params![workspace_id, connection, failures, open_until_ms])?;
    Ok(())
}
