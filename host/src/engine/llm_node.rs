//! One llm node: its chat request served through the node's route (see
//! `routed`), streamed text passed on as it arrives, and the answer made the
//! node's output.

use super::Inner;
use super::answer::Answer;
use super::attempt::{AttemptError, Served};
use super::events::{EventSink, Fragment, NodeStatus, RunEvent};
use super::prompt_size::PromptSize;
use super::report::Skip;
use super::route::ResolvedConnection;
use super::routed::{self, Call};
use crate::limits::{Hold, Used};
use crate::principal::Principal;
use crate::runtime::bindings::types;
use crate::telemetry::{content, genai};
use crate::transport::Transport;
use crate::usage::{AttemptRecord, TokenUsage};
use crate::workflow::{LlmConfig, ResponseFormatSpec};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A served node.
pub(crate) struct LlmServed {
    pub output: Value,
    pub connection: String,
}

/// A node that no connection could serve.
pub(crate) struct LlmFailed {
    pub message: String,
}

/// A chat request on its way through a route.
struct ChatCall {
    request: types::ChatRequest,
    prompt: PromptSize,
    wants_stream: bool,
}

impl Call for ChatCall {
    type Out = Served;

    const OPERATION: &'static str = genai::CHAT;

    fn unsuitable(&self, route: &ResolvedConnection) -> Option<String> {
        let (name, provider) = (&route.connection.name, &route.connection.provider);
        let grounding = self.request.grounding.as_ref().is_some_and(|g| g.web_search);
        (grounding && !route.plugin.info().capabilities.contains(types::Capabilities::GROUNDING)).then(|| {
            format!("connection `{name}`: its plugin ({provider}) cannot ground answers on a web search (`grounding`)")
        })
    }

    fn target(&mut self, model: &str, route: &ResolvedConnection) {
        self.request.model.clear();
        self.request.model.push_str(model);
        // A connection that does not stream serves a streamed node with one
        // whole call, and the answer goes out as a single chunk.
        self.request.stream = self.wants_stream && route.connection.streaming;
    }

    fn size(&self) -> PromptSize {
        self.prompt
    }

    fn min_tokens(&self) -> u64 {
        self.prompt.min_tokens()
    }

    fn max_tokens(&self) -> Option<u32> {
        self.request.max_tokens
    }

    fn cache_ttl(&self) -> Option<u32> {
        self.request.cache.as_ref().and_then(|c| c.ttl_seconds)
    }

    fn streamed(&self) -> bool {
        self.request.stream
    }

    fn attempt<'a>(
        &'a self,
        route: &'a ResolvedConnection,
        transport: &'a Transport,
        on_text: &'a mut (dyn FnMut(Fragment<'_>) + Send),
    ) -> impl Future<Output = Result<Served, AttemptError>> + Send + 'a {
        route.attempt(transport, &self.request, on_text)
    }

    fn usage(&self, out: &Served) -> TokenUsage {
        out.answer.usage
    }

    fn time_to_first_token(out: &Served) -> Option<Duration> {
        out.time_to_first_token
    }

    fn requested_max_tokens(&self) -> Option<u32> {
        self.request.max_tokens
    }

    fn temperature(&self) -> Option<f32> {
        self.request.temperature
    }

    fn response_model(out: &Served) -> Option<&str> {
        out.answer.served_model.as_deref()
    }

    fn input_content(&self) -> Option<String> {
        Some(content::input_messages(&self.request))
    }

    fn output_content(out: &Served) -> Option<String> {
        Some(content::output_messages(&out.answer))
    }
}

/// Run an llm node whose request is already rendered. Each attempt that was
/// admitted leaves its hold and what it used in `holds`, settled by the
/// caller once the attempts are durable usage events.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    inner: &Inner,
    by: &Principal,
    node: &Arc<str>,
    config: &LlmConfig,
    request: types::ChatRequest,
    sink: &dyn EventSink,
    attempts: &mut Vec<AttemptRecord>,
    skipped: &mut Vec<Skip>,
    holds: &mut Vec<(Hold, Used)>,
) -> Result<LlmServed, LlmFailed> {
    let prompt = PromptSize::of(&request);
    let wants_stream = request.stream;
    let mut call = ChatCall { request, prompt, wants_stream };
    let served = routed::run(inner, by, node, &config.route, &mut call, sink, attempts, skipped, holds)
        .await
        .map_err(|e| LlmFailed { message: e.message })?;
    let answer = served.out.answer;
    if wants_stream && !call.request.stream && (!answer.text.is_empty() || answer.reasoning.is_some()) {
        sink.emit(RunEvent::Status {
            node: node.clone(),
            status: NodeStatus::Streaming,
            detail: Some(served.connection.clone()),
        });
        if let Some(r) = &answer.reasoning {
            sink.emit(RunEvent::Reasoning { node: node.clone(), text: r.clone() });
        }
        if !answer.text.is_empty() {
            sink.emit(RunEvent::Text { node: node.clone(), text: answer.text.clone() });
        }
    }
    let output = node_output(node, config, answer, &served.connection, &served.model, served.cost)?;
    Ok(LlmServed { output, connection: served.connection })
}

/// The node's output value: what templates and the workflow output read.
fn node_output(
    node: &str,
    config: &LlmConfig,
    answer: Answer,
    connection: &str,
    model: &str,
    cost: f64,
) -> Result<Value, LlmFailed> {
    let wants_json =
        matches!(config.response_format, Some(ResponseFormatSpec::JsonObject | ResponseFormatSpec::JsonSchema { .. }));
    let json_text = answer.text.trim().to_string();
    let mut out = json!({
        "text": answer.text,
        "tool_calls": answer.tool_calls.iter().map(|c| json!({
            "id": c.id,
            "name": c.name,
            "arguments": serde_json::from_str::<Value>(&c.arguments).unwrap_or_else(|_| Value::String(c.arguments.clone())),
        })).collect::<Vec<_>>(),
        "finish_reason": answer.finish_reason,
        "model": answer.served_model.as_deref().unwrap_or(model),
        "connection": connection,
        "usage": answer.usage,
        "cost_usd": cost,
    });
    if let Some(r) = &answer.reasoning {
        out["reasoning"] = json!(r);
    }
    if let Some(g) = &answer.grounding {
        out["grounding"] = json!(g);
    }
    // A turn that only calls tools has no JSON answer yet.
    let only_tools = json_text.is_empty() && !out["tool_calls"].as_array().is_none_or(Vec::is_empty);
    if wants_json && !only_tools {
        match serde_json::from_str::<Value>(&json_text) {
            Ok(v) => out["json"] = v,
            Err(e) => {
                return Err(LlmFailed {
                    message: format!(
                        "node `{node}` asked for JSON, but the answer from connection `{connection}` is not valid JSON ({e})"
                    ),
                });
            }
        }
    }
    Ok(out)
}
