//! The alert watch: after each usage commit, checks the conditions of the
//! workspaces and connections just written (a stale key alerts when its
//! connection is next used), records new alerts (the store
//! drops a repeat within its window) and sends them on: a log event always,
//! and each of the workspace's channels.

use super::conditions::{self, Condition};
use super::deliver::{self, Delivery, DeliveryPolicy, Fired};
use super::tally::Tally;
use crate::store::{Location, Store, StoreError, alert_rows, day_start_ms, now_ms};
use crate::usage::log::{AfterCommit, Batch, UsageScope};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Watches usage commits; hand it to [`crate::usage::UsageLog::open`].
pub struct AlertWatch {
    deliveries: mpsc::UnboundedSender<Delivery>,
    tally: Tally,
}

/// The delivery task; [`Deliveries::finish`] waits for what is in flight.
pub struct Deliveries {
    task: tokio::task::JoinHandle<()>,
}

impl AlertWatch {
    /// A watch over the store at `path`, delivering to channels from a task
    /// on the current tokio runtime.
    pub fn start(location: impl Into<Location>, policy: DeliveryPolicy) -> Result<(Self, Deliveries), StoreError> {
        let store = Store::open(location)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(deliver::deliver_all(rx, store, policy));
        Ok((AlertWatch { deliveries: tx, tally: Tally::default() }, Deliveries { task }))
    }

    /// Record and send every condition that holds for the workspace of
    /// `scope` and the `connections` just written.
    fn check(&mut self, store: &Store, scope: &UsageScope, connections: &BTreeSet<&str>) -> Result<(), StoreError> {
        let db = store.db();
        let now = now_ms();
        let day = day_start_ms(now);
        let ws = self.tally.workspace(db, scope.workspace_id)?;
        let settings = ws.settings;
        let mut holding: Vec<Condition> =
            conditions::spend_condition(ws.today_nusd(), &settings, now).into_iter().collect();
        for name in connections {
            let limits = ws.limits.get(*name).copied().unwrap_or_default();
            let usage = ws.connection(db, scope.workspace_id, day, name, now)?;
            holding.extend(conditions::connection_conditions(name, &limits, &settings, &usage, now));
            if let Some(keys) = ws.keys.get(*name) {
                holding.extend(conditions::key_age_conditions(name, keys, &settings, now));
            }
        }
        for c in holding {
            self.raise(db, scope, &c, now)?;
        }
        Ok(())
    }

    /// Record `c` (unless it already alerted in its window), log it, and
    /// hand it to each of the workspace's channels.
    fn raise(&self, db: &crate::store::Db, scope: &UsageScope, c: &Condition, now: i64) -> Result<(), StoreError> {
        let Some(id) = alert_rows::fire(db, scope.workspace_id, c, now)? else { return Ok(()) };
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
        if scope.alert_channels.is_empty() {
            return Ok(());
        }
        let alert = Arc::new(Fired {
            source: "llmnode",
            id,
            workspace: scope.workspace.clone(),
            kind: c.kind.as_str(),
            subject: c.subject.clone(),
            value: c.value,
            threshold: c.threshold,
            window_start_ms: c.window_start_ms,
            fired_ms: now,
            message: c.message.clone(),
        });
        for channel in &scope.alert_channels {
            let _ = self.deliveries.send(Delivery { alert: alert.clone(), channel: channel.clone() });
        }
        Ok(())
    }
}

impl AfterCommit for AlertWatch {
    fn committed(&mut self, store: &Store, batches: &[Batch]) {
        let written = batches.iter().map(|b| b.records.len()).sum();
        if let Err(e) = self.tally.sync(store.db(), now_ms(), written) {
            tracing::error!(error = %e, "alerts could not be checked");
            return;
        }
        let mut touched: BTreeMap<i64, (&Arc<UsageScope>, BTreeSet<&str>)> = BTreeMap::new();
        for b in batches {
            for hit in &b.hits {
                let c = conditions::monitor_condition(hit, &b.workflow, b.at_ms);
                if let Err(e) = self.raise(store.db(), &b.scope, &c, now_ms()) {
                    tracing::error!(workspace = %b.scope.workspace, error = %e, "a monitor alert could not be recorded");
                }
            }
            if b.records.is_empty() {
                continue;
            }
            self.tally.add(b.scope.workspace_id, b.at_ms, &b.records);
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
    /// Wait up to `limit` for deliveries still in flight (the watch must be
    /// dropped first, i.e. its usage log closed).
    pub async fn finish(self, limit: Duration) {
        if tokio::time::timeout(limit, self.task).await.is_err() {
            tracing::warn!("alert deliveries still retrying were abandoned at exit; `llmnode alerts list` shows them");
        }
    }
}
