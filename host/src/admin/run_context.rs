//! What a run of a workspace takes from the store besides its connections:
//! price overrides, the day's spend so far (budgets hold across restarts) and
//! the scope its usage is recorded under, with the alert webhook still sealed.

use super::{Admin, AdminError};
use crate::store::alert_rows::{self, WEBHOOK_FIELD};
use crate::store::{day_start_ms, now_ms, price_rows, usage_rows, workspaces};
use crate::usage::PriceBook;
use crate::usage::log::UsageScope;
use crate::vault::SealedSecret;
use std::collections::HashMap;

/// The store's part of an engine for one workspace.
pub struct RunContext {
    pub prices: PriceBook,
    /// Nano-dollars per connection since the start of today (UTC).
    pub spent_today: HashMap<String, i64>,
    pub scope: UsageScope,
}

impl Admin {
    /// The run context of `workspace`, which must exist.
    pub fn run_context(&self, workspace: &str) -> Result<RunContext, AdminError> {
        let db = self.store.db();
        let ws = workspaces::get(db, workspace)?;
        let now = now_ms();
        let alert_webhook = match alert_rows::settings(db, ws.id)?.webhook_sealed {
            None => None,
            Some(sealed) => {
                let key = self.vault.data_key(ws.id, &ws.wrapped_data_key)?;
                let url = SealedSecret::new(key, ws.id, 0, WEBHOOK_FIELD, sealed);
                // Fail now, naming the record, rather than when an alert fires.
                url.verify()?;
                Some(url)
            }
        };
        Ok(RunContext {
            prices: price_rows::book(db, ws.id)?,
            spent_today: usage_rows::spent_since(db, ws.id, day_start_ms(now))?,
            scope: UsageScope { workspace_id: ws.id, workspace: ws.name, alert_webhook },
        })
    }
}
