//! The OpenAI-compatible endpoint: `POST /v1/chat/completions` (JSON or
//! streamed) and `GET /v1/models`, so the official OpenAI clients work
//! unchanged. Each request runs through [`chat_run`], as every chat
//! endpoint's does.

use super::caller::Caller;
use super::chat_run::{self, Out, Ran, SERVED_BY, resolve, served};
use super::error::ApiError;
use super::json_body::JsonBody;
use super::openai_wire::{self, ChatRequest};
use super::sse;
use super::state::AppState;
use crate::admin::catalogue;
use crate::engine::RunEvent;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// `GET /v1/models`: OpenAI's list, each model served by one connection
/// with the catalogue's fields beside OpenAI's (`context_window`,
/// `max_output_tokens`, modalities, `capabilities`, `prices`, `price_source`).
pub async fn models(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine(&caller)?;
    let data: Vec<Value> = engine
        .chat
        .model_ids()
        .into_iter()
        .map(|m| {
            let mut model = json!({ "id": m.id, "object": "model", "created": 0, "owned_by": m.owner });
            if let Some((connection, served)) = &m.served_by {
                let plugin = engine.engine.plugin_of(connection);
                let entry = catalogue::entry(connection, &m.owner, served, plugin, engine.engine.prices());
                if let (Value::Object(fields), Value::Object(model)) = (json!(entry), &mut model) {
                    model.extend(fields.into_iter().filter(|(k, _)| k != "model" && k != "provider"));
                }
            }
            model
        })
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(request): JsonBody<ChatRequest>,
) -> Result<Response, ApiError> {
    let engine = state.engine(&caller)?;
    let route = resolve(&engine, &caller, &request.model)?;
    let model = request.model.clone();
    let include_usage = request.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let config = request.into_config(route)?;
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let id = format!("chatcmpl-{}", hex::encode(rand::random::<[u8; 12]>()));
    match chat_run::run(&state, &caller, engine, config).await? {
        Ran::Whole(output, connection) => {
            Ok(chat_run::whole(openai_wire::completion(&id, created, &output), &connection))
        }
        Ran::Stream(items, connection) => {
            let mut stream = ChunkStream { id, created, model, include_usage, started: false };
            Ok(sse::response(items, move |item, buf| stream.encode(item, buf), vec![(SERVED_BY, connection)]))
        }
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

    /// A delta of answer text (`field` `content`) or reasoning (`reasoning_content`,
    /// as DeepSeek and Qwen stream it).
    fn text(&mut self, buf: &mut String, field: &str, text: &str) {
        let mut delta = json!({ field: text });
        if !self.started {
            delta["role"] = json!("assistant");
        }
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
        let mut last = openai_wire::chunk(&self.id, self.created, &self.model, json!({}), Some(finish));
        openai_wire::with_grounding(&mut last, output);
        self.data(buf, &last);
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
                self.text(buf, "content", &text);
                true
            }
            Out::Event(RunEvent::Reasoning { text, .. }) => {
                self.text(buf, "reasoning_content", &text);
                true
            }
            Out::Event(_) => true,
            Out::Whole(output) => {
                if let Some(r) = output["reasoning"].as_str().filter(|r| !r.is_empty()) {
                    self.text(buf, "reasoning_content", r);
                }
                if let Some(text) = output["text"].as_str().filter(|t| !t.is_empty()) {
                    self.text(buf, "content", text);
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
