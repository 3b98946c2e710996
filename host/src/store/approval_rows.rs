//! Changes awaiting a second admin: who asked, what (public detail only;
//! a staged edit's new secrets are sealed beside it in `approval_secrets`),
//! and who decided. Rows are never deleted: they are the approvals' history.

use super::sql::{Db, Row};
use super::{StoreError, now_ms};
use crate::args;
use serde::Serialize;
use serde_json::Value;

/// What kind of change awaits approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ApprovalKind {
    /// A new connection: it serves nothing until approved.
    #[serde(rename = "connection.create")]
    ConnectionCreate,
    /// A connection's new base URL or key: the approved version serves until then.
    #[serde(rename = "connection.edit")]
    ConnectionEdit,
    /// An installed plugin: the workspace's connections through it serve nothing until approved.
    #[serde(rename = "plugin.install")]
    PluginInstall,
}

impl ApprovalKind {
    /// The stored name (also the audit action of the change).
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::ConnectionCreate => "connection.create",
            ApprovalKind::ConnectionEdit => "connection.edit",
            ApprovalKind::PluginInstall => "plugin.install",
        }
    }
}

/// One approval, pending or decided.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRow {
    pub id: i64,
    #[serde(skip)]
    pub workspace_id: i64,
    pub kind: String,
    pub target: String,
    pub detail: Value,
    pub requested_by: String,
    pub requested_ms: i64,
    /// `pending`, `approved`, `rejected`, or `cancelled` (its connection was deleted).
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
}

impl ApprovalRow {
    /// Still waiting for a decision.
    pub fn is_pending(&self) -> bool {
        self.state == "pending"
    }
}

const COLUMNS: &str =
    "id, workspace_id, kind, target, detail, requested_by, requested_ms, state, decided_by, decided_ms";

fn from_row(r: &Row<'_>) -> Result<ApprovalRow, StoreError> {
    let detail: String = r.get(4)?;
    Ok(ApprovalRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        kind: r.get(2)?,
        target: r.get(3)?,
        detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
        requested_by: r.get(5)?,
        requested_ms: r.get(6)?,
        state: r.get(7)?,
        decided_by: r.get(8)?,
        decided_ms: r.get(9)?,
    })
}

/// Record a pending change; its id.
pub fn insert(
    db: &Db,
    workspace_id: i64,
    kind: ApprovalKind,
    target: &str,
    detail: &Value,
    requested_by: &str,
) -> Result<i64, StoreError> {
    db.query_one(
        "INSERT INTO approvals (workspace_id, kind, target, detail, requested_by, requested_ms, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending') RETURNING id",
        args![workspace_id, kind.as_str(), target, detail.to_string(), requested_by, now_ms()],
        |r| r.get(0),
    )
}

/// Approval `id` of a workspace, if any.
pub fn get(db: &Db, workspace_id: i64, id: i64) -> Result<Option<ApprovalRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM approvals WHERE workspace_id = ?1 AND id = ?2");
    db.query_opt(&sql, args![workspace_id, id], from_row)
}

/// A workspace's approvals, newest first: the pending ones, or all.
pub fn list(db: &Db, workspace_id: i64, pending_only: bool) -> Result<Vec<ApprovalRow>, StoreError> {
    let only = if pending_only { " AND state = 'pending'" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM approvals WHERE workspace_id = ?1{only} ORDER BY id DESC");
    db.query(&sql, args![workspace_id], from_row)
}

/// The pending change of connection `name`, if any (a create or an edit).
pub fn pending_for_connection(db: &Db, workspace_id: i64, name: &str) -> Result<Option<ApprovalRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals WHERE workspace_id = ?1 AND target = ?2 AND state = 'pending' \
         AND kind IN ('connection.create', 'connection.edit') ORDER BY id LIMIT 1"
    );
    db.query_opt(&sql, args![workspace_id, name], from_row)
}

/// What keeps connections of a workspace from serving: pending creates, and
/// each plugin whose latest install here is not approved.
pub fn serving_gates(db: &Db, workspace_id: i64) -> Result<Vec<ApprovalRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals a WHERE workspace_id = ?1 AND ( \
           (kind = 'connection.create' AND state = 'pending') OR \
           (kind = 'plugin.install' AND state <> 'approved' AND id = (SELECT MAX(b.id) FROM approvals b \
              WHERE b.workspace_id = a.workspace_id AND b.kind = 'plugin.install' AND b.target = a.target)))"
    );
    db.query(&sql, args![workspace_id], from_row)
}

/// Decide a pending approval; false if it was no longer pending.
pub fn decide(db: &Db, id: i64, state: &str, by: &str) -> Result<bool, StoreError> {
    let n = db.execute(
        "UPDATE approvals SET state = ?1, decided_by = ?2, decided_ms = ?3 WHERE id = ?4 AND state = 'pending'",
        args![state, by, now_ms(), id],
    )?;
    Ok(n == 1)
}

/// Cancel the pending changes of connection `name` (it is being deleted) and
/// drop their staged secrets.
pub fn cancel_for_connection(db: &Db, workspace_id: i64, name: &str, by: &str) -> Result<(), StoreError> {
    db.execute(
        "DELETE FROM approval_secrets WHERE approval_id IN (SELECT id FROM approvals WHERE workspace_id = ?1 \
         AND target = ?2 AND state = 'pending' AND kind IN ('connection.create', 'connection.edit'))",
        args![workspace_id, name],
    )?;
    db.execute(
        "UPDATE approvals SET state = 'cancelled', decided_by = ?3, decided_ms = ?4 WHERE workspace_id = ?1 \
         AND target = ?2 AND state = 'pending' AND kind IN ('connection.create', 'connection.edit')",
        args![workspace_id, name, by, now_ms()],
    )?;
    Ok(())
}

/// Stage one sealed secret of a pending edit.
pub fn put_secret(db: &Db, approval_id: i64, field: &str, sealed: &[u8], hint: &str) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO approval_secrets (approval_id, field, sealed, hint) VALUES (?1, ?2, ?3, ?4)",
        args![approval_id, field, sealed, hint],
    )?;
    Ok(())
}

/// Remove and return the staged secrets of an approval: (field, sealed, hint).
pub fn take_secrets(db: &Db, approval_id: i64) -> Result<Vec<(String, Vec<u8>, String)>, StoreError> {
    let staged = db.query(
        "SELECT field, sealed, hint FROM approval_secrets WHERE approval_id = ?1 ORDER BY field",
        args![approval_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    db.execute("DELETE FROM approval_secrets WHERE approval_id = ?1", args![approval_id])?;
    Ok(staged)
}
