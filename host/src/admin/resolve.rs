//! Turning a workspace's stored connections into the [`ConnectionSet`] a run
//! uses. This is where keys are decrypted: once per run, into zeroizing
//! [`crate::secret::Secret`]s that live only as long as the run's engine.

use super::{Admin, AdminError};
use crate::connections::{Connection, ConnectionSet, DEFAULT_TIMEOUT};
use crate::store::{connection_rows, workspaces};
use crate::transport::Credentials;
use std::time::Duration;

impl Admin {
    /// Every connection of `workspace`, keys opened. Disabled connections are
    /// included (marked) so a run that names one gets a clear refusal.
    pub fn connection_set(&self, workspace: &str) -> Result<ConnectionSet, AdminError> {
        let db = self.store.db();
        let ws = workspaces::get(db, workspace)?;
        let data_key = self.vault.data_key(ws.id, &ws.wrapped_data_key)?;
        let mut set = ConnectionSet::default();
        for row in connection_rows::list(db, ws.id)? {
            let mut credentials = Credentials::default();
            for (field, sealed) in connection_rows::sealed_secrets(db, row.id)? {
                if field == "api_key" {
                    credentials.api_key = Some(self.vault.open_secret(&data_key, ws.id, row.id, &field, &sealed)?);
                }
            }
            let s = row.settings;
            set.insert(Connection {
                name: row.name,
                provider: row.provider,
                base_url: s.base_url,
                organization: s.organization,
                headers: s.headers,
                options: Default::default(),
                allowed_hosts: Vec::new(),
                default_model: s.default_model,
                timeout: s.timeout_secs.filter(|t| *t > 0.0).map(Duration::from_secs_f64).unwrap_or(DEFAULT_TIMEOUT),
                enabled: row.enabled,
                credentials,
            });
        }
        Ok(set)
    }
}
