//! Converse responses, ConverseStream events and errors → the contract's types.
//! References: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html,
//! https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html,
//! https://docs.aws.amazon.com/bedrock/latest/APIReference/CommonErrors.html

use llmnode_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    output: Option<Output>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Output {
    message: Option<WireMessage>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Vec<Block>,
}

/// A content block, a union: exactly one member is set. Members the contract
/// cannot carry (images, citations, …) leave every field empty.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Block {
    text: Option<String>,
    tool_use: Option<ToolUse>,
    reasoning_content: Option<Reasoning>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUse {
    tool_use_id: String,
    name: String,
    #[serde(default)]
    input: Value,
}

/// Reasoning, whole (`reasoningText.text`) or as a stream fragment (`text`);
/// signatures and redacted reasoning carry nothing the contract shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reasoning {
    text: Option<String>,
    reasoning_text: Option<ReasoningText>,
}

#[derive(Deserialize)]
struct ReasoningText {
    text: Option<String>,
}

impl Reasoning {
    fn text(self) -> String {
        self.text.or(self.reasoning_text.and_then(|r| r.text)).unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
    cache_read_input_tokens: Option<u32>,
    cache_write_input_tokens: Option<u32>,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        Usage {
            // Bedrock's inputTokens already leaves out cache reads and writes:
            // in the recorded cache responses the counts add up to totalTokens
            // (11 + 1028 written + 264 out = 1303; 2 + 1322 read + 5 out = 1329).
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_input_tokens.unwrap_or(0),
            cache_write_tokens: self.cache_write_input_tokens.unwrap_or(0),
            reasoning_tokens: 0,
        }
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// A Converse response: text blocks joined, toolUse blocks as calls. Bedrock
/// names no response id in the body; its request id (`x-amzn-requestid`)
/// stands in.
pub fn converse(resp: &HttpResponse) -> Result<ChatResponse, ProviderError> {
    let r: ConverseResponse = json::parse(&resp.body, "Converse response")?;
    let (mut text, mut reasoning, mut tool_calls) = (String::new(), String::new(), Vec::new());
    for block in r.output.and_then(|o| o.message).map(|m| m.content).unwrap_or_default() {
        text.push_str(block.text.as_deref().unwrap_or_default());
        if let Some(r) = block.reasoning_content {
            reasoning.push_str(&r.text());
        }
        if let Some(ToolUse { tool_use_id, name, input }) = block.tool_use {
            tool_calls.push(ToolCall { id: tool_use_id, name, arguments: input.to_string() });
        }
    }
    Ok(ChatResponse {
        id: http::header_value(&resp.headers, "x-amzn-requestid").map(str::to_string),
        model: None,
        text,
        reasoning: (!reasoning.is_empty()).then_some(reasoning),
        tool_calls,
        finish_reason: r.stop_reason.as_deref().map(finish_reason),
        usage: r.usage.map(WireUsage::into_usage),
        grounding: None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    content_block_index: u32,
    start: Start,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start {
    tool_use: Option<ToolUseStart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart {
    tool_use_id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    content_block_index: u32,
    delta: Delta,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delta {
    text: Option<String>,
    tool_use: Option<ToolUseDelta>,
    reasoning_content: Option<Reasoning>,
}

/// A fragment of a tool call's input: JSON text, cut anywhere.
#[derive(Deserialize)]
struct ToolUseDelta {
    input: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    usage: Option<WireUsage>,
}

/// One ConverseStream message, framed by the host: `event` is its event type
/// (or `exception:<type>` for an in-stream exception), `data` its JSON.
/// Tool call fragments are keyed by the content block's index. The usage
/// comes last, in `metadata`, after `messageStop`: the stream is done there.
pub fn event(event: &StreamEvent) -> Result<StreamDelta, ProviderError> {
    let mut delta = StreamDelta::empty();
    let name = event.event.as_deref().unwrap_or_default();
    if let Some((_, error_type)) = name.split_once(':') {
        return Err(classify(200, &[], event.data.as_bytes(), Some(error_type.to_string())));
    }
    let data = event.data.as_bytes();
    match name {
        "contentBlockStart" => {
            let BlockStart { content_block_index: index, start } = json::parse(data, "contentBlockStart event")?;
            if let Some(ToolUseStart { tool_use_id, name }) = start.tool_use {
                let call = ToolCallDelta { index, id: Some(tool_use_id), name: Some(name), arguments: String::new() };
                delta.tool_calls.push(call);
            }
        }
        "contentBlockDelta" => {
            let BlockDelta { content_block_index: index, delta: d } = json::parse(data, "contentBlockDelta event")?;
            delta.text = d.text.unwrap_or_default();
            delta.reasoning = d.reasoning_content.map(Reasoning::text).unwrap_or_default();
            if let Some(ToolUseDelta { input }) = d.tool_use {
                delta.tool_calls.push(ToolCallDelta { index, id: None, name: None, arguments: input });
            }
        }
        "messageStop" => {
            let stop: MessageStop = json::parse(data, "messageStop event")?;
            delta.finish_reason = stop.stop_reason.as_deref().map(finish_reason);
        }
        "metadata" => {
            let metadata: Metadata = json::parse(data, "metadata event")?;
            delta.usage = metadata.usage.map(WireUsage::into_usage);
            delta.done = true;
        }
        // messageStart (the role), contentBlockStop and event types added later.
        _ => {}
    }
    Ok(delta)
}

/// An error body: `{"message": …}` (`Message` from some AWS front ends).
#[derive(Deserialize)]
struct WireError {
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// A failed response. The error's type is only in the `x-amzn-errortype`
/// header (`ThrottlingException:http://internal.amazon.com/…`: the part
/// before the colon); the body holds just the message.
pub fn error(status: u16, headers: &[Header], body: &[u8]) -> ProviderError {
    let error_type = http::header_value(headers, "x-amzn-errortype")
        .and_then(|v| v.split(':').next())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    classify(status, headers, body, error_type)
}

/// The kind from the error type (PascalCase in headers, camelCase in streams),
/// else from the status.
fn classify(status: u16, headers: &[Header], body: &[u8], error_type: Option<String>) -> ProviderError {
    let message = serde_json::from_slice::<WireError>(body).ok().and_then(|e| e.message);
    let parsed = ErrorBody { message, kind: error_type, code: None };
    errors::from_response(status, headers, body, parsed, |b| {
        let message = b.message.as_deref().unwrap_or_default().to_ascii_lowercase();
        let too_long = ["too long", "too many input tokens", "input tokens exceed", "context length", "context window"]
            .iter()
            .any(|phrase| message.contains(phrase));
        Some(match b.kind.as_deref()?.to_ascii_lowercase().as_str() {
            // An exhausted quota, like a rate limit: another account may serve.
            "throttlingexception" | "servicequotaexceededexception" => ErrorKind::RateLimit,
            "serviceunavailableexception" | "modelnotreadyexception" => ErrorKind::Overloaded,
            "accessdeniedexception"
            | "unrecognizedclientexception"
            | "expiredtokenexception"
            | "invalidsignatureexception"
            | "incompletesignatureexception"
            | "missingauthenticationtokenexception" => ErrorKind::Auth,
            "validationexception" if too_long => ErrorKind::ContextLength,
            "validationexception" | "resourcenotfoundexception" => ErrorKind::InvalidRequest,
            "modeltimeoutexception" => ErrorKind::Timeout,
            "internalserverexception" | "modelstreamerrorexception" | "modelerrorexception" => ErrorKind::ServerError,
            _ => return None,
        })
    })
}
