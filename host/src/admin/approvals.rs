//! Deciding changes that await approval. Whoever asked for a change cannot
//! approve it (the refusal is audited too); any other admin of the workspace
//! (or the operator at the CLI) can. Approving a staged edit applies it,
//! sealed secrets and all, in the transaction that records the decision;
//! rejecting a new connection deletes it.

use super::{Admin, AdminError};
use crate::escape::Escaped;
use crate::store::approval_rows::{self, ApprovalRow};
use crate::store::connection_rows::{self, StoredSettings};
use crate::store::{StoreError, audit, workspaces};
use serde_json::json;

/// Who is behind an audit actor: `api:alice (token 3)` and `api:alice
/// (token 4)` are the same person; `cli:root` is the operator account.
pub fn principal(actor: &str) -> &str {
    actor.split_once(" (token ").map_or(actor, |(who, _)| who)
}

impl Admin {
    /// The approvals of `workspace`, newest first: pending ones, or all.
    pub fn approvals(&self, workspace: &str, pending_only: bool) -> Result<Vec<ApprovalRow>, AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        Ok(approval_rows::list(self.store.db(), ws.id, pending_only)?)
    }

    /// Approve (or reject) approval `id` of `workspace`; the decided row.
    pub fn decide_approval(&mut self, workspace: &str, id: i64, approve: bool) -> Result<ApprovalRow, AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let row = approval_rows::get(self.store.db(), ws.id, id)?.ok_or_else(|| StoreError::NotFound {
            what: "approval",
            name: format!("#{id}"),
            scope: format!(" in workspace `{}`", Escaped(workspace)),
        })?;
        if !row.is_pending() {
            return Err(AdminError::Refused(format!(
                "approval #{id} is already {} (by {})",
                row.state,
                Escaped(row.decided_by.as_deref().unwrap_or("?"))
            )));
        }
        let actor = self.actor.as_str();
        if approve && principal(&row.requested_by) == principal(actor) {
            let detail = json!({ "approval": id, "kind": row.kind, "requested_by": row.requested_by,
                "reason": "the requester cannot approve their own change" });
            self.store
                .transaction(|tx| audit::append(tx, Some(ws.id), actor, "approval.refused", &row.target, &detail))?;
            return Err(AdminError::Forbidden(format!(
                "approval #{id} ({} of `{}`) was requested by {}, who cannot approve it; another admin must",
                row.kind,
                Escaped(&row.target),
                Escaped(&row.requested_by)
            )));
        }
        let (state, action) = if approve { ("approved", "approval.approve") } else { ("rejected", "approval.reject") };
        self.store.transaction(|tx| -> Result<_, AdminError> {
            if !approval_rows::decide(tx, id, state, actor)? {
                return Err(AdminError::Refused(format!("approval #{id} was decided meanwhile")));
            }
            match (row.kind.as_str(), approve) {
                ("connection.edit", true) => apply_edit(tx, ws.id, &row)?,
                ("connection.edit", false) => drop(approval_rows::take_secrets(tx, id)?),
                ("connection.create", false) => {
                    if let Some(c) = connection_rows::find(tx, ws.id, &row.target)? {
                        connection_rows::delete(tx, c.id)?;
                    }
                }
                _ => {}
            }
            let detail = json!({ "approval": id, "kind": row.kind, "requested_by": row.requested_by,
                "decided_by": actor });
            audit::append(tx, Some(ws.id), actor, action, &row.target, &detail)?;
            Ok(approval_rows::get(tx, ws.id, id)?.unwrap_or(row.clone()))
        })
    }
}

/// Apply a staged connection edit: its settings, staged secrets and removals.
fn apply_edit(tx: &crate::store::Db, workspace_id: i64, row: &ApprovalRow) -> Result<(), AdminError> {
    let current = connection_rows::get(tx, workspace_id, &row.target)?;
    if row.detail["connection_id"].as_i64() != Some(current.id) {
        return Err(AdminError::Refused(format!(
            "connection `{}` was replaced since the change",
            Escaped(&row.target)
        )));
    }
    let settings: Option<StoredSettings> = serde_json::from_value(row.detail["settings"].clone())
        .map_err(|e| StoreError::Malformed { what: "staged settings", detail: e.to_string() })?;
    if let Some(settings) = settings {
        connection_rows::update_settings(tx, current.id, &settings)?;
    }
    for (field, sealed, hint) in approval_rows::take_secrets(tx, row.id)? {
        connection_rows::put_secret(tx, current.id, &field, &sealed, &hint)?;
    }
    for field in row.detail["remove_secrets"].as_array().into_iter().flatten().filter_map(|f| f.as_str()) {
        connection_rows::remove_secret(tx, current.id, field)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::principal;

    #[test]
    fn a_person_is_the_same_through_any_of_their_tokens() {
        assert_eq!(principal("api:alice (token 3)"), principal("api:alice (token 9)"));
        assert_ne!(principal("api:alice (token 3)"), principal("api:bob (token 3)"));
        assert_eq!(principal("cli:root"), "cli:root");
    }
}
