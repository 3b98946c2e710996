//! The result of a run, as data: for `--json`, for tables, and for the daemon.

use super::embedding_node::EmbeddingOutput;
use super::events::NodeStatus;
use crate::error_class::ErrorClass;
use crate::usage::AttemptRecord;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

impl NodeReport {
    /// A node that completed; its output is filled in when the run ends.
    pub(crate) fn done(id: &str, elapsed_ms: f64) -> Self {
        NodeReport {
            id: id.to_string(),
            status: NodeStatus::Done,
            output: None,
            embeddings: None,
            error: None,
            connection: None,
            skipped: Vec::new(),
            class: None,
            elapsed_ms,
        }
    }

    /// The error class a failed node deserves: its own (a prompt the
    /// monitor blocked), else its last failed attempt's.
    pub fn error_class(&self) -> Option<ErrorClass> {
        self.class.or_else(|| self.skipped.iter().rev().find_map(|s| s.class))
    }

    /// Whether nothing was tried because the node's connections await an
    /// approval (some of them; the rest, if any, unusable as well).
    pub fn awaiting_approval(&self) -> bool {
        self.class.is_none()
            && self.skipped.iter().all(|s| s.class.is_none())
            && self.skipped.iter().any(|s| s.awaiting_approval)
    }

    /// A node that failed with `message`.
    pub(crate) fn failed(id: &str, message: String, skipped: Vec<Skip>, elapsed_ms: f64) -> Self {
        NodeReport {
            id: id.to_string(),
            status: NodeStatus::Failed,
            output: None,
            embeddings: None,
            error: Some(message),
            connection: None,
            skipped,
            class: None,
            elapsed_ms,
        }
    }

    /// A node that never ran because a dependency failed.
    pub(crate) fn skipped(id: &str) -> Self {
        NodeReport {
            status: NodeStatus::Skipped,
            error: Some("not run: a node it depends on failed".into()),
            ..NodeReport::done(id, 0.0)
        }
    }
}

/// A connection passed over while serving a node, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skip {
    pub connection: String,
    /// The error class when an attempt failed; `None` when the connection was
    /// not usable at all (disabled, unknown provider, no model).
    pub class: Option<ErrorClass>,
    pub reason: String,
    /// Passed over because it awaits an admin's approval.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_approval: bool,
}

/// One node's result.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub id: String,
    pub status: NodeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// An embedding node's output, typed: serialized as its `output` (a node
    /// has one or the other).
    #[serde(rename = "output", skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<Arc<EmbeddingOutput>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The connection that served an llm or embedding node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Connections tried or passed over before the one that served (or all, on failure).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skip>,
    /// Why it failed before any connection was tried (the prompt monitor's block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<ErrorClass>,
    pub elapsed_ms: f64,
}

/// A whole run's result.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub workflow: String,
    /// True when every node succeeded and the output rendered.
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub nodes: Vec<NodeReport>,
    pub attempts: Vec<AttemptRecord>,
    /// The prompt monitor's hits: rule, action and where, never the text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monitor: Vec<crate::monitor::Hit>,
    pub elapsed_ms: f64,
}

impl RunReport {
    /// Total cost of every attempt.
    pub fn cost_usd(&self) -> f64 {
        self.attempts.iter().map(|a| a.cost_usd).sum()
    }
}
