//! A workspace's governance settings: the approval workflow and the prompt
//! monitor's policy. Changing them is audited like any other change.

use super::{Admin, AdminError};
use crate::store::workspaces::{self, WorkspaceSettings};
use crate::store::{StoreError, audit};
use serde_json::json;

impl Admin {
    /// Replace the settings of `workspace` (checked first).
    pub fn set_workspace_settings(&mut self, workspace: &str, settings: WorkspaceSettings) -> Result<(), AdminError> {
        settings.monitor.validate().map_err(AdminError::Invalid)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        let detail = json!({ "from": ws.settings, "to": settings });
        self.store.transaction(|tx| -> Result<_, StoreError> {
            workspaces::put_settings(tx, ws.id, &settings)?;
            audit::append(tx, Some(ws.id), actor, "workspace.settings", workspace, &detail)
        })?;
        Ok(())
    }
}
