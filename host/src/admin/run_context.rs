//! What a run of a workspace takes from the store besides its connections:
//! price overrides and the scope its usage (and its limits) are kept under,
//! with the secrets of its alert channels still sealed.

use super::{Admin, AdminError};
use crate::alerts::Channel;
use crate::engine::EngineOptions;
use crate::limits::LimitsService;
use crate::monitor::Monitor;
use crate::store::alert_rows;
use crate::store::{price_rows, workspaces};
use crate::usage::PriceBook;
use crate::usage::UsageLog;
use crate::usage::log::UsageScope;
use crate::vault::SealedSecret;
use std::sync::Arc;

/// The store's part of an engine for one workspace.
pub struct RunContext {
    pub prices: PriceBook,
    pub scope: UsageScope,
    /// The workspace's monitor policy, with fresh volume baselines (a
    /// daemon hands in its own, which outlive engines).
    pub monitor: Monitor,
}

impl Admin {
    /// The run context of `workspace`, which must exist.
    pub fn run_context(&self, workspace: &str) -> Result<RunContext, AdminError> {
        let db = self.store.db();
        let ws = workspaces::get(db, workspace)?;
        let rows = alert_rows::channels(db, ws.id)?;
        let key = match rows.iter().any(|c| c.secret_sealed.is_some()) {
            true => Some(self.vault.data_key(ws.id, &ws.wrapped_data_key)?),
            false => None,
        };
        let mut alert_channels = Vec::with_capacity(rows.len());
        for row in rows {
            let secret = match (row.secret_sealed, &key) {
                (Some(sealed), Some(key)) => {
                    let secret = SealedSecret::new(key.clone(), ws.id, 0, row.settings.secret_field(), sealed);
                    // Fail now, naming the record, rather than when an alert fires.
                    secret.verify()?;
                    Some(secret)
                }
                _ => None,
            };
            alert_channels.push(Channel { name: row.name, settings: row.settings, secret });
        }
        Ok(RunContext {
            prices: price_rows::book(db, ws.id)?,
            monitor: Monitor { policy: ws.settings.monitor, ..Default::default() },
            scope: UsageScope { workspace_id: ws.id, workspace: ws.name, alert_channels },
        })
    }
}

impl RunContext {
    /// The engine options of a run in this context: usage recorded to `log`,
    /// limits kept in `limits` under this workspace (the same scope the usage
    /// writer books spend under, so budgets read what usage wrote).
    pub fn engine_options(self, log: &UsageLog, limits: Arc<dyn LimitsService>) -> EngineOptions {
        EngineOptions {
            scope: self.scope.workspace_id,
            workspace: Some(self.scope.workspace.clone()),
            usage: Some(log.sink(self.scope)),
            prices: self.prices,
            limits: Some(limits),
            monitor: self.monitor,
        }
    }
}
