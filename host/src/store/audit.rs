//! The audit log: who changed which connection, when, and which fields (never
//! secret values). Append-only: triggers in the schema refuse updates and
//! deletes, so not even a bug in llmnode can rewrite history.

use super::{StoreError, now_ms};
use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};
use serde::Serialize;
use serde_json::Value;

/// One audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    /// The workspace's name; `None` for store-wide actions (key rotation).
    pub workspace: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
}

/// Append an entry; call inside the transaction that makes the change, so the
/// change and its record land together.
pub fn append(
    db: &Connection,
    workspace_id: Option<i64>,
    actor: &str,
    action: &str,
    target: &str,
    detail: &Value,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO audit_log (at_ms, workspace_id, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![now_ms(), workspace_id, actor, action, target, detail.to_string()],
    )?;
    Ok(())
}

/// Which entries to list; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub workspace: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub actor: Option<String>,
    pub since_ms: Option<i64>,
    /// At most this many, newest first (default 100).
    pub limit: Option<u32>,
}

/// Entries matching `filter`, newest first.
pub fn list(db: &Connection, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT a.id, a.at_ms, w.name, a.actor, a.action, a.target, a.detail \
         FROM audit_log a LEFT JOIN workspaces w ON w.id = a.workspace_id WHERE 1 = 1",
    );
    let mut args: Vec<SqlValue> = Vec::new();
    let mut narrow = |clause: &str, value: SqlValue| {
        sql.push_str(clause);
        args.push(value);
    };
    if let Some(w) = &filter.workspace {
        narrow(" AND w.name = ?", SqlValue::Text(w.clone()));
    }
    if let Some(a) = &filter.action {
        narrow(" AND a.action = ?", SqlValue::Text(a.clone()));
    }
    if let Some(t) = &filter.target {
        narrow(" AND a.target = ?", SqlValue::Text(t.clone()));
    }
    if let Some(a) = &filter.actor {
        narrow(" AND a.actor = ?", SqlValue::Text(a.clone()));
    }
    if let Some(s) = filter.since_ms {
        narrow(" AND a.at_ms >= ?", SqlValue::Integer(s));
    }
    narrow(" ORDER BY a.id DESC LIMIT ?", SqlValue::Integer(filter.limit.unwrap_or(100) as i64));
    let mut stmt = db.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        let detail: String = r.get(6)?;
        Ok(AuditEntry {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            workspace: r.get(2)?,
            actor: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The id of the newest entry (0 for none): where a watcher starts.
pub fn latest_id(db: &Connection) -> Result<i64, StoreError> {
    Ok(db.query_row("SELECT COALESCE(MAX(id), 0) FROM audit_log", [], |r| r.get(0))?)
}

/// What changed after entry `since`: (id, workspace id, action), oldest first.
pub fn changes_since(db: &Connection, since: i64) -> Result<Vec<(i64, Option<i64>, String)>, StoreError> {
    let mut stmt = db.prepare_cached("SELECT id, workspace_id, action FROM audit_log WHERE id > ?1 ORDER BY id")?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
