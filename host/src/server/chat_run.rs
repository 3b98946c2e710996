//! One chat request through the caller's workspace engine, whatever wire
//! format it came in: a one-node workflow (failover, balancing, limits,
//! usage, alerts and metrics all apply), answered whole or as a stream of
//! run items for the endpoint to frame. A request no connection can serve
//! gets a real HTTP error, never a 200 stream with an error inside.

use super::caller::Caller;
use super::chat_routes::{ChatRoute, Unserved};
use super::error::ApiError;
use super::run::failure;
use super::state::{AppState, WorkspaceEngine};
use crate::engine::{EventSink, NoEvents, NodeReport, NodeStatus, RunEvent, RunReport};
use crate::escape::quoted_list;
use crate::workflow::{LlmConfig, Node, NodeKind, Workflow};
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The workflow name chat requests are recorded under in usage.
pub const CHAT_WORKFLOW: &str = "chat.completions";
/// The response header naming the connection that served.
pub(super) const SERVED_BY: &str = "x-llmnode-connection";

/// What a streamed run sends its endpoint, in order.
pub(super) enum Out {
    Event(RunEvent),
    /// An answer that arrived whole (the connection does not stream).
    Whole(Box<Value>),
    Done(Box<RunReport>),
}

/// How a request was served.
pub(super) enum Ran {
    /// The node's output and the connection that served it.
    Whole(Value, String),
    /// Items to frame, until [`Out::Whole`] or [`Out::Done`]; and the connection.
    Stream(UnboundedReceiver<Out>, String),
}

/// The route serving `model` in the caller's workspace, or the HTTP error
/// saying why none does. Every endpoint that names a route resolves it here,
/// so a token limited to some routes may use those only, wherever it calls.
pub(super) fn resolve(engine: &WorkspaceEngine, caller: &Caller, model: &str) -> Result<ChatRoute, ApiError> {
    if let Some(token) = &caller.principal.token {
        token.check_route(model).map_err(ApiError::Forbidden)?;
    }
    engine.chat.resolve(model).map_err(|why| match why {
        Unserved::Unknown => ApiError::NotFound(format!(
            "no route, connection or default model serves model {model:?} in workspace `{}` (see GET /v1/models)",
            caller.workspace
        )),
        Unserved::Disabled(names) => ApiError::Conflict(format!(
            "model {model:?} is served only by disabled connection(s) {} in workspace `{}`; an admin can enable one \
             (POST /api/v1/connections/NAME/enable, or `llmnode connections enable NAME`)",
            quoted_list(&names),
            caller.workspace
        )),
        Unserved::Pending(why) => awaiting_approval(&format!(
            "model {model:?} is served in workspace `{}` only by connections awaiting approval: {}",
            caller.workspace,
            why.join("; ")
        )),
    })
}

/// A request nothing can serve until an admin approves a change: 503, as
/// the same request will go through once it is approved.
pub(super) fn awaiting_approval(message: &str) -> ApiError {
    ApiError::Unavailable(message.to_string())
}

/// A whole answer, with the connection that served it in [`SERVED_BY`].
pub(super) fn whole(body: impl serde::Serialize, connection: &str) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(v) = connection.parse() {
        response.headers_mut().insert(SERVED_BY, v);
    }
    response
}

/// Run `config` as the one llm node of a [`CHAT_WORKFLOW`] run. A streamed
/// request's answer is held until content flows (or the run ends), so a
/// request that no connection serves is a real HTTP error.
pub(super) async fn run(
    state: &Arc<AppState>,
    caller: &Caller,
    engine: Arc<WorkspaceEngine>,
    config: LlmConfig,
) -> Result<Ran, ApiError> {
    let stream = config.stream;
    let workflow = Arc::new(Workflow {
        name: CHAT_WORKFLOW.into(),
        description: None,
        inputs: Vec::new(),
        nodes: vec![Node { id: "chat".into(), depends_on: Vec::new(), kind: NodeKind::Llm(Box::new(config)) }],
        output: None,
    });
    if !stream {
        let report = engine.engine.run(workflow, Default::default(), &caller.principal, Arc::new(NoEvents)).await;
        state.metrics.run(&caller.workspace, &report);
        let (output, connection) = served(report)?;
        return Ok(Ran::Whole(output, connection));
    }
    let (tx, mut rx) = unbounded_channel();
    let sink = Arc::new(Channel(tx.clone()));
    let workspace = caller.workspace.clone();
    let metrics_state = state.clone();
    let by = caller.principal.clone();
    tokio::spawn(async move {
        let report = engine.engine.run(workflow, Default::default(), &by, sink).await;
        metrics_state.metrics.run(&workspace, &report);
        let _ = tx.send(Out::Done(Box::new(report)));
    });
    // Once content flows the endpoint reads the run's own channel (no
    // forwarding task, no second hop per event); an answer that came whole
    // gets a channel of its one item.
    loop {
        match rx.recv().await {
            Some(Out::Event(RunEvent::Status { status: NodeStatus::Streaming, detail, .. })) => {
                return Ok(Ran::Stream(rx, detail.unwrap_or_default()));
            }
            Some(Out::Event(_) | Out::Whole(_)) => {}
            Some(Out::Done(report)) => {
                let (output, connection) = served(*report)?;
                let (whole_tx, whole_rx) = unbounded_channel();
                let _ = whole_tx.send(Out::Whole(Box::new(output)));
                return Ok(Ran::Stream(whole_rx, connection));
            }
            None => return Err(ApiError::Internal("the run ended without a report".into())),
        }
    }
}

/// The node's output and connection, or the HTTP error its failure deserves.
pub(super) fn served(report: RunReport) -> Result<(Value, String), ApiError> {
    let n = served_node(report)?;
    Ok((n.output.unwrap_or(Value::Null), n.connection.unwrap_or_default()))
}

/// The one node of a request's run, if it was served; else the HTTP error
/// its failure deserves (by the class of its last error).
pub(super) fn served_node(report: RunReport) -> Result<NodeReport, ApiError> {
    match report.nodes.into_iter().next() {
        Some(n) if n.status == NodeStatus::Done => Ok(n),
        Some(n) => {
            let message = n.error.clone().unwrap_or_else(|| "the request failed".into());
            Err(failure(&n, message))
        }
        None => Err(ApiError::Internal("the run reported no node".into())),
    }
}

struct Channel(UnboundedSender<Out>);

impl EventSink for Channel {
    fn emit(&self, event: RunEvent) {
        let _ = self.0.send(Out::Event(event));
    }
}
