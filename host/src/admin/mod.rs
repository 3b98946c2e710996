//! Operator actions on the store: each one a single transaction that makes the
//! change and appends its audit row together. Secrets are sealed by the
//! [`Vault`] before they reach the store and opened only to build the
//! credentials of a run ([`resolve`]).

pub mod access;
pub mod alerting;
pub mod connections;
pub mod definitions;
pub mod overview;
pub mod probe;
pub mod resolve;
pub mod rotate;
pub mod run_context;

use crate::names::{self, NameError, NameKind};
use crate::store::{Store, StoreError, workspaces};
use crate::vault::{Vault, VaultError};

/// An operator action failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{0}")]
    Refused(String),
}

/// The store, the vault, and who is acting (recorded in the audit log).
pub struct Admin {
    pub store: Store,
    pub vault: Vault,
    pub actor: String,
}

impl Admin {
    /// Act on `store` with `vault`'s master key as `actor`.
    pub fn new(store: Store, vault: Vault, actor: impl Into<String>) -> Self {
        Admin { store, vault, actor: actor.into() }
    }

    /// The workspace `name`, created (with a fresh data key) if it does not
    /// exist; only a new one's name is checked, so one stored before names
    /// were checked can still be reached and cleaned up.
    pub fn ensure_workspace(&mut self, name: &str) -> Result<workspaces::Workspace, AdminError> {
        if let Some(ws) = workspaces::find(self.store.db(), name)? {
            return Ok(ws);
        }
        names::check(NameKind::Workspace, name)?;
        let (vault, actor) = (&self.vault, self.actor.as_str());
        self.store.transaction(|tx| -> Result<_, AdminError> {
            let ws = workspaces::create(tx, name, |id| Ok::<_, AdminError>(vault.new_data_key(id)?.1))?;
            crate::store::audit::append(tx, Some(ws.id), actor, "workspace.create", name, &serde_json::json!({}))?;
            Ok(ws)
        })
    }
}

#[cfg(test)]
mod tests;

impl Admin {
    /// Fail with [`VaultError::WrongMasterKey`] unless every workspace's data
    /// key opens under this master key.
    pub fn check_master_key(&self) -> Result<(), AdminError> {
        for ws in workspaces::list(self.store.db())? {
            self.vault.data_key(ws.id, &ws.wrapped_data_key)?;
        }
        Ok(())
    }
}
