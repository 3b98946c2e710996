//! What a run reports while it runs, for live progress displays and streaming APIs.

use serde::Serialize;
use std::sync::Arc;

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Waiting,
    Running,
    Streaming,
    Done,
    Failed,
    /// Not run because a node it depends on failed.
    Skipped,
}

impl NodeStatus {
    /// The lower-case name shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Waiting => "waiting",
            NodeStatus::Running => "running",
            NodeStatus::Streaming => "streaming",
            NodeStatus::Done => "done",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
        }
    }
}

/// One thing that happened during a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// A node changed status; `detail` says why (e.g. the connection serving it).
    Status { node: Arc<str>, status: NodeStatus, detail: Option<String> },
    /// A fragment of a node's streamed answer.
    Text { node: Arc<str>, text: String },
    /// A fragment of the reasoning a node's model streams before (or beside) its answer.
    Reasoning { node: Arc<str>, text: String },
    /// An attempt on a connection failed and the node moves on to the next one.
    Failover { node: Arc<str>, from: String, reason: String },
}

/// A streamed fragment of an llm call, as an attempt passes it on.
#[derive(Debug, Clone, Copy)]
pub enum Fragment<'a> {
    /// Answer text.
    Text(&'a str),
    /// Reasoning text.
    Reasoning(&'a str),
}

/// Receives run events. Implementations must be quick: they are called on the
/// hot path of every streamed token.
pub trait EventSink: Send + Sync {
    /// Called for every event, in order per node.
    fn emit(&self, event: RunEvent);
}

/// Drops every event (for callers that only want the final report).
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: RunEvent) {}
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<RunEvent> {
    fn emit(&self, event: RunEvent) {
        let _ = self.send(event);
    }
}
