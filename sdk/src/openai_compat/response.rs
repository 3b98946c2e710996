//! Completions, stream chunks and error bodies → the contract's types.
//! Fields a provider adds (Azure's content-filter results, DashScope's
//! `reasoning_content`, …) are read where they carry meaning and ignored otherwise.

use crate::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Completion {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    message: Option<WireMessage>,
    delta: Option<WireMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireMessage {
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u32>,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        let cached = self.prompt_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0);
        Usage {
            // OpenAI counts cached tokens inside prompt_tokens; the contract does not.
            input_tokens: self.prompt_tokens.saturating_sub(cached),
            output_tokens: self.completion_tokens,
            cache_read_tokens: cached,
            cache_write_tokens: 0,
            reasoning_tokens: self.completion_tokens_details.and_then(|d| d.reasoning_tokens).unwrap_or(0),
        }
    }
}

/// A non-streamed completion. Only the first choice is used.
pub fn completion(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let c: Completion = json::parse(body, "chat completion")?;
    let choice = c.choices.into_iter().next();
    let finish_reason = choice.as_ref().and_then(|ch| ch.finish_reason.as_deref()).map(names::finish_reason);
    let message = choice.and_then(|ch| ch.message).unwrap_or_default();
    let tool_calls = message
        .tool_calls
        .into_iter()
        .map(|t| {
            let f = t.function.unwrap_or(WireFunction { name: None, arguments: None });
            ToolCall {
                id: t.id.unwrap_or_default(),
                name: f.name.unwrap_or_default(),
                arguments: f.arguments.unwrap_or_default(),
            }
        })
        .collect();
    Ok(ChatResponse {
        id: c.id,
        model: c.model,
        text: message.content.or(message.refusal).unwrap_or_default(),
        reasoning: message.reasoning_content,
        tool_calls,
        finish_reason,
        usage: c.usage.map(WireUsage::into_usage),
        grounding: None,
    })
}

/// One `data:` payload of a stream: a `chat.completion.chunk`, or `[DONE]`.
pub fn chunk(data: &str) -> Result<StreamDelta, ProviderError> {
    let mut delta = StreamDelta::empty();
    if data.trim() == "[DONE]" {
        delta.done = true;
        return Ok(delta);
    }
    // Some compatible servers report failures inside a 200 stream.
    let value: serde_json::Value = json::parse(data.as_bytes(), "stream chunk")?;
    if value.get("error").is_some() {
        return Err(error(200, &[], data.as_bytes()));
    }
    let c: Completion = serde_json::from_value(value)
        .map_err(|e| ProviderError::malformed(format!("the provider's stream chunk has an unexpected shape: {e}")))?;
    // Azure opens a stream with a chunk of prompt-filter results whose id and
    // model are empty strings: those say nothing, so they are not reported.
    delta.id = c.id.filter(|s| !s.is_empty());
    delta.model = c.model.filter(|s| !s.is_empty());
    delta.usage = c.usage.map(WireUsage::into_usage);
    // Only the first choice (index 0) is part of the answer.
    if let Some(choice) = c.choices.into_iter().find(|ch| ch.index == 0) {
        delta.finish_reason = choice.finish_reason.as_deref().map(names::finish_reason);
        let d = choice.delta.unwrap_or_default();
        delta.text = d.content.or(d.refusal).unwrap_or_default();
        delta.reasoning = d.reasoning_content.unwrap_or_default();
        delta.tool_calls = d
            .tool_calls
            .into_iter()
            .map(|t| {
                let (name, arguments) = match t.function {
                    Some(f) => (f.name, f.arguments.unwrap_or_default()),
                    None => (None, String::new()),
                };
                ToolCallDelta { index: t.index, id: t.id, name, arguments }
            })
            .collect();
    }
    Ok(delta)
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
    /// Azure's detail (`innererror`; `inner_error` in its spec), kept loose so
    /// an unexpected shape there never hides the message and code.
    #[serde(alias = "inner_error", alias = "innerError")]
    innererror: Option<serde_json::Value>,
}

/// An error response: `{"error": {"message", "type", "code", "innererror"?}}`.
/// `code` may be a string, a number, or a number in a string (Azure's `"429"`).
pub fn error(status: u16, headers: &[Header], body: &[u8]) -> ProviderError {
    let envelope = serde_json::from_slice::<ErrorEnvelope>(body).ok();
    let inner = envelope.as_ref().and_then(|e| e.error.innererror.as_ref()?.get("code")?.as_str().map(str::to_owned));
    let parsed = envelope
        .map(|e| ErrorBody {
            message: e.error.message,
            kind: e.error.kind,
            code: e.error.code.map(|c| match c {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
        })
        .unwrap_or_default();
    errors::from_response(status, headers, body, parsed, |b| {
        // Azure's content filter refusing a prompt.
        if inner.as_deref() == Some("ResponsibleAIPolicyViolation") {
            return Some(ErrorKind::ContentFilter);
        }
        kind_of_code(b.code.as_deref().or(b.kind.as_deref())?)
    })
}

/// The codes (or types) the dialect's providers use, when they mean more than
/// the HTTP status says. Anything else falls back to the status.
fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "context_length_exceeded" | "string_above_max_length" => ErrorKind::ContextLength,
        // OpenAI and Azure; DashScope's moderation says `data_inspection_failed`.
        "content_filter" | "content_policy_violation" | "data_inspection_failed" => ErrorKind::ContentFilter,
        "rate_limit_exceeded" | "insufficient_quota" | "tokens" | "requests" => ErrorKind::RateLimit,
        "invalid_api_key" | "invalid_authentication" => ErrorKind::Auth,
        "server_is_overloaded" | "service_unavailable_error" => ErrorKind::Overloaded,
        "server_error" => ErrorKind::ServerError,
        _ => return None,
    })
}
