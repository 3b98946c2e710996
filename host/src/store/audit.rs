//! The audit log: who changed which connection, when, and which fields (never
//! secret values). Append-only: triggers in the schema refuse updates and
//! deletes, so not even a bug in llmnode can rewrite history.

use super::sql::{Arg, Db};
use super::{StoreError, config_version, now_ms};
use crate::args;
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
/// change and its record land together. The entry bumps the configuration's
/// version in the same transaction: every daemon on the store sees the change.
pub fn append(
    db: &Db,
    workspace_id: Option<i64>,
    actor: &str,
    action: &str,
    target: &str,
    detail: &Value,
) -> Result<(), StoreError> {
    let version = config_version::bump(db)?;
    db.execute(
        "INSERT INTO audit_log (at_ms, workspace_id, actor, action, target, detail, config_version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![now_ms(), workspace_id, actor, action, target, detail.to_string(), version],
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
pub fn list<'a>(db: &Db, filter: &'a AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT a.id, a.at_ms, w.name, a.actor, a.action, a.target, a.detail \
         FROM audit_log a LEFT JOIN workspaces w ON w.id = a.workspace_id WHERE 1 = 1",
    );
    let mut args: Vec<Arg<'a>> = Vec::new();
    let mut narrow = |clause: &str, value: Arg<'a>| {
        sql.push_str(clause);
        args.push(value);
    };
    if let Some(w) = &filter.workspace {
        narrow(" AND w.name = ?", Arg::Text(w));
    }
    if let Some(a) = &filter.action {
        narrow(" AND a.action = ?", Arg::Text(a));
    }
    if let Some(t) = &filter.target {
        narrow(" AND a.target = ?", Arg::Text(t));
    }
    if let Some(a) = &filter.actor {
        narrow(" AND a.actor = ?", Arg::Text(a));
    }
    if let Some(s) = filter.since_ms {
        narrow(" AND a.at_ms >= ?", Arg::Int(s));
    }
    narrow(" ORDER BY a.id DESC LIMIT ?", Arg::Int(filter.limit.unwrap_or(100) as i64));
    db.query(&sql, &args, |r| {
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
    })
}

/// What changed after configuration version `since`: (version, workspace
/// id, action), oldest first. Versions are taken under the version row's
/// lock and committed in order, so none can appear below one already seen.
pub fn changes_since(db: &Db, since: i64) -> Result<Vec<(i64, Option<i64>, String)>, StoreError> {
    db.query(
        "SELECT config_version, workspace_id, action FROM audit_log WHERE config_version > ?1 ORDER BY config_version",
        args![since],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}
