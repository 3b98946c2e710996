//! `GenerateContentResponse` bodies, stream chunks and `google.rpc.Status`
//! error bodies → the contract's types.
//! Reference: https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse

use crate::{calls, grounding};
use llmnode_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
    response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
    grounding_metadata: Option<grounding::Wire>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    /// The text is a thought summary, not answer text.
    #[serde(default)]
    thought: bool,
    function_call: Option<FunctionCall>,
    thought_signature: Option<String>,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: Option<String>,
    #[serde(default)]
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
    block_reason_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default)]
    cached_content_token_count: u32,
    #[serde(default)]
    tool_use_prompt_token_count: u32,
    #[serde(default)]
    candidates_token_count: u32,
    #[serde(default)]
    thoughts_token_count: u32,
}

impl UsageMetadata {
    fn into_usage(self) -> Usage {
        let cached = self.cached_content_token_count;
        Usage {
            // promptTokenCount includes the cached tokens; the contract keeps
            // them apart. Tool-use prompt tokens (code execution, search
            // results fed back) are billed as input too.
            input_tokens: (self.prompt_token_count + self.tool_use_prompt_token_count).saturating_sub(cached),
            // Thinking is billed as output but counted apart from candidates.
            output_tokens: self.candidates_token_count + self.thoughts_token_count,
            cache_read_tokens: cached,
            cache_write_tokens: 0,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

/// What one response or chunk says: the first candidate only.
struct Turn {
    text: String,
    reasoning: String,
    /// (stream key, call).
    calls: Vec<(u32, ToolCall)>,
    finish_reason: Option<FinishReason>,
    /// What grounding did (in a stream: on the final chunk).
    grounding: Option<GroundingMetadata>,
}

/// Read a response; a blocked prompt is a `content_filter` error, as there is
/// no answer at all.
fn turn(wire: &mut Wire) -> Result<Turn, ProviderError> {
    if let Some(feedback) = &wire.prompt_feedback {
        let blocked =
            feedback.block_reason.is_some() || (feedback.block_reason_message.is_some() && wire.candidates.is_empty());
        if blocked {
            let reason = feedback.block_reason.clone().unwrap_or_else(|| "BLOCKED".into());
            let detail = feedback.block_reason_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            return Err(ProviderError {
                kind: ErrorKind::ContentFilter,
                message: format!("Gemini blocked the prompt ({reason}){detail}"),
                code: Some(reason),
                retry_after_ms: None,
            });
        }
    }
    let mut turn =
        Turn { text: String::new(), reasoning: String::new(), calls: Vec::new(), finish_reason: None, grounding: None };
    let Some(candidate) = wire.candidates.first_mut() else { return Ok(turn) };
    let parts = candidate.content.take().map(|c| c.parts).unwrap_or_default();
    turn.grounding = candidate.grounding_metadata.take().map(grounding::Wire::into_metadata);
    for (position, part) in parts.into_iter().enumerate() {
        match (part.function_call, part.text) {
            (Some(call), _) => turn.calls.push(tool_call(call, part.thought_signature, position)),
            (None, Some(text)) if part.thought => turn.reasoning.push_str(&text),
            (None, Some(text)) => turn.text.push_str(&text),
            (None, None) => {} // code execution, inline images: not part of a chat answer
        }
    }
    turn.finish_reason = candidate.finish_reason.as_deref().map(|f| finish_reason(f, !turn.calls.is_empty()));
    Ok(turn)
}

/// A call the model made, under the id and stream key `calls` makes for it.
fn tool_call(call: FunctionCall, signature: Option<String>, position: usize) -> (u32, ToolCall) {
    let arguments = call.args.unwrap_or_else(|| Value::Object(Default::default())).to_string();
    let key = calls::key(&[call.id.as_deref().unwrap_or_default(), &call.name, &arguments, &position.to_string()]);
    let id = calls::id(call.id.as_deref(), key, signature.as_deref());
    (key, ToolCall { id, name: call.name, arguments })
}

/// Gemini says STOP also when the model called functions; the contract says `tool_calls`.
fn finish_reason(reason: &str, called: bool) -> FinishReason {
    match reason {
        "STOP" if called => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ => FinishReason::Other, // MALFORMED_FUNCTION_CALL, LANGUAGE, OTHER, …
    }
}

/// A non-streamed `generateContent` answer.
pub fn completion(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let mut wire: Wire = json::parse(body, "generateContent response")?;
    let turn = turn(&mut wire)?;
    Ok(ChatResponse {
        id: wire.response_id,
        model: wire.model_version,
        text: turn.text,
        reasoning: Some(turn.reasoning).filter(|r| !r.is_empty()),
        tool_calls: turn.calls.into_iter().map(|(_, call)| call).collect(),
        finish_reason: turn.finish_reason,
        usage: wire.usage_metadata.map(UsageMetadata::into_usage),
        grounding: turn.grounding,
    })
}

/// One `data:` payload of `streamGenerateContent?alt=sse`: a whole
/// `GenerateContentResponse` holding the next piece of the answer. There is no
/// end marker: the last chunk has a finish reason and the connection closes.
pub fn chunk(data: &str) -> Result<StreamDelta, ProviderError> {
    let value: Value = json::parse(data.as_bytes(), "stream chunk")?;
    if let Some(status) = value.get("error") {
        let code = status.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
        return Err(error(code, &[], data.as_bytes()));
    }
    let mut wire: Wire = serde_json::from_value(value)
        .map_err(|e| ProviderError::malformed(format!("the provider's stream chunk has an unexpected shape: {e}")))?;
    let turn = turn(&mut wire)?;
    let mut delta = StreamDelta::empty();
    // Counts before the last chunk are provisional (even the prompt count may
    // drop at the end) and the host keeps the largest value seen, so only the
    // final chunk's counts, or a chunk without candidates, are reported.
    if turn.finish_reason.is_some() || wire.candidates.is_empty() {
        delta.usage = wire.usage_metadata.map(UsageMetadata::into_usage);
    }
    delta.id = wire.response_id;
    delta.model = wire.model_version;
    delta.text = turn.text;
    delta.reasoning = turn.reasoning;
    delta.finish_reason = turn.finish_reason;
    delta.grounding = turn.grounding;
    delta.tool_calls = turn
        .calls
        .into_iter()
        .map(|(index, c)| ToolCallDelta { index, id: Some(c.id), name: Some(c.name), arguments: c.arguments })
        .collect();
    Ok(delta)
}

#[derive(Deserialize)]
struct Envelope {
    error: Status,
}

/// `google.rpc.Status`.
#[derive(Deserialize)]
struct Status {
    message: Option<String>,
    /// The canonical code's name, e.g. `RESOURCE_EXHAUSTED`.
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

impl Status {
    /// The detail of type `google.rpc.{kind}`.
    fn detail(&self, kind: &str) -> Option<&Value> {
        self.details.iter().find(|d| d["@type"].as_str().is_some_and(|t| t.ends_with(&format!("google.rpc.{kind}"))))
    }
}

/// An error body: `{"error": {"code", "message", "status", "details"}}`
/// (inside a list when the request was not `alt=sse`).
pub fn error(status: u16, headers: &[Header], body: &[u8]) -> ProviderError {
    let parsed = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(list)) => list.into_iter().next(),
        other => other.ok(),
    }
    .and_then(|v| serde_json::from_value::<Envelope>(v).ok())
    .map(|e| e.error);
    let retry = parsed.as_ref().and_then(|s| s.detail("RetryInfo")?["retryDelay"].as_str().and_then(duration_ms));
    let body_fields = parsed.map(|s| ErrorBody {
        code: s.detail("ErrorInfo").and_then(|d| d["reason"].as_str()).map(String::from),
        message: s.message,
        kind: s.status,
    });
    let mut err = errors::from_response(status, headers, body, body_fields.unwrap_or_default(), |b| {
        let message = b.message.as_deref().unwrap_or_default().to_ascii_lowercase();
        if b.code.as_deref().is_some_and(|r| r.starts_with("API_KEY_")) {
            return Some(ErrorKind::Auth); // Gemini answers a bad key with 400 INVALID_ARGUMENT
        }
        Some(match b.kind.as_deref()? {
            "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
            "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorKind::Auth,
            "INVALID_ARGUMENT" if message.contains("input token count") => ErrorKind::ContextLength,
            "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "NOT_FOUND" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
            "UNAVAILABLE" => ErrorKind::Overloaded,
            "INTERNAL" | "UNKNOWN" => ErrorKind::ServerError,
            "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
            _ => return None,
        })
    });
    err.retry_after_ms = retry.or(err.retry_after_ms);
    err
}

/// A `google.protobuf.Duration` in JSON, e.g. `"7s"` or `"0.25s"`, in milliseconds.
fn duration_ms(text: &str) -> Option<u64> {
    let secs = text.strip_suffix('s')?.parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_and_error_kinds() {
        assert_eq!(duration_ms("7s"), Some(7000));
        assert_eq!(duration_ms("0.25s"), Some(250));
        assert_eq!(duration_ms("soon"), None);
        let too_long = br#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(error(400, &[], too_long).kind, ErrorKind::ContextLength);
        let listed = br#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#;
        let e = error(503, &[], listed);
        assert_eq!(
            (e.kind, e.message.as_str(), e.code.as_deref()),
            (ErrorKind::Overloaded, "The model is overloaded.", Some("UNAVAILABLE"))
        );
        assert_eq!(error(502, &[], b"<html>bad gateway</html>").kind, ErrorKind::ServerError);
    }
}
