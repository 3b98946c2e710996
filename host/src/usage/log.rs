//! The usage log: every attempt becomes a row of `usage_events`, durably,
//! without a disk wait per call.
//!
//! One writer thread owns a store connection. Nodes hand it their attempts
//! through a bounded queue (a full queue makes callers wait: back-pressure,
//! never an unbounded backlog) and await an acknowledgement. The writer takes
//! everything queued, writes it in one transaction (group commit) and then
//! acknowledges each batch. A node is reported done only after its ack, so an
//! event that was acknowledged is in the WAL: a crash of the process, even
//! `kill -9`, cannot lose it.
//!
//! After each commit an optional [`AfterCommit`] hook (alerts) looks at what
//! was written, off the hot path.
//!
//! A group the store refuses (an outage) goes to the data directory's
//! [`Spool`] instead, synced before it is acknowledged, and is replayed into
//! the store by the next commit that succeeds.

use super::AttemptRecord;
use super::spool::{Spool, Spooled};
use crate::principal::Principal;
use crate::store::{Location, Store, StoreError, now_ms, usage_rows};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Batches waiting for the writer; senders wait when it is full.
const QUEUE: usize = 1024;
/// At most this many batches go into one transaction.
const MAX_GROUP: usize = 512;

/// A usage event could not be recorded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UsageError {
    #[error("the usage log is closed")]
    Closed,
    #[error("usage could not be written: {0}")]
    Write(Arc<str>),
}

/// Who the events of a sink belong to.
#[derive(Debug)]
pub struct UsageScope {
    pub workspace_id: i64,
    /// The workspace's name, for alerts.
    pub workspace: String,
    /// Where the workspace's alerts are delivered, secrets still sealed.
    pub alert_channels: Vec<crate::alerts::Channel>,
}

/// Attempts of one node, as handed to the writer.
pub struct Batch {
    pub scope: Arc<UsageScope>,
    /// Who caused them.
    pub by: Arc<Principal>,
    pub workflow: String,
    pub at_ms: i64,
    pub records: Vec<AttemptRecord>,
    /// The prompt monitor's hits in the same node (alerted after commit).
    pub hits: Vec<crate::monitor::Hit>,
    ack: Option<oneshot::Sender<Result<(), UsageError>>>,
}

enum Message {
    Write(Batch),
    /// Answer once everything queued before this is written and its hook has run.
    Flush(oneshot::Sender<()>),
    /// Finish what was queued before this, then stop.
    Close(oneshot::Sender<()>),
}

/// Looks at each group of batches after it is committed (the alert watch).
pub trait AfterCommit: Send {
    /// `batches` are durable in `store` now.
    fn committed(&mut self, store: &Store, batches: &[Batch]);
}

/// The writer thread and its queue. One per store per process.
pub struct UsageLog {
    tx: mpsc::Sender<Message>,
}

/// Records the attempts of one workspace's runs. Cheap to clone.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<Message>,
    scope: Arc<UsageScope>,
}

impl UsageLog {
    /// Start the writer on its own connection to the store at `location`,
    /// spooling to `spool` what the store cannot take (replayed first).
    pub fn open(
        location: impl Into<Location>,
        after_commit: Option<Box<dyn AfterCommit>>,
        spool: Option<Spool>,
    ) -> Result<Self, StoreError> {
        let mut store = Store::open(location)?;
        if let Some(spool) = &spool {
            replay(&mut store, spool);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("llmnode-usage".into())
            .spawn(move || writer(store, rx, after_commit, spool))
            .map_err(|e| StoreError::Malformed { what: "usage writer", detail: e.to_string() })?;
        Ok(UsageLog { tx })
    }

    /// A sink for `scope`'s runs.
    pub fn sink(&self, scope: UsageScope) -> UsageSink {
        UsageSink { tx: self.tx.clone(), scope: Arc::new(scope) }
    }

    /// Wait until everything queued so far is written and its alerts are
    /// checked (for a daemon's shutdown, and for tests).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Write everything queued so far, then stop the writer. Sinks still held
    /// elsewhere get [`UsageError::Closed`] from then on.
    pub async fn close(self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl UsageSink {
    /// The workspace this sink records for.
    pub fn scope(&self) -> &UsageScope {
        &self.scope
    }

    /// Record `records` of `workflow`, caused by `by`, and wait until they
    /// are durable; the prompt monitor's `hits` go to the alert hook with them.
    pub async fn record(
        &self,
        workflow: &str,
        by: &Arc<Principal>,
        records: Vec<AttemptRecord>,
        hits: Vec<crate::monitor::Hit>,
    ) -> Result<(), UsageError> {
        if records.is_empty() && hits.is_empty() {
            return Ok(());
        }
        let (ack, acked) = oneshot::channel();
        let batch = Batch {
            scope: self.scope.clone(),
            by: by.clone(),
            workflow: workflow.to_string(),
            at_ms: now_ms(),
            records,
            hits,
            ack: Some(ack),
        };
        self.tx.send(Message::Write(batch)).await.map_err(|_| UsageError::Closed)?;
        acked.await.map_err(|_| UsageError::Closed)?
    }
}

fn writer(
    mut store: Store,
    mut rx: mpsc::Receiver<Message>,
    mut after_commit: Option<Box<dyn AfterCommit>>,
    spool: Option<Spool>,
) {
    let mut closing = None;
    while closing.is_none() {
        let Some(first) = rx.blocking_recv() else { break };
        let mut group = Vec::new();
        let mut flushed = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write(batch) => group.push(batch),
                Message::Flush(done) => {
                    // Later writes go in the next group, so the flush answers
                    // exactly for what came before it.
                    flushed.push(done);
                    break;
                }
                Message::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if group.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        write_group(&mut store, &mut group, after_commit.as_deref_mut(), spool.as_ref());
        for done in flushed {
            let _ = done.send(());
        }
    }
    // Dropping the hook lets its deliveries finish before the close is acknowledged.
    drop(after_commit);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Insert each (workspace, workflow, who, time, attempts) in the caller's transaction.
fn insert_all<'a>(
    tx: &crate::store::Db,
    groups: impl IntoIterator<Item = (i64, &'a str, &'a Principal, i64, &'a [AttemptRecord])>,
) -> Result<(), StoreError> {
    for (workspace_id, workflow, by, at_ms, records) in groups {
        for r in records {
            usage_rows::insert(tx, workspace_id, workflow, by, at_ms, r)?;
        }
    }
    Ok(())
}

/// Write `group` in one transaction (or, if the store refuses it, to the
/// spool), acknowledge each batch, then run the hook.
fn write_group(
    store: &mut Store,
    group: &mut [Batch],
    after_commit: Option<&mut (dyn AfterCommit + 'static)>,
    spool: Option<&Spool>,
) {
    if group.is_empty() {
        return;
    }
    if let Some(spool) = spool.filter(|s| s.pending()) {
        replay(store, spool);
    }
    let rows = group.iter().map(|b| (b.scope.workspace_id, b.workflow.as_str(), &*b.by, b.at_ms, b.records.as_slice()));
    let written = store.transaction(|tx| insert_all(tx, rows));
    let events = group.iter().map(|b| b.records.len()).sum::<usize>();
    let result = match (written, spool) {
        (Ok(()), _) => Ok(()),
        (Err(e), Some(spool)) => {
            let spooled = group.iter().map(|b| Spooled {
                workspace_id: b.scope.workspace_id,
                workflow: b.workflow.clone(),
                user: b.by.user.to_string(),
                token_id: b.by.token_id(),
                at_ms: b.at_ms,
                records: b.records.clone(),
            });
            match spool.append(spooled) {
                Ok(()) => {
                    tracing::warn!(error = %e, events, spool = %spool.path().display(), "usage spooled until the store takes it");
                    Ok(())
                }
                Err(io) => {
                    tracing::error!(error = %e, spool_error = %io, events, "usage events could not be written or spooled");
                    Err(UsageError::Write(e.to_string().into()))
                }
            }
        }
        (Err(e), None) => {
            tracing::error!(error = %e, events, "usage events could not be written");
            Err(UsageError::Write(e.to_string().into()))
        }
    };
    for b in group.iter_mut() {
        if let Some(ack) = b.ack.take() {
            let _ = ack.send(result.clone());
        }
    }
    if let (Ok(()), Some(hook)) = (&result, after_commit) {
        hook.committed(store, group);
    }
}

/// Move what the spool holds into the store, in one transaction.
fn replay(store: &mut Store, spool: &Spool) {
    let spooled = match spool.read() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, spool = %spool.path().display(), "the usage spool could not be read");
            return;
        }
    };
    let principals: Vec<Arc<Principal>> = spooled.iter().map(Spooled::principal).collect();
    let rows = spooled
        .iter()
        .zip(&principals)
        .map(|(s, by)| (s.workspace_id, s.workflow.as_str(), &**by, s.at_ms, s.records.as_slice()));
    match store.transaction(|tx| insert_all(tx, rows)) {
        Ok(()) => {
            if let Err(e) = spool.clear() {
                tracing::error!(error = %e, spool = %spool.path().display(), "a replayed usage spool could not be removed");
            }
            let events = spooled.iter().map(|s| s.records.len()).sum::<usize>();
            tracing::info!(events, "spooled usage written to the store");
        }
        Err(e) => tracing::debug!(error = %e, "the store still refuses the spooled usage"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::TokenUsage;
    use std::time::Duration;

    fn record(node: &str, cost: f64) -> AttemptRecord {
        AttemptRecord {
            node: node.into(),
            connection: "c".into(),
            provider: "openai".into(),
            model: "m".into(),
            error: None,
            usage: TokenUsage { input: 10, output: 5, ..Default::default() },
            cost_usd: cost,
            latency: Duration::from_millis(3),
            time_to_first_token: None,
            streamed: false,
            unpriced: false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_are_all_durable_when_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let ws = store
            .transaction(|tx| crate::store::workspaces::create(tx, "w", |_| Ok::<_, StoreError>(vec![1])))
            .unwrap();
        let log = UsageLog::open(&path, None, None).unwrap();
        let sink = log.sink(UsageScope { workspace_id: ws.id, workspace: "w".into(), alert_channels: Vec::new() });
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let (sink, by) = (sink.clone(), Principal::cli("cli:test"));
                tokio::spawn(
                    async move { sink.record("wf", &by, vec![record(&format!("n{i}"), 0.001)], Vec::new()).await },
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // Acknowledged means readable by another connection now, before any close.
        let scope = usage_rows::Scope { workspace_id: ws.id, since_ms: 0, connection: None };
        let totals = usage_rows::totals(store.db(), scope).unwrap();
        assert_eq!(totals.requests, 200);
        assert_eq!(totals.cost_nusd, 200 * 1_000_000);
        log.close().await;
        let by = Principal::cli("cli:test");
        assert!(matches!(sink.record("wf", &by, vec![record("late", 0.0)], Vec::new()).await, Err(UsageError::Closed)));
    }
}
