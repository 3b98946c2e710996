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

use super::AttemptRecord;
use crate::store::{Location, Store, StoreError, now_ms, usage_rows};
use crate::vault::SealedSecret;
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
    /// Where the workspace's alerts are posted, still sealed.
    pub alert_webhook: Option<SealedSecret>,
}

/// Attempts of one node, as handed to the writer.
pub struct Batch {
    pub scope: Arc<UsageScope>,
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
    /// Start the writer on its own connection to the store at `location`.
    pub fn open(location: impl Into<Location>, after_commit: Option<Box<dyn AfterCommit>>) -> Result<Self, StoreError> {
        let store = Store::open(location)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("llmnode-usage".into())
            .spawn(move || writer(store, rx, after_commit))
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

    /// Record `records` of `workflow` and wait until they are durable; the
    /// prompt monitor's `hits` go to the alert hook with them.
    pub async fn record(
        &self,
        workflow: &str,
        records: Vec<AttemptRecord>,
        hits: Vec<crate::monitor::Hit>,
    ) -> Result<(), UsageError> {
        if records.is_empty() && hits.is_empty() {
            return Ok(());
        }
        let (ack, acked) = oneshot::channel();
        let batch = Batch {
            scope: self.scope.clone(),
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

fn writer(mut store: Store, mut rx: mpsc::Receiver<Message>, mut after_commit: Option<Box<dyn AfterCommit>>) {
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
        write_group(&mut store, &mut group, after_commit.as_deref_mut());
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

/// Write `group` in one transaction, acknowledge each batch, then run the hook.
fn write_group(store: &mut Store, group: &mut [Batch], after_commit: Option<&mut (dyn AfterCommit + 'static)>) {
    if group.is_empty() {
        return;
    }
    let written = store.transaction(|tx| -> Result<(), StoreError> {
        for b in group.iter() {
            for r in &b.records {
                usage_rows::insert(tx, b.scope.workspace_id, &b.workflow, b.at_ms, r)?;
            }
        }
        Ok(())
    });
    let result = written.map_err(|e| {
        let events = group.iter().map(|b| b.records.len()).sum::<usize>();
        tracing::error!(error = %e, events, "usage events could not be written");
        UsageError::Write(e.to_string().into())
    });
    for b in group.iter_mut() {
        if let Some(ack) = b.ack.take() {
            let _ = ack.send(result.clone());
        }
    }
    if let (Ok(()), Some(hook)) = (&result, after_commit) {
        hook.committed(store, group);
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
        let log = UsageLog::open(&path, None).unwrap();
        let sink = log.sink(UsageScope { workspace_id: ws.id, workspace: "w".into(), alert_webhook: None });
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.record("wf", vec![record(&format!("n{i}"), 0.001)], Vec::new()).await })
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
        assert!(matches!(sink.record("wf", vec![record("late", 0.0)], Vec::new()).await, Err(UsageError::Closed)));
    }
}
