//! Adding, editing, enabling, disabling and deleting connections. Audit rows
//! name the fields that changed, never a secret's value.

use super::connection_checks::{check_key, check_settings};
use super::{Admin, AdminError};
use crate::escape::Escaped;
use crate::names::{self, NameKind};
use crate::runtime::bindings::types::AuthScheme;
use crate::secret::Secret;
use crate::store::StoreError;
use crate::store::approval_rows::{self, ApprovalKind};
use crate::store::connection_rows::{self, ConnectionRow, StoredSettings};
use crate::store::{audit, workspaces};
use serde_json::json;
use std::collections::BTreeMap;

/// A connection to add: public settings and secrets by field (`api_key`, `header:NAME`, …).
pub struct NewConnection {
    pub name: String,
    pub provider: String,
    pub settings: StoredSettings,
    pub secrets: BTreeMap<String, Secret>,
    /// The auth scheme the provider's plugin declares: what secrets it needs.
    pub auth: AuthScheme,
    /// The operator says the server takes no credentials (a local server).
    pub no_key: bool,
}

/// Changes to a connection: new settings (if any), secrets to set or remove.
#[derive(Default)]
pub struct Edit {
    pub settings: Option<StoredSettings>,
    pub set_secrets: BTreeMap<String, Secret>,
    pub remove_secrets: Vec<String>,
}

impl Admin {
    /// Add a connection to `workspace`, which must exist.
    pub fn add_connection(&mut self, workspace: &str, new: NewConnection) -> Result<ConnectionRow, AdminError> {
        names::check(NameKind::Connection, &new.name)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        check_settings(&new.settings)?;
        let fields: Vec<&str> = new.secrets.keys().map(String::as_str).collect();
        check_key(&new.provider, new.auth, &fields, new.no_key)?;
        let data_key = self.vault.data_key(ws.id, &ws.wrapped_data_key)?;
        let (vault, actor) = (&self.vault, self.actor.as_str());
        let row = self.store.transaction(|tx| -> Result<_, AdminError> {
            let id = connection_rows::insert(tx, ws.id, &new.name, &new.provider, &new.settings)?;
            for (field, secret) in &new.secrets {
                let sealed = vault.seal_secret(&data_key, ws.id, id, field, secret.expose())?;
                connection_rows::put_secret(tx, id, field, &sealed, &secret.masked_hint())?;
            }
            let fields: Vec<&String> = new.secrets.keys().collect();
            let mut detail = json!({ "provider": new.provider, "secrets": fields, "settings": &new.settings });
            if ws.settings.require_approval {
                let id = approval_rows::insert(tx, ws.id, ApprovalKind::ConnectionCreate, &new.name, &detail, actor)?;
                detail["pending_approval"] = json!(id);
            }
            audit::append(tx, Some(ws.id), actor, "connection.create", &new.name, &detail)?;
            Ok(connection_rows::get(tx, ws.id, &new.name)?)
        })?;
        Ok(row)
    }

    /// Apply `edit` to a connection; the audit row lists the fields changed.
    /// Where the workspace requires approval, an edit of the base URL or a
    /// key is staged instead (its new secrets sealed beside it), and the
    /// approved version keeps serving until another admin approves it. A
    /// connection with a change awaiting approval takes no other edit.
    pub fn edit_connection(&mut self, workspace: &str, name: &str, edit: Edit) -> Result<ConnectionRow, AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let current = connection_rows::get(self.store.db(), ws.id, name)?;
        if let Some(settings) = &edit.settings {
            check_settings(settings)?;
        }
        if let Some(pending) = approval_rows::pending_for_connection(self.store.db(), ws.id, name)? {
            return Err(AdminError::Refused(format!(
                "connection `{}` has a change awaiting approval (#{}: {} by {}); approve or reject it first",
                Escaped(name),
                pending.id,
                pending.kind,
                Escaped(&pending.requested_by)
            )));
        }
        let mut changed = match &edit.settings {
            Some(new) => changed_settings(&current.settings, new),
            None => Vec::new(),
        };
        changed.extend(edit.set_secrets.keys().map(|field| format!("secret:{field}")));
        changed.extend(edit.remove_secrets.iter().map(|field| format!("secret:{field} (removed)")));
        let staged =
            ws.settings.require_approval && changed.iter().any(|c| c == "base_url" || c.starts_with("secret:"));
        let data_key = self.vault.data_key(ws.id, &ws.wrapped_data_key)?;
        let (vault, actor) = (&self.vault, self.actor.as_str());
        let row = self.store.transaction(|tx| -> Result<_, AdminError> {
            let seal =
                |field: &str, secret: &Secret| vault.seal_secret(&data_key, ws.id, current.id, field, secret.expose());
            let mut detail = json!({ "changed": changed });
            if staged {
                let change = json!({ "connection_id": current.id, "settings": &edit.settings,
                    "remove_secrets": &edit.remove_secrets, "changed": changed });
                let id = approval_rows::insert(tx, ws.id, ApprovalKind::ConnectionEdit, name, &change, actor)?;
                for (field, secret) in &edit.set_secrets {
                    approval_rows::put_secret(tx, id, field, &seal(field, secret)?, &secret.masked_hint())?;
                }
                detail["pending_approval"] = json!(id);
            } else {
                if let Some(settings) = &edit.settings {
                    connection_rows::update_settings(tx, current.id, settings)?;
                }
                for (field, secret) in &edit.set_secrets {
                    connection_rows::put_secret(tx, current.id, field, &seal(field, secret)?, &secret.masked_hint())?;
                }
                for field in &edit.remove_secrets {
                    connection_rows::remove_secret(tx, current.id, field)?;
                }
            }
            audit::append(tx, Some(ws.id), actor, "connection.edit", name, &detail)?;
            Ok(connection_rows::get(tx, ws.id, name)?)
        })?;
        Ok(row)
    }

    /// Enable or disable a connection; disabled ones are refused by new runs.
    pub fn set_connection_enabled(&mut self, workspace: &str, name: &str, enabled: bool) -> Result<(), AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let row = connection_rows::get(self.store.db(), ws.id, name)?;
        let actor = self.actor.as_str();
        let action = if enabled { "connection.enable" } else { "connection.disable" };
        self.store.transaction(|tx| -> Result<_, StoreError> {
            connection_rows::set_enabled(tx, row.id, enabled)?;
            audit::append(tx, Some(ws.id), actor, action, name, &json!({}))
        })?;
        Ok(())
    }

    /// Delete a connection and its sealed secrets.
    pub fn delete_connection(&mut self, workspace: &str, name: &str) -> Result<(), AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let row = connection_rows::get(self.store.db(), ws.id, name)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, StoreError> {
            approval_rows::cancel_for_connection(tx, ws.id, name, actor)?;
            connection_rows::delete(tx, row.id)?;
            audit::append(tx, Some(ws.id), actor, "connection.delete", name, &json!({ "provider": row.provider }))
        })?;
        Ok(())
    }

    /// Record a connection test and its outcome (the test itself runs elsewhere).
    pub fn record_test(&mut self, workspace: &str, name: &str, outcome: &serde_json::Value) -> Result<(), AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        audit::append(self.store.db(), Some(ws.id), &self.actor, "connection.test", name, outcome)?;
        Ok(())
    }
}

/// Names of the settings that differ, by their JSON keys.
fn changed_settings(old: &StoredSettings, new: &StoredSettings) -> Vec<String> {
    let (old, new) = (serde_json::to_value(old).unwrap_or_default(), serde_json::to_value(new).unwrap_or_default());
    let empty = serde_json::Map::new();
    let (old, new) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).map(|k| k.to_string()).collect()
}
