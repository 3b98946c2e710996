//! The OpenAI-compatible endpoint: `POST /v1/chat/completions` (JSON or
//! streamed) and `GET /v1/models`, so the official OpenAI clients work
//! unchanged. Each request runs as a one-node workflow through the caller's
//! workspace engine: failover, balancing, limits, usage, alerts and metrics
//! all apply. A request no connection can serve gets a real HTTP error, never
//! a 200 stream with an error inside.

use super::caller::Caller;
use super::chat_routes::{ChatRoute, Unserved};
use super::error::ApiError;
use super::json_body::JsonBody;
use super::openai_wire::{self, ChatRequest};
use super::run::failure;
use super::sse;
use super::state::AppState;
use super::state::WorkspaceEngine;
use crate::engine::{EventSink, NoEvents, NodeReport, NodeStatus, RunEvent, RunReport};
use crate::escape::quoted_list;
use crate::workflow::{Node, NodeKind, Workflow};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The workflow name chat requests are recorded under in usage.
pub const CHAT_WORKFLOW: &str = "chat.completions";
/// The response header naming the connection that served.
pub(super) const SERVED_BY: &str = "x-llmnode-connection";

/// `GET /v1/models`.
pub async fn models(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine(&caller)?;
    let data: Vec<Value> = engine
        .chat
        .model_ids()
        .into_iter()
        .map(|(id, owner)| json!({ "id": id, "object": "model", "created": 0, "owned_by": owner }))
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(request): JsonBody<ChatRequest>,
) -> Result<Response, ApiError> {
    if let Some(token) = &caller.principal.token {
        token.check_route(&request.model).map_err(ApiError::Forbidden)?;
    }
    let engine = state.engine(&caller)?;
    let route = resolve(&engine, &caller, &request.model)?;
    let model = request.model.clone();
    let stream = request.stream;
    let include_usage = request.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let config = request.into_config(route)?;
    let workflow = Arc::new(Workflow {
        name: CHAT_WORKFLOW.into(),
        description: None,
        inputs: Vec::new(),
        nodes: vec![Node { id: "chat".into(), depends_on: Vec::new(), kind: NodeKind::Llm(Box::new(config)) }],
        output: None,
    });
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let id = format!("chatcmpl-{}", hex::encode(rand::random::<[u8; 12]>()));
    if !stream {
        let report = engine.engine.run(workflow, Default::default(), &caller.principal, Arc::new(NoEvents)).await;
        state.metrics.run(&caller.workspace, &report);
        let (output, connection) = served(report)?;
        let mut response = Json(openai_wire::completion(&id, created, &output)).into_response();
        if let Ok(v) = connection.parse() {
            response.headers_mut().insert(SERVED_BY, v);
        }
        return Ok(response);
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
    // Hold the response until content flows (or the run ends), so a request
    // that no connection serves is a real HTTP error.
    let mut pending = Vec::new();
    let connection = loop {
        match rx.recv().await {
            Some(Out::Event(RunEvent::Status { status: NodeStatus::Streaming, detail, .. })) => {
                break detail.unwrap_or_default();
            }
            Some(Out::Event(_) | Out::Whole(_)) => {}
            Some(Out::Done(report)) => {
                let (output, connection) = served(*report)?;
                pending.push(Out::Whole(Box::new(output)));
                break connection;
            }
            None => return Err(ApiError::Internal("the run ended without a report".into())),
        }
    };
    let mut stream = ChunkStream { id, created, model, include_usage, started: false };
    let (out_tx, out_rx) = unbounded_channel();
    for item in pending {
        let _ = out_tx.send(item);
    }
    tokio::spawn(forward(rx, out_tx));
    Ok(sse::response(out_rx, move |item, buf| stream.encode(item, buf), vec![(SERVED_BY, connection)]))
}

/// The route serving `model` in the caller's workspace, or the HTTP error
/// saying why none does.
pub(super) fn resolve(engine: &WorkspaceEngine, caller: &Caller, model: &str) -> Result<ChatRoute, ApiError> {
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
    })
}

/// Pass the run's items on until its report.
async fn forward(mut rx: UnboundedReceiver<Out>, tx: UnboundedSender<Out>) {
    while let Some(item) = rx.recv().await {
        let last = matches!(item, Out::Done(_));
        if tx.send(item).is_err() || last {
            break;
        }
    }
}

/// The node's output and connection, or the HTTP error its failure deserves.
fn served(report: RunReport) -> Result<(Value, String), ApiError> {
    let n = served_node(report)?;
    Ok((n.output.unwrap_or(Value::Null), n.connection.unwrap_or_default()))
}

/// The one node of a request's run, if it was served; else the HTTP error
/// its failure deserves (by the class of its last error).
pub(super) fn served_node(report: RunReport) -> Result<NodeReport, ApiError> {
    match report.nodes.into_iter().next() {
        Some(n) if n.status == NodeStatus::Done => Ok(n),
        Some(n) => {
            let class = n.error_class();
            Err(failure(class, n.error.unwrap_or_else(|| "the request failed".into())))
        }
        None => Err(ApiError::Internal("the run reported no node".into())),
    }
}

enum Out {
    Event(RunEvent),
    /// An answer that arrived whole (the connection does not stream).
    Whole(Box<Value>),
    Done(Box<RunReport>),
}

struct Channel(UnboundedSender<Out>);

impl EventSink for Channel {
    fn emit(&self, event: RunEvent) {
        let _ = self.0.send(Out::Event(event));
    }
}

/// Frames a run's items as `chat.completion.chunk` events.
struct ChunkStream {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    started: bool,
}

impl ChunkStream {
    fn data(&self, buf: &mut String, value: &Value) {
        sse::event(buf, None, &value.to_string());
    }

    fn text(&mut self, buf: &mut String, text: &str) {
        let delta = match self.started {
            false => json!({ "role": "assistant", "content": text }),
            true => json!({ "content": text }),
        };
        self.started = true;
        self.data(buf, &openai_wire::chunk(&self.id, self.created, &self.model, delta, None));
    }

    /// The closing chunks: tool calls, the finish reason, usage, `[DONE]`.
    fn finish(&mut self, buf: &mut String, output: &Value) {
        let calls: Vec<Value> = openai_wire::tool_calls(output)
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c["index"] = json!(i);
                c
            })
            .collect();
        if !calls.is_empty() {
            let mut delta = json!({ "tool_calls": calls });
            if !self.started {
                delta["role"] = json!("assistant");
                self.started = true;
            }
            self.data(buf, &openai_wire::chunk(&self.id, self.created, &self.model, delta, None));
        }
        let finish = output["finish_reason"].as_str().unwrap_or("stop");
        self.data(buf, &openai_wire::chunk(&self.id, self.created, &self.model, json!({}), Some(finish)));
        if self.include_usage {
            let usage = json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": openai_wire::usage(output) });
            self.data(buf, &usage);
        }
        buf.push_str("data: [DONE]\n\n");
    }

    fn encode(&mut self, item: Out, buf: &mut String) -> bool {
        match item {
            Out::Event(RunEvent::Text { text, .. }) => {
                self.text(buf, &text);
                true
            }
            Out::Event(_) => true,
            Out::Whole(output) => {
                if let Some(text) = output["text"].as_str().filter(|t| !t.is_empty()) {
                    self.text(buf, text);
                }
                self.finish(buf, &output);
                false
            }
            Out::Done(report) => {
                match served(*report) {
                    Ok((output, _)) => self.finish(buf, &output),
                    // Content already went out: the error travels in the stream,
                    // as OpenAI's own API does it.
                    Err(e) => self.data(buf, &e.body()),
                }
                false
            }
        }
    }
}
