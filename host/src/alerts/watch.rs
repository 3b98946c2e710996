//! The alert watch: after each usage commit, checks the conditions of the
//! workspaces and connections just written, records new alerts (the store
//! drops a repeat within its window) and sends them on: a log event always,
//! the webhook when the workspace has one.

use super::conditions::{self, Condition};
use super::webhook::{self, Delivery, WebhookPolicy};
use crate::engine::Limits;
use crate::store::{Store, StoreError, alert_rows, connection_rows, now_ms};
use crate::usage::log::{AfterCommit, Batch, UsageScope};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Watches usage commits; hand it to [`crate::usage::UsageLog::open`].
pub struct AlertWatch {
    deliveries: mpsc::UnboundedSender<Delivery>,
}

/// The webhook task; [`Deliveries::finish`] waits for what is in flight.
pub struct Deliveries {
    task: tokio::task::JoinHandle<()>,
}

impl AlertWatch {
    /// A watch over the store at `path`, posting webhooks from a task on the
    /// current tokio runtime.
    pub fn start(path: &Path, policy: WebhookPolicy) -> Result<(Self, Deliveries), StoreError> {
        let store = Store::open(path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(webhook::deliver_all(rx, store, policy));
        Ok((AlertWatch { deliveries: tx }, Deliveries { task }))
    }

    fn check(&self, store: &Store, scope: &UsageScope, connections: &BTreeSet<&str>) -> Result<(), StoreError> {
        let db = store.db();
        let settings = alert_rows::settings(db, scope.workspace_id)?.settings;
        let limits: BTreeMap<String, Limits> = connection_rows::list(db, scope.workspace_id)?
            .into_iter()
            .map(|row| {
                let s = row.settings;
                (row.name, Limits { rpm: s.rpm, tpm: s.tpm, daily_budget_usd: s.daily_budget_usd, ..Limits::default() })
            })
            .collect();
        let now = now_ms();
        let mut holding: Vec<Condition> =
            conditions::workspace_spend(db, scope.workspace_id, &settings, now)?.into_iter().collect();
        for name in connections {
            let l = limits.get(*name).copied().unwrap_or_default();
            holding.extend(conditions::connection(db, scope.workspace_id, name, &l, &settings, now)?);
        }
        for c in holding {
            let Some(id) = alert_rows::fire(db, scope.workspace_id, &c, now)? else { continue };
            tracing::warn!(
                target: "llmnode::alert",
                workspace = %scope.workspace,
                kind = c.kind.as_str(),
                subject = %c.subject,
                value = c.value,
                threshold = c.threshold,
                "alert: {}",
                c.message
            );
            if let Some(url) = &scope.alert_webhook {
                let body = serde_json::json!({
                    "source": "llmnode",
                    "id": id,
                    "workspace": scope.workspace,
                    "kind": c.kind,
                    "subject": c.subject,
                    "value": c.value,
                    "threshold": c.threshold,
                    "window_start_ms": c.window_start_ms,
                    "fired_ms": now,
                    "message": c.message,
                });
                let _ = self.deliveries.send(Delivery { alert_id: id, url: url.clone(), body });
            }
        }
        Ok(())
    }
}

impl AfterCommit for AlertWatch {
    fn committed(&mut self, store: &Store, batches: &[Batch]) {
        let mut touched: BTreeMap<i64, (&Arc<UsageScope>, BTreeSet<&str>)> = BTreeMap::new();
        for b in batches {
            let entry = touched.entry(b.scope.workspace_id).or_insert_with(|| (&b.scope, BTreeSet::new()));
            entry.1.extend(b.records.iter().map(|r| r.connection.as_str()));
        }
        for (scope, connections) in touched.values() {
            if let Err(e) = self.check(store, scope, connections) {
                tracing::error!(workspace = %scope.workspace, error = %e, "alerts could not be checked");
            }
        }
    }
}

impl Deliveries {
    /// Wait up to `limit` for webhook posts still in flight (the watch must be
    /// dropped first, i.e. its usage log closed).
    pub async fn finish(self, limit: Duration) {
        if tokio::time::timeout(limit, self.task).await.is_err() {
            tracing::warn!("alert webhooks still retrying were abandoned at exit; `llmnode alerts list` shows them");
        }
    }
}
