//! The limits every process on this store shares: RPM/TPM windows (as
//! blobs the limits service reads and writes inside one transaction), the
//! day's spend per connection (booked with each usage event), the budget held
//! by calls in flight (released when its holder settles or dies), and the
//! circuit breakers.

use super::StoreError;
use super::sql::Db;
use crate::args;

/// Take the connection's limits lock for the rest of the transaction: every
/// admission, settlement and breaker update of one connection runs alone, in
/// every process on the store.
pub fn lock(db: &Db, workspace_id: i64, connection: &str) -> Result<(), StoreError> {
    db.lock(super::sql::lock_key(&[b"limits", &workspace_id.to_le_bytes(), connection.as_bytes()]))
}

/// The window blob of `kind` (`rpm` or `tpm`), empty if none yet.
pub fn window(db: &Db, workspace_id: i64, connection: &str, kind: &str) -> Result<Vec<u8>, StoreError> {
    Ok(db
        .query_opt(
            "SELECT buckets FROM limit_windows WHERE workspace_id = ?1 AND connection = ?2 AND kind = ?3",
            args![workspace_id, connection, kind],
            |r| r.get(0),
        )?
        .unwrap_or_default())
}

/// Store the window blob of `kind`.
pub fn set_window(db: &Db, workspace_id: i64, connection: &str, kind: &str, buckets: &[u8]) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO limit_windows (workspace_id, connection, kind, buckets) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace_id, connection, kind) DO UPDATE SET buckets = excluded.buckets",
        args![workspace_id, connection, kind, buckets],
    )?;
    Ok(())
}

/// Add `nusd` to the connection's spend on `day`.
pub fn book_spend(db: &Db, workspace_id: i64, connection: &str, day: i64, nusd: i64) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO budget_days (workspace_id, connection, day, spent_nusd) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace_id, connection, day) DO UPDATE SET spent_nusd = budget_days.spent_nusd + excluded.spent_nusd",
        args![workspace_id, connection, day, nusd],
    )?;
    Ok(())
}

/// The connection's spend on `day` and the budget held for it by calls in flight.
pub fn budget(db: &Db, workspace_id: i64, connection: &str, day: i64) -> Result<(i64, i64), StoreError> {
    db.query_one(
        "SELECT COALESCE((SELECT spent_nusd FROM budget_days \
                          WHERE workspace_id = ?1 AND connection = ?2 AND day = ?3), 0), \
                COALESCE((SELECT SUM(nusd) FROM budget_holds \
                          WHERE workspace_id = ?1 AND connection = ?2 AND day = ?3), 0)",
        args![workspace_id, connection, day],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Hold `nusd` of the connection's budget on `day` for `holder`; the hold's id.
pub fn hold(
    db: &Db,
    holder: &str,
    workspace_id: i64,
    connection: &str,
    day: i64,
    nusd: i64,
) -> Result<i64, StoreError> {
    db.query_one(
        "INSERT INTO budget_holds (holder, workspace_id, connection, day, nusd) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        args![holder, workspace_id, connection, day, nusd],
        |r| r.get(0),
    )
}

/// Release a hold; the day it was for and what it held (`None` if it was
/// already gone: its holder was taken for dead and reaped).
pub fn release(db: &Db, id: i64) -> Result<Option<(i64, i64)>, StoreError> {
    db.query_opt("DELETE FROM budget_holds WHERE id = ?1 RETURNING day, nusd", args![id], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// Record that `holder` is alive at `now_ms`.
pub fn beat(db: &Db, holder: &str, now_ms: i64) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO limit_holders (holder, heartbeat_ms) VALUES (?1, ?2) \
         ON CONFLICT (holder) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
        args![holder, now_ms],
    )?;
    Ok(())
}

/// Release every hold of holders silent since before `stale_ms`, and of
/// holders that never beat at all; returns how many holds were released.
pub fn reap(db: &Db, stale_ms: i64) -> Result<usize, StoreError> {
    let released = db.execute(
        "DELETE FROM budget_holds WHERE holder NOT IN \
         (SELECT holder FROM limit_holders WHERE heartbeat_ms >= ?1)",
        args![stale_ms],
    )?;
    db.execute("DELETE FROM limit_holders WHERE heartbeat_ms < ?1", args![stale_ms])?;
    Ok(released)
}

/// Forget `holder` and release its holds (it is stopping).
pub fn retire(db: &Db, holder: &str) -> Result<(), StoreError> {
    db.execute("DELETE FROM budget_holds WHERE holder = ?1", args![holder])?;
    db.execute("DELETE FROM limit_holders WHERE holder = ?1", args![holder])?;
    Ok(())
}

/// The connection's breaker: (consecutive failures, open until), if recorded.
pub fn breaker(db: &Db, workspace_id: i64, connection: &str) -> Result<Option<(u32, Option<i64>)>, StoreError> {
    db.query_opt(
        "SELECT failures, open_until_ms FROM breakers WHERE workspace_id = ?1 AND connection = ?2",
        args![workspace_id, connection],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Store the connection's breaker.
pub fn set_breaker(
    db: &Db,
    workspace_id: i64,
    connection: &str,
    failures: u32,
    open_until_ms: Option<i64>,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO breakers (workspace_id, connection, failures, open_until_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace_id, connection) DO UPDATE SET failures = excluded.failures, \
         open_until_ms = excluded.open_until_ms",
        args![workspace_id, connection, failures, open_until_ms],
    )?;
    Ok(())
}
