//! Operator actions on the store: each one a single transaction that makes the
//! change and appends its audit row together. Secrets are sealed by the
//! [`Vault`] before they reach the store and opened only to build the
//! credentials of a run ([`resolve`]).

pub mod access;
pub mod alerting;
pub mod approvals;
pub mod catalogue;
pub mod connection_checks;
pub mod connections;
pub mod definitions;
pub mod effective;
pub mod overview;
pub mod probe;
pub mod resolve;
pub mod rotate;
pub mod run_context;
pub mod workspace_settings;

use crate::escape::Escaped;
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
    /// The action conflicts with the state of what it acts on.
    #[error("{0}")]
    Refused(String),
    /// The input itself is wrong (a setting out of range, a missing key).
    #[error("{0}")]
    Invalid(String),
    /// The actor may not do this (a requester approving their own change).
    #[error("{0}")]
    Forbidden(String),
    /// A stored secret does not open (a tampered or moved row), named by
    /// connection and workspace.
    #[error(
        "connection `{}` in workspace `{}`: its secret `{field}` cannot be opened: {source}",
        Escaped(connection),
        Escaped(workspace)
    )]
    Secret { connection: String, workspace: String, field: String, source: VaultError },
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

    /// Create workspace `name` with a fresh data key. Creating a workspace is
    /// its own action: other actions refuse a workspace that does not exist,
    /// so a mistyped name never becomes a new, empty one.
    pub fn create_workspace(&mut self, name: &str) -> Result<workspaces::Workspace, AdminError> {
        names::check(NameKind::Workspace, name)?;
        let (vault, actor) = (&self.vault, self.actor.as_str());
        self.store.transaction(|tx| -> Result<_, AdminError> {
            let ws = workspaces::create(tx, name, |id| Ok::<_, AdminError>(vault.new_data_key(id)?.1))?;
            crate::store::audit::append(tx, Some(ws.id), actor, "workspace.create", name, &serde_json::json!({}))?;
            Ok(ws)
        })
    }

    /// The workspace `name`, created if it does not exist (what `init` does
    /// for the default workspace).
    pub fn ensure_workspace(&mut self, name: &str) -> Result<workspaces::Workspace, AdminError> {
        match workspaces::find(self.store.db(), name)? {
            Some(ws) => Ok(ws),
            None => self.create_workspace(name),
        }
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
