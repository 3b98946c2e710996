//! The workflow engine: runs a validated workflow's nodes as a DAG, independent
//! nodes concurrently, and reports progress as it goes.

mod answer;
mod attempt;
mod attempt_span;
mod balance;
mod embedding_node;
mod events;
mod grounding;
mod llm_node;
mod prompt_size;
mod report;
mod request;
mod reserve;
mod retry;
mod route;
mod routed;

pub use crate::limits::Limits;
pub use answer::{Answer, StreamAccumulator, ToolCallOut};
pub use attempt::{AttemptError, class_of, class_of_error};
pub use embedding_node::EmbeddingOutput;
pub use events::{EventSink, Fragment, NoEvents, NodeStatus, RunEvent};
pub use report::{NodeReport, RunReport, Skip};
pub use request::build as chat_request;
pub use retry::RetryPolicy;
pub use route::{ResolvedConnection, Routes, effective_limit};

use crate::connections::ConnectionSet;
use crate::error_class::ErrorClass;
use crate::limits::{Hold, LimitsService, LocalLimits, Used};
use crate::monitor::{Hit, Monitor, Origin};
use crate::principal::Principal;
use crate::runtime::PluginRegistry;
use crate::telemetry::genai;
use crate::transport::{Transport, TransportError};
use crate::usage::{AttemptRecord, PriceBook, UsageSink};
use crate::workflow::{Lookup, NodeKind, Workflow, WorkflowError};
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

/// Runs workflows against a fixed set of connections and plugins. Cheap to
/// clone; share one across concurrent runs.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub routes: Routes,
    pub transport: Transport,
    pub balancer: balance::Balancer,
    /// RPM/TPM, budgets and breakers: outlive this engine.
    pub limits: Arc<dyn LimitsService>,
    pub prices: PriceBook,
    pub usage: Option<UsageSink>,
    /// Looks at every prompt before a plugin builds a request from it.
    pub monitor: Monitor,
    /// The workspace id (0 without a store).
    pub scope: i64,
    /// The workspace's name, for telemetry.
    pub workspace: Option<String>,
}

/// What an engine needs beyond connections and plugins; the default records
/// nothing, uses the plugins' prices and keeps limits in this engine's own
/// process-local service.
#[derive(Default)]
pub struct EngineOptions {
    /// Where every attempt becomes a durable usage event.
    pub usage: Option<UsageSink>,
    /// The workspace's price overrides.
    pub prices: PriceBook,
    /// Where limits live (shared by every engine of a process, and through
    /// the store by every process); `None`: a fresh in-process service.
    pub limits: Option<Arc<dyn LimitsService>>,
    /// The workspace id limits are keyed under (0 without a store).
    pub scope: i64,
    /// The workspace's prompt monitor policy and the process's volume baselines.
    pub monitor: Monitor,
    /// The workspace's name (`llmnode.workspace` on exported spans).
    pub workspace: Option<String>,
}

impl Engine {
    /// Resolve `connections` against `plugins` once, up front.
    pub fn new(connections: &ConnectionSet, plugins: &PluginRegistry) -> Result<Self, TransportError> {
        Self::with_options(connections, plugins, EngineOptions::default())
    }

    /// [`Engine::new`] with usage recording, price overrides and the day's spend so far.
    pub fn with_options(
        connections: &ConnectionSet,
        plugins: &PluginRegistry,
        options: EngineOptions,
    ) -> Result<Self, TransportError> {
        let inner = Inner {
            limits: options.limits.unwrap_or_else(|| Arc::new(LocalLimits::default())),
            routes: Routes::resolve(connections, plugins, options.scope),
            transport: Transport::new()?,
            balancer: balance::Balancer::default(),
            prices: options.prices,
            usage: options.usage,
            monitor: options.monitor,
            scope: options.scope,
            workspace: options.workspace,
        };
        Ok(Engine { inner: Arc::new(inner) })
    }

    /// The plugin serving connection `name`, if the connection is usable.
    pub fn plugin_of(&self, name: &str) -> Option<&crate::runtime::LoadedPlugin> {
        self.inner.routes.ready.get(name).map(|r| r.plugin.as_ref())
    }

    /// The workspace's price overrides this engine charges by.
    pub fn prices(&self) -> &PriceBook {
        &self.inner.prices
    }

    /// Check that every connection the workflow names is configured.
    pub fn check(&self, workflow: &Workflow) -> Result<(), WorkflowError> {
        workflow.check_connections(|name| self.inner.routes.knows(name))
    }

    /// Run `workflow` with resolved `inputs` for `by` (named in its usage
    /// events; its token's limits and allow-lists apply), reporting progress
    /// to `sink`. Node failures are part of the report, not an `Err`.
    pub async fn run(
        &self,
        workflow: Arc<Workflow>,
        inputs: Map<String, Value>,
        by: &Arc<Principal>,
        sink: Arc<dyn EventSink>,
    ) -> RunReport {
        let started = Instant::now();
        let span = tracing::info_span!(
            "workflow",
            workflow = %workflow.name,
            otel.name = %format_args!("workflow {}", workflow.name),
            otel.status_code = Empty,
            llmnode.workflow = %workflow.name,
            llmnode.workspace = self.inner.workspace.as_deref(),
        );
        let plan = workflow.plan();
        let n = workflow.nodes.len();
        let state = RunState {
            inputs,
            outputs: (0..n).map(|_| OnceLock::new()).collect(),
            index: workflow.nodes.iter().enumerate().map(|(i, node)| (node.id.clone(), i)).collect(),
        };
        let ids: Vec<Arc<str>> = workflow.nodes.iter().map(|node| Arc::from(node.id.as_str())).collect();
        let mut waiting_on: Vec<usize> = plan.deps.iter().map(Vec::len).collect();
        let mut reports: Vec<Option<NodeReport>> = vec![None; n];
        let mut attempts: Vec<AttemptRecord> = Vec::new();
        let mut monitor: Vec<Hit> = Vec::new();
        // Nodes are polled concurrently within this task: their work is waiting
        // on upstreams, so this gives full concurrency without a thread hop per
        // node. A panicking node fails alone.
        let mut running = FuturesUnordered::new();
        let start = |i: usize| {
            let node_span = tracing::info_span!(
                parent: &span,
                "node",
                node = %ids[i],
                otel.name = %format_args!("node {}", ids[i]),
                otel.status_code = Empty,
                error.type = Empty,
                llmnode.node = %ids[i],
                llmnode.workflow = %workflow.name,
            );
            let node = run_node(&self.inner, by, &workflow, i, &state, &*sink, ids[i].clone()).instrument(node_span);
            AssertUnwindSafe(node).catch_unwind().map(move |result| (i, result))
        };
        for &i in &plan.order {
            if waiting_on[i] == 0 {
                running.push(start(i));
            }
        }
        while let Some((i, result)) = running.next().await {
            let (report, mut tried, mut hits) = result.unwrap_or_else(|panic| {
                let message = format!("internal error: the node's task panicked ({})", panic_text(&*panic));
                tracing::error!(node = %ids[i], "{message}");
                sink.emit(RunEvent::Status {
                    node: ids[i].clone(),
                    status: NodeStatus::Failed,
                    detail: Some(message.clone()),
                });
                (NodeReport::failed(&ids[i], message, Vec::new(), 0.0), Vec::new(), Vec::new())
            });
            attempts.append(&mut tried);
            monitor.append(&mut hits);
            let ok = report.status == NodeStatus::Done;
            reports[i] = Some(report);
            if ok {
                for &d in &plan.dependents[i] {
                    waiting_on[d] -= 1;
                    if waiting_on[d] == 0 {
                        running.push(start(d));
                    }
                }
            }
        }
        drop(running);
        // Whatever never ran was blocked by a failure upstream.
        let mut nodes: Vec<NodeReport> = reports
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    sink.emit(RunEvent::Status {
                        node: ids[i].clone(),
                        status: NodeStatus::Skipped,
                        detail: Some("a dependency failed".into()),
                    });
                    NodeReport::skipped(&ids[i])
                })
            })
            .collect();
        let failed: Vec<&str> = nodes.iter().filter(|r| r.status != NodeStatus::Done).map(|r| r.id.as_str()).collect();
        let (output, error) = if !failed.is_empty() {
            (None, Some(format!("node(s) did not complete: {}", failed.join(", "))))
        } else {
            match workflow.output.as_ref().map(|o| o.render(&state)).transpose() {
                Ok(output) => (output, None),
                Err(e) => (None, Some(format!("the workflow's output could not be rendered: {e}"))),
            }
        };
        // Outputs move into the report now that nothing reads them any more.
        for (report, output) in nodes.iter_mut().zip(state.outputs) {
            match output.into_inner() {
                Some(NodeOutput::Json(value)) => report.output = Some(value),
                Some(NodeOutput::Embeddings(typed, _)) => report.embeddings = Some(typed),
                None => {}
            }
        }
        if error.is_some() {
            span.record("otel.status_code", "error");
        }
        RunReport {
            workflow: workflow.name.clone(),
            ok: error.is_none(),
            output,
            error,
            nodes,
            attempts,
            monitor,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

/// What the nodes of one run share: inputs, finished outputs (each written once).
struct RunState {
    inputs: Map<String, Value>,
    outputs: Vec<OnceLock<NodeOutput>>,
    index: HashMap<String, usize>,
}

/// A finished node's output: JSON, or an embedding node's typed vectors
/// with the JSON made of them only if a template reads them.
enum NodeOutput {
    Json(Value),
    Embeddings(Arc<EmbeddingOutput>, OnceLock<Value>),
}

impl Lookup for RunState {
    fn input(&self, name: &str) -> Option<&Value> {
        self.inputs.get(name)
    }

    fn node_output(&self, id: &str) -> Option<&Value> {
        match self.index.get(id).and_then(|&i| self.outputs[i].get())? {
            NodeOutput::Json(value) => Some(value),
            // Through text, so each number keeps its shortest `f32` spelling
            // (0.31374088, not the widened 0.31374087929725647).
            NodeOutput::Embeddings(typed, json) => Some(json.get_or_init(|| {
                serde_json::to_string(&**typed).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null)
            })),
        }
    }
}

async fn run_node(
    inner: &Inner,
    by: &Arc<Principal>,
    wf: &Workflow,
    i: usize,
    state: &RunState,
    sink: &dyn EventSink,
    id: Arc<str>,
) -> (NodeReport, Vec<AttemptRecord>, Vec<Hit>) {
    let started = Instant::now();
    sink.emit(RunEvent::Status { node: id.clone(), status: NodeStatus::Running, detail: None });
    let mut attempts = Vec::new();
    let mut skipped = Vec::new();
    let mut holds: Vec<(Hold, Used)> = Vec::new();
    let mut hits = Vec::new();
    let mut class = None;
    let result: Result<(NodeOutput, Option<String>), String> = match &wf.nodes[i].kind {
        NodeKind::Template(t) => {
            t.render(state).map(|text| (NodeOutput::Json(json!({ "text": text })), None)).map_err(|e| e.to_string())
        }
        NodeKind::Llm(config) => match request::build(config, state) {
            Err(e) => Err(e.to_string()),
            Ok(mut request) => {
                let origin = Origin { workspace: inner.scope, workflow: &wf.name, node: &id, token: by.token_id() };
                match inner.monitor.inspect(&mut request, origin, &mut hits) {
                    Err(blocked) => {
                        class = Some(ErrorClass::InvalidRequest);
                        Err(blocked.to_string())
                    }
                    Ok(()) => {
                        llm_node::run(inner, by, &id, config, request, sink, &mut attempts, &mut skipped, &mut holds)
                            .await
                            .map(|s| (NodeOutput::Json(s.output), Some(s.connection)))
                            .map_err(|f| f.message)
                    }
                }
            }
        },
        NodeKind::Embedding(config) => match embedding_node::inputs(config, state) {
            Err(e) => Err(e.to_string()),
            Ok(texts) => {
                embedding_node::run(inner, by, &id, config, texts, sink, &mut attempts, &mut skipped, &mut holds)
                    .await
                    .map(|(out, connection)| (NodeOutput::Embeddings(Arc::new(out), OnceLock::new()), Some(connection)))
            }
        },
    };
    // The node is reported only once its attempts are durable usage events;
    // their costs are booked against budgets in the same transaction, so only
    // then are the calls' budget holds released.
    let booked = match &inner.usage {
        Some(usage) => match usage.record(&wf.name, by, attempts.clone(), hits.clone()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(node = %id, error = %e, "the node's usage was not recorded");
                false
            }
        },
        None => false,
    };
    for (hold, used) in holds {
        hold.settle(Used { booked, ..used });
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let report = match result {
        Ok((output, connection)) => {
            let detail = connection.as_ref().map(|c| match skipped.is_empty() {
                true => format!("via {c}"),
                false => format!(
                    "via {c} after {}",
                    skipped.iter().map(|s| s.connection.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
            sink.emit(RunEvent::Status { node: id.clone(), status: NodeStatus::Done, detail });
            let _ = state.outputs[i].set(output);
            NodeReport { connection, skipped, ..NodeReport::done(&id, elapsed_ms) }
        }
        Err(message) => {
            let span = tracing::Span::current();
            if !span.is_disabled() {
                let class = class.or_else(|| skipped.last().and_then(|s| s.class));
                span.record("error.type", class.map_or("_OTHER", genai::error_type));
                span.record("otel.status_code", "error");
            }
            sink.emit(RunEvent::Status { node: id.clone(), status: NodeStatus::Failed, detail: Some(message.clone()) });
            NodeReport { class, ..NodeReport::failed(&id, message, skipped, elapsed_ms) }
        }
    };
    (report, attempts, hits)
}

/// The message a panic carried, if it was text.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// A run must be spawnable on a multi-threaded runtime (the daemon does so).
#[allow(dead_code)]
fn run_future_is_send<'a>(
    engine: &'a Engine,
    workflow: Arc<Workflow>,
    by: &'a Arc<Principal>,
    sink: Arc<dyn EventSink>,
) -> impl Send + 'a {
    engine.run(workflow, Map::new(), by, sink)
}
