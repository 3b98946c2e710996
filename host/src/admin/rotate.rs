//! Master key rotation: every workspace's data key is re-wrapped under the new
//! master key in one transaction. Secrets themselves are sealed under data keys
//! and need no change. A wrong current key fails before anything is written.

use super::{Admin, AdminError};
use crate::store::StoreError;
use crate::store::{audit, workspaces};
use crate::vault::{MasterKey, Vault};
use serde_json::json;

impl Admin {
    /// Re-wrap every data key under `new`; afterwards this `Admin` uses `new`.
    /// Returns how many workspaces were re-wrapped.
    pub fn rotate_master_key(&mut self, new: MasterKey) -> Result<usize, AdminError> {
        let all = workspaces::list(self.store.db())?;
        // Unwrap everything first: a wrong master key stops here, nothing written.
        let rewrapped: Vec<(i64, Vec<u8>)> = all
            .iter()
            .map(|ws| Ok((ws.id, self.vault.rewrap(&new, ws.id, &ws.wrapped_data_key)?)))
            .collect::<Result<_, AdminError>>()?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, StoreError> {
            for (id, wrapped) in &rewrapped {
                workspaces::set_wrapped_key(tx, *id, wrapped)?;
            }
            audit::append(tx, None, actor, "vault.rotate", "master-key", &json!({ "workspaces": rewrapped.len() }))
        })?;
        self.vault = Vault::new(new);
        Ok(rewrapped.len())
    }
}
