//! Turning a workspace's stored connections into the [`ConnectionSet`] a run
//! uses. Keys stay sealed: each is checked once here, then opened by the
//! transport only while it signs a request (see [`crate::transport::auth`]).

use super::{Admin, AdminError};
use crate::connections::{Connection, ConnectionSet, DEFAULT_STREAM_IDLE_TIMEOUT, DEFAULT_TIMEOUT};
use crate::engine::{Limits, RetryPolicy};
use crate::escape::Escaped;
use crate::store::approval_rows::{self, ApprovalRow};
use crate::store::{connection_rows, workspaces};
use crate::transport::Credentials;
use crate::transport::auth::KeyMaterial;
use crate::vault::SealedSecret;
use std::time::Duration;

impl Admin {
    /// Every connection of `workspace`, keys opened. Disabled connections,
    /// and those awaiting an approval, are included (marked) so a run that
    /// names one gets a clear refusal.
    pub fn connection_set(&self, workspace: &str) -> Result<ConnectionSet, AdminError> {
        let db = self.store.db();
        let ws = workspaces::get(db, workspace)?;
        let data_key = self.vault.data_key(ws.id, &ws.wrapped_data_key)?;
        let mut set = ConnectionSet::default();
        let gates = approval_rows::serving_gates(db, ws.id)?;
        for row in connection_rows::list(db, ws.id)? {
            let pending = gates.iter().find_map(|g| gate(g, &row.name, &row.provider));
            let mut credentials = Credentials::default();
            for (field, sealed) in connection_rows::sealed_secrets(db, row.id)? {
                let secret = SealedSecret::new(data_key.clone(), ws.id, row.id, &field, sealed);
                // Fail now, naming the record, rather than at the first request.
                secret.verify().map_err(|source| AdminError::Secret {
                    connection: row.name.clone(),
                    workspace: ws.name.clone(),
                    field: field.clone(),
                    source,
                })?;
                credentials.set(&field, KeyMaterial::Sealed(secret)).map_err(AdminError::Refused)?;
            }
            let s = row.settings;
            // Caching is the plugin's business: it gets the stored settings as
            // options, beside the operator's provider options.
            let mut options = s.options.clone();
            if let Some(caching) = s.prompt_caching {
                options.insert("prompt_caching".to_string(), caching.to_string());
            }
            if let Some(ttl) = s.cache_ttl_secs {
                options.insert("cache_ttl_secs".to_string(), ttl.to_string());
            }
            set.insert(Connection {
                name: row.name,
                provider: row.provider,
                base_url: s.base_url,
                organization: s.organization,
                headers: s.headers,
                options,
                allowed_hosts: Vec::new(),
                models: s.models,
                default_model: s.default_model,
                streaming: s.streaming,
                timeout: s.timeout_secs.filter(|t| *t > 0.0).map(Duration::from_secs_f64).unwrap_or(DEFAULT_TIMEOUT),
                stream_idle_timeout: s
                    .stream_idle_timeout_secs
                    .filter(|t| *t > 0.0)
                    .map(Duration::from_secs_f64)
                    .unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT),
                enabled: row.enabled,
                pending,
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

/// Why approval `g` keeps connection `name` (through plugin `provider`) from
/// serving, if it does.
fn gate(g: &ApprovalRow, name: &str, provider: &str) -> Option<String> {
    let by = Escaped(&g.requested_by);
    match g.kind.as_str() {
        "connection.create" if g.target == name => Some(format!(
            "connection `{}` is pending approval #{} (connection.create requested by {by}); another admin must \
             approve it (`llmnode approvals approve {}`, or POST /api/v1/approvals/{}/approve)",
            Escaped(name),
            g.id,
            g.id,
            g.id
        )),
        "plugin.install" if g.target == provider => Some(format!(
            "connection `{}` uses plugin `{}`, whose install ({} {}) is {} approval #{} (requested by {by})",
            Escaped(name),
            Escaped(provider),
            Escaped(g.detail["version"].as_str().unwrap_or("?")),
            g.detail["sha256"].as_str().map(|d| &d[..d.len().min(12)]).unwrap_or("?"),
            if g.is_pending() { "pending" } else { "refused by" },
            g.id
        )),
        _ => None,
    }
}
