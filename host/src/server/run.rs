//! `POST /api/v1/workflows/{name}/run` and `POST /api/v1/run`: a workflow run
//! by name or inline, answered with the run report, or with `"stream": true`
//! as server-sent events (`status`, `text`, `failover`, then `result`).

use super::caller::Caller;
use super::definitions::validate_workflow;
use super::error::ApiError;
use super::json_body::JsonBody;
use super::sse;
use super::state::AppState;
use crate::engine::{EventSink, NoEvents, NodeReport, NodeStatus, RunEvent, RunReport};
use crate::error_class::ErrorClass;
use crate::store::definition_rows::{self, Kind};
use crate::workflow::Workflow;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// How to run a stored workflow.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    #[serde(default)]
    inputs: Map<String, Value>,
    #[serde(default)]
    stream: bool,
}

/// An inline workflow and how to run it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineBody {
    workflow: Value,
    #[serde(default)]
    inputs: Map<String, Value>,
    #[serde(default)]
    stream: bool,
}

/// `POST /api/v1/workflows/{name}/run`.
pub async fn run_stored(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<Response, ApiError> {
    let row = definition_rows::get(state.store()?.db(), caller.workspace_id, Kind::Workflow, &name)?
        .ok_or_else(|| ApiError::NotFound(format!("no workflow `{name}` in workspace `{}`", caller.workspace)))?;
    // Checked again: its connections may have changed since it was stored.
    let workflow = validate_workflow(&state, &caller, &row.body.to_string())?;
    execute(state, caller, workflow, body.inputs, body.stream).await
}

/// `POST /api/v1/run`.
pub async fn run_inline(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(body): JsonBody<InlineBody>,
) -> Result<Response, ApiError> {
    let workflow = validate_workflow(&state, &caller, &body.workflow.to_string())?;
    execute(state, caller, workflow, body.inputs, body.stream).await
}

/// What a streamed run sends: its events, then its report.
enum Out {
    Event(RunEvent),
    Done(Box<RunReport>),
}

struct Channel(UnboundedSender<Out>);

impl EventSink for Channel {
    fn emit(&self, event: RunEvent) {
        let _ = self.0.send(Out::Event(event));
    }
}

async fn execute(
    state: Arc<AppState>,
    caller: Caller,
    workflow: Workflow,
    inputs: Map<String, Value>,
    stream: bool,
) -> Result<Response, ApiError> {
    caller.require_workflows()?;
    // Inputs arrive as JSON; the workflow's declared types check them.
    let provided = inputs
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    let inputs = workflow.resolve_inputs(provided).map_err(|e| ApiError::Invalid(format!("invalid inputs:\n{e}")))?;
    let engine = state.engine(&caller)?;
    engine.engine.check(&workflow).map_err(|e| ApiError::Invalid(format!("invalid workflow:\n{e}")))?;
    let workflow = Arc::new(workflow);
    if !stream {
        let report = engine.engine.run(workflow, inputs, &caller.principal, Arc::new(NoEvents)).await;
        state.metrics.run(&caller.workspace, &report);
        return Ok(answer(report));
    }
    let (tx, rx) = unbounded_channel();
    let sink = Arc::new(Channel(tx.clone()));
    // The run goes on (and is recorded) even if the client leaves.
    tokio::spawn(async move {
        let report = engine.engine.run(workflow, inputs, &caller.principal, sink).await;
        state.metrics.run(&caller.workspace, &report);
        let _ = tx.send(Out::Done(Box::new(report)));
    });
    Ok(sse::response(rx, encode, Vec::new()))
}

fn encode(item: Out, out: &mut String) -> bool {
    match item {
        Out::Event(e) => {
            let name = match &e {
                RunEvent::Status { .. } => "status",
                RunEvent::Text { .. } => "text",
                RunEvent::Reasoning { .. } => "reasoning",
                RunEvent::Failover { .. } => "failover",
            };
            sse::event(out, Some(name), &serde_json::to_string(&e).unwrap_or_default());
            true
        }
        Out::Done(report) => {
            sse::event(out, Some("result"), &serde_json::to_string(&report).unwrap_or_default());
            false
        }
    }
}

/// A report as a response: 200 when the run succeeded, otherwise the error
/// its first failed node deserves, with the report beside it.
fn answer(report: RunReport) -> Response {
    if report.ok {
        return Json(report).into_response();
    }
    let failed = report.nodes.iter().find(|n| n.status == NodeStatus::Failed);
    let message = report.error.clone().unwrap_or_else(|| "the run failed".into());
    let detail = failed.and_then(|n| n.error.as_deref()).map(|e| format!("{message}: {e}")).unwrap_or(message);
    let error = match failed {
        Some(n) => failure(n, detail),
        None => class_failure(None, detail),
    };
    let mut body = error.body();
    body["report"] = serde_json::to_value(&report).unwrap_or_default();
    (error.status(), Json(body)).into_response()
}

/// The API error failed node `n` deserves: 503 when nothing was tried
/// because its connections await approval, else by its last error's class.
pub fn failure(n: &NodeReport, message: String) -> ApiError {
    match n.awaiting_approval() {
        true => super::chat_run::awaiting_approval(&message),
        false => class_failure(n.error_class(), message),
    }
}

/// The API error for a failure whose last attempt failed with `class`.
pub fn class_failure(class: Option<ErrorClass>, message: String) -> ApiError {
    match class {
        Some(ErrorClass::RateLimit | ErrorClass::QuotaExceeded) => ApiError::RateLimited(message),
        Some(ErrorClass::Timeout) => ApiError::UpstreamTimeout(message),
        Some(ErrorClass::Forbidden) => ApiError::Forbidden(message),
        Some(ErrorClass::InvalidRequest | ErrorClass::ContextLength | ErrorClass::ContentFilter) => {
            ApiError::Invalid(message)
        }
        _ => ApiError::UpstreamFailed(message),
    }
}
