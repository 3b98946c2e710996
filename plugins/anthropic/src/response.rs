//! Messages, stream events and error bodies → the contract's types.
//! References: https://docs.anthropic.com/en/api/messages,
//! https://docs.anthropic.com/en/docs/build-with-claude/streaming,
//! https://docs.anthropic.com/en/api/errors

use llmnode_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct WireMessage {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    /// Redacted thinking, server tools, citations…: nothing the contract carries.
    #[serde(other)]
    Other,
}

/// Token counts. Every field may be absent: `message_delta` in older streams
/// carries only `output_tokens`.
#[derive(Deserialize)]
struct WireUsage {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    cache_creation_input_tokens: Option<u32>,
    cache_read_input_tokens: Option<u32>,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        Usage {
            // Anthropic's input_tokens already leaves out cache reads and writes.
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_read_tokens: self.cache_read_input_tokens.unwrap_or(0),
            cache_write_tokens: self.cache_creation_input_tokens.unwrap_or(0),
            reasoning_tokens: 0,
        }
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// A non-streamed message: text blocks joined, tool_use blocks as calls.
pub fn message(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let m: WireMessage = json::parse(body, "message")?;
    let (mut text, mut reasoning, mut tool_calls) = (String::new(), String::new(), Vec::new());
    for block in m.content {
        match block {
            Block::Text { text: t } => text.push_str(&t),
            Block::Thinking { thinking } => reasoning.push_str(&thinking),
            Block::ToolUse { id, name, input } => tool_calls.push(ToolCall { id, name, arguments: input.to_string() }),
            Block::Other => {}
        }
    }
    Ok(ChatResponse {
        id: m.id,
        model: m.model,
        text,
        reasoning: (!reasoning.is_empty()).then_some(reasoning),
        tool_calls,
        finish_reason: m.stop_reason.as_deref().map(finish_reason),
        usage: m.usage.map(WireUsage::into_usage),
        grounding: None,
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: WireMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u32,
        delta: Delta,
    },
    MessageDelta {
        delta: MessageDelta,
        usage: Option<WireUsage>,
    },
    MessageStop {},
    Error {
        error: WireError,
    },
    /// `ping`, `content_block_stop` and any event type added later.
    #[serde(other)]
    Other,
}

/// A fragment of a content block; every `type` ends in `_delta`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: String },
    /// Signatures and citations.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

/// One event of a stream. A tool call's fragments are keyed by the content
/// block's index, which is what Anthropic repeats on every fragment.
pub fn event(data: &str) -> Result<StreamDelta, ProviderError> {
    let mut delta = StreamDelta::empty();
    // Real streams pad the JSON with trailing spaces; serde_json allows them.
    let event: Event = json::parse(data.as_bytes(), "stream event")?;
    match event {
        Event::MessageStart { message } => {
            delta.id = message.id;
            delta.model = message.model;
            // Its output count is a placeholder the final count may undercut
            // (a refusal ends at 0), and the host keeps the largest value seen.
            delta.usage = message.usage.map(|u| Usage { output_tokens: 0, ..u.into_usage() });
        }
        Event::ContentBlockStart { index, content_block } => match content_block {
            Block::Text { text } => delta.text = text,
            Block::Thinking { thinking } => delta.reasoning = thinking,
            // The arguments follow as input_json_delta fragments.
            Block::ToolUse { id, name, .. } => {
                delta.tool_calls.push(ToolCallDelta { index, id: Some(id), name: Some(name), arguments: String::new() })
            }
            Block::Other => {}
        },
        Event::ContentBlockDelta { index, delta: d } => match d {
            Delta::Text { text } => delta.text = text,
            Delta::Thinking { thinking } => delta.reasoning = thinking,
            Delta::InputJson { partial_json } => {
                delta.tool_calls.push(ToolCallDelta { index, id: None, name: None, arguments: partial_json })
            }
            Delta::Other => {}
        },
        Event::MessageDelta { delta: d, usage } => {
            delta.finish_reason = d.stop_reason.as_deref().map(finish_reason);
            // Cumulative counts: the host keeps the largest value per field.
            delta.usage = usage.map(WireUsage::into_usage);
        }
        Event::MessageStop {} => delta.done = true,
        Event::Error { error: e } => return Err(classify(200, &[], data.as_bytes(), e.into_body())),
        Event::Other => {}
    }
    Ok(delta)
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

impl WireError {
    fn into_body(self) -> ErrorBody {
        ErrorBody { message: self.message, kind: self.kind, code: None }
    }
}

/// An error response: `{"type": "error", "error": {"type", "message"}}`.
pub fn error(status: u16, headers: &[Header], body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body).map(|e| e.error.into_body()).unwrap_or_default();
    classify(status, headers, body, parsed)
}

/// The kind from Anthropic's error type, else from the status (529 is overloaded).
fn classify(status: u16, headers: &[Header], body: &[u8], parsed: ErrorBody) -> ProviderError {
    let billing = parsed.kind.as_deref() == Some("billing_error");
    let mut e = errors::from_response(status, headers, body, parsed, |b| {
        let message = b.message.as_deref().unwrap_or_default();
        Some(match b.kind.as_deref()? {
            "invalid_request_error" if message.contains("prompt is too long") => ErrorKind::ContextLength,
            "invalid_request_error" | "not_found_error" => ErrorKind::InvalidRequest,
            "authentication_error" | "permission_error" => ErrorKind::Auth,
            "request_too_large" => ErrorKind::ContextLength,
            // An exhausted balance, like an exhausted quota: another account may serve.
            "rate_limit_error" | "billing_error" => ErrorKind::RateLimit,
            "api_error" => ErrorKind::ServerError,
            "overloaded_error" => ErrorKind::Overloaded,
            "timeout_error" => ErrorKind::Timeout,
            _ => return None,
        })
    });
    if billing {
        // Waiting does not refill a balance: fail over at once, never retry.
        e.code = Some(errors::QUOTA_EXCEEDED.into());
    }
    e
}
