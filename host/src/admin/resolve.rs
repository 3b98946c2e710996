//! Turning a workspace's stored connections into the [`ConnectionSet`] a run
//! uses. Keys stay sealed: each is checked once here, then opened by the
//! transport only while it signs a request (see [`crate::transport::auth`]).

use super::{Admin, AdminError};
use crate::connections::{Connection, ConnectionSet, DEFAULT_STREAM_IDLE_TIMEOUT, DEFAULT_TIMEOUT};
use crate::engine::{Limits, RetryPolicy};
use crate::store::{connection_rows, workspaces};
use crate::transport::Credentials;
use crate::transport::auth::KeyMaterial;
use crate::vault::SealedSecret;
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
                let secret = SealedSecret::new(data_key.clone(), ws.id, row.id, &field, sealed);
                // Fail now, naming the record, rather than at the first request.
                secret.verify()?;
                if field == "api_key" {
                    credentials.api_key = Some(KeyMaterial::Sealed(secret));
                } else if let Some(name) = field.strip_prefix("header:") {
                    credentials.headers.push((name.to_string(), KeyMaterial::Sealed(secret)));
                }
            }
            let s = row.settings;
            set.insert(Connection {
                name: row.name,
                provider: row.provider,
                base_url: s.base_url,
                organization: s.organization,
                headers: s.headers,
                options: s.options,
                allowed_hosts: Vec::new(),
                default_model: s.default_model,
                timeout: s.timeout_secs.filter(|t| *t > 0.0).map(Duration::from_secs_f64).unwrap_or(DEFAULT_TIMEOUT),
                stream_idle_timeout: s
                    .stream_idle_timeout_secs
                    .filter(|t| *t > 0.0)
                    .map(Duration::from_secs_f64)
                    .unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT),
                enabled: row.enabled,
                credentials,
                retry: RetryPolicy { max_retries: s.max_retries.unwrap_or(2).min(10), ..RetryPolicy::default() },
                limits: Limits {
                    rpm: s.rpm,
                    tpm: s.tpm,
                    daily_budget_usd: s.daily_budget_usd,
                    queue_for: s.queue_secs.filter(|q| *q > 0.0).map(Duration::from_secs_f64).unwrap_or_default(),
                },
            });
        }
        Ok(set)
    }
}
