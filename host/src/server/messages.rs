//! The Anthropic-compatible endpoint: `POST /v1/messages` (JSON or streamed),
//! so the official Anthropic clients work unchanged against any connection.
//! A request becomes the same llm node the OpenAI-compatible endpoint
//! builds and runs through [`chat_run`]: the same model names, routes,
//! failover, limits and usage. Errors come in Anthropic's format
//! ([`super::error::anthropic_errors`]).

use super::caller::Caller;
use super::chat_run::{self, Out, Ran, SERVED_BY, resolve, served};
use super::error::ApiError;
use super::json_body::JsonBody;
use super::messages_wire::{self, MessagesRequest};
use super::sse;
use super::state::AppState;
use crate::engine::RunEvent;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where the endpoint is routed.
pub const PATH: &str = "/v1/messages";

/// `POST /v1/messages`.
pub async fn messages(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(request): JsonBody<MessagesRequest>,
) -> Result<Response, ApiError> {
    let engine = state.engine(&caller)?;
    let route = resolve(&engine, &caller, &request.model)?;
    let model = request.model.clone();
    let config = request.into_config(route)?;
    let id = format!("msg_{}", hex::encode(rand::random::<[u8; 12]>()));
    match chat_run::run(&state, &caller, engine, config).await? {
        Ran::Whole(output, connection) => Ok(chat_run::whole(messages_wire::message(&id, &output), &connection)),
        Ran::Stream(items, connection) => {
            let mut stream = BlockStream { id, model, started: false, open: None, blocks: 0 };
            Ok(sse::response(items, move |item, buf| stream.encode(item, buf), vec![(SERVED_BY, connection)]))
        }
    }
}

/// The kind of content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    ToolUse,
}

/// Frames a run's items as Messages stream events: `message_start`, content
/// blocks (`content_block_start`, `…_delta`, `…_stop`), `message_delta`
/// with the stop reason and usage, `message_stop`.
struct BlockStream {
    id: String,
    model: String,
    started: bool,
    /// The block now open, if any.
    open: Option<Kind>,
    /// Blocks started so far (the next block's index).
    blocks: usize,
}

impl BlockStream {
    fn event(buf: &mut String, name: &str, value: &Value) {
        sse::event(buf, Some(name), &value.to_string());
    }

    fn start(&mut self, buf: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({ "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 0, "output_tokens": 0 } });
        Self::event(buf, "message_start", &json!({ "type": "message_start", "message": message }));
    }

    fn close(&mut self, buf: &mut String) {
        if self.open.take().is_some() {
            let index = self.blocks - 1;
            Self::event(buf, "content_block_stop", &json!({ "type": "content_block_stop", "index": index }));
        }
    }

    /// Open a block (closing the one before), and return its index.
    fn open(&mut self, buf: &mut String, block: Value, kind: Kind) -> usize {
        self.start(buf);
        self.close(buf);
        let index = self.blocks;
        self.blocks += 1;
        self.open = Some(kind);
        let start = json!({ "type": "content_block_start", "index": index, "content_block": block });
        Self::event(buf, "content_block_start", &start);
        index
    }

    /// Append `text` to a text or thinking block, opening one if another is open.
    fn delta(&mut self, buf: &mut String, kind: Kind, text: &str) {
        self.start(buf);
        if self.open != Some(kind) {
            let block = match kind {
                Kind::Thinking => json!({ "type": "thinking", "thinking": "", "signature": "" }),
                Kind::Text | Kind::ToolUse => json!({ "type": "text", "text": "" }),
            };
            self.open(buf, block, kind);
        }
        self.write(buf, kind, text);
    }

    /// A `content_block_delta` of the open block.
    fn write(&self, buf: &mut String, kind: Kind, text: &str) {
        let delta = match kind {
            Kind::Text => json!({ "type": "text_delta", "text": text }),
            Kind::Thinking => json!({ "type": "thinking_delta", "thinking": text }),
            Kind::ToolUse => json!({ "type": "input_json_delta", "partial_json": text }),
        };
        let event = json!({ "type": "content_block_delta", "index": self.blocks - 1, "delta": delta });
        Self::event(buf, "content_block_delta", &event);
    }

    /// The closing events: tool calls, the stop reason and usage, `message_stop`.
    fn finish(&mut self, buf: &mut String, output: &Value) {
        self.start(buf);
        self.close(buf);
        for mut block in messages_wire::tool_uses(output) {
            let input = match block["input"].take() {
                Value::String(s) => s,
                other => other.to_string(),
            };
            block["input"] = json!({});
            self.open(buf, block, Kind::ToolUse);
            self.write(buf, Kind::ToolUse, &input);
            self.close(buf);
        }
        let delta = json!({ "stop_reason": messages_wire::stop_reason(output), "stop_sequence": null });
        Self::event(
            buf,
            "message_delta",
            &json!({ "type": "message_delta", "delta": delta, "usage": messages_wire::usage(output) }),
        );
        Self::event(buf, "message_stop", &json!({ "type": "message_stop" }));
    }

    fn encode(&mut self, item: Out, buf: &mut String) -> bool {
        match item {
            Out::Event(RunEvent::Text { text, .. }) => {
                self.delta(buf, Kind::Text, &text);
                true
            }
            Out::Event(RunEvent::Reasoning { text, .. }) => {
                self.delta(buf, Kind::Thinking, &text);
                true
            }
            Out::Event(_) => true,
            Out::Whole(output) => {
                if let Some(r) = output["reasoning"].as_str().filter(|r| !r.is_empty()) {
                    self.delta(buf, Kind::Thinking, r);
                }
                if let Some(text) = output["text"].as_str().filter(|t| !t.is_empty()) {
                    self.delta(buf, Kind::Text, text);
                }
                self.finish(buf, &output);
                false
            }
            Out::Done(report) => {
                match served(*report) {
                    Ok((output, _)) => self.finish(buf, &output),
                    // Content already went out: the error travels in the
                    // stream, as Anthropic's own API sends it.
                    Err(e) => Self::event(buf, "error", &e.anthropic_body()),
                }
                false
            }
        }
    }
}
