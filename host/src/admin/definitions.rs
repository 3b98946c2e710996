//! Storing and deleting workflows and chat routes, audited. The caller has
//! validated the body; the store keeps it with the connections it names.

use super::{Admin, AdminError};
use crate::names;
use crate::store::definition_rows::{self, Kind};
use crate::store::{StoreError, audit, workspaces};
use serde_json::json;

impl Admin {
    /// Store `body` as definition `name` of `kind`; true when it was new.
    pub fn put_definition(
        &mut self,
        workspace: &str,
        kind: Kind,
        name: &str,
        body: &str,
        connections: &[String],
    ) -> Result<bool, AdminError> {
        names::check(kind.name_kind(), name)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        Ok(self.store.transaction(|tx| -> Result<_, StoreError> {
            let created = definition_rows::put(tx, ws.id, kind, name, body, connections)?;
            let action = format!("{}.{}", kind.as_str(), if created { "create" } else { "edit" });
            audit::append(tx, Some(ws.id), actor, &action, name, &json!({ "connections": connections }))?;
            Ok(created)
        })?)
    }

    /// Delete definition `name` of `kind`.
    pub fn delete_definition(&mut self, workspace: &str, kind: Kind, name: &str) -> Result<(), AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        Ok(self.store.transaction(|tx| -> Result<_, StoreError> {
            if !definition_rows::delete(tx, ws.id, kind, name)? {
                return Err(StoreError::NotFound {
                    what: kind.as_str(),
                    name: name.into(),
                    scope: format!(" in workspace `{workspace}`"),
                });
            }
            audit::append(tx, Some(ws.id), actor, &format!("{}.delete", kind.as_str()), name, &json!({}))
        })?)
    }
}
