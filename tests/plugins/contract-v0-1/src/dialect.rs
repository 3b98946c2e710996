//! The minimal OpenAI-style dialect every contract test plugin speaks
//! (`POST {base}/chat/completions`, `choices[0].message.content`), written
//! once against the types contracts 0.1.0 to 0.3.0 share: the 0.2.0 and 0.3.0
//! test plugins include this file (`#[path]`) next to their own bindings.

use crate::llmnode::provider::types::*;
use serde_json::{Value, json};

pub fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError { kind, message: message.into(), code: None, retry_after_ms: None }
}

pub fn post(conn: &ConnectionSettings, path: &str, body: &Value) -> PreparedRequest {
    PreparedRequest {
        request: HttpRequest {
            method: Method::Post,
            url: format!("{}/{path}", conn.base_url.trim_end_matches('/')),
            headers: vec![Header { name: "content-type".into(), value: "application/json".into() }],
            body: body.to_string().into_bytes(),
        },
        auth: AuthDirective::Bearer,
    }
}

fn text_of(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text(t) => Some(t.as_str()),
            ContentPart::Image(_) => None,
        })
        .collect()
}

pub fn usage(v: &Value) -> Option<Usage> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
    v.is_object().then(|| Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: v["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap_or(0) as u32,
    })
}

fn finish(reason: Option<&str>) -> Option<FinishReason> {
    reason.map(|r| match r {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" => FinishReason::ToolCalls,
        _ => FinishReason::Other,
    })
}

/// The info of test plugin `legacy-v0-N` for contract `version` (`0.N.0`),
/// with an API key and a placeholder base URL.
pub fn info(version: &str, models: Vec<ModelInfo>, capabilities: Capabilities) -> PluginInfo {
    let n = version.split('.').nth(1).unwrap_or_default();
    PluginInfo {
        name: format!("legacy-v0-{n}"),
        version: version.into(),
        contract_version: version.into(),
        display_name: format!("Contract {version} test plugin"),
        auth: AuthScheme::ApiKey,
        default_base_url: "http://127.0.0.1:9/v1".into(),
        egress_hosts: Vec::new(),
        models,
        capabilities,
    }
}

/// A model of `capabilities` priced at $1 in, $2 out per million tokens.
pub fn model(id: &str, capabilities: Capabilities) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        context_window: 8192,
        max_output_tokens: Some(1024),
        input_price: 1.0,
        output_price: 2.0,
        cached_input_price: None,
        cache_write_price: None,
        capabilities,
    }
}

/// The chat body: model, plain-text messages, stream, max_tokens.
pub fn chat_body(request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Tool => "tool",
            };
            json!({ "role": role, "content": text_of(m) })
        })
        .collect();
    let mut body = json!({ "model": request.model, "messages": messages, "stream": request.stream });
    if let Some(max) = request.max_tokens {
        body["max_tokens"] = json!(max);
    }
    body
}

pub fn parse_response(response: HttpResponse) -> Result<ChatResponse, ProviderError> {
    let v: Value = serde_json::from_slice(&response.body)
        .map_err(|e| error(ErrorKind::ServerError, format!("response is not JSON: {e}")))?;
    let choice = &v["choices"][0];
    Ok(ChatResponse {
        id: v["id"].as_str().map(Into::into),
        model: v["model"].as_str().map(Into::into),
        text: choice["message"]["content"].as_str().unwrap_or_default().into(),
        reasoning: choice["message"]["reasoning_content"].as_str().map(Into::into),
        tool_calls: Vec::new(),
        finish_reason: finish(choice["finish_reason"].as_str()),
        usage: usage(&v["usage"]),
    })
}

pub fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
    let mut delta = StreamDelta {
        text: String::new(),
        reasoning: String::new(),
        tool_calls: Vec::new(),
        usage: None,
        finish_reason: None,
        id: None,
        model: None,
        done: false,
    };
    if event.data.trim() == "[DONE]" {
        delta.done = true;
        return Ok(delta);
    }
    let v: Value = serde_json::from_str(&event.data)
        .map_err(|e| error(ErrorKind::ServerError, format!("stream event is not JSON: {e}")))?;
    let choice = &v["choices"][0];
    delta.text = choice["delta"]["content"].as_str().unwrap_or_default().into();
    delta.reasoning = choice["delta"]["reasoning_content"].as_str().unwrap_or_default().into();
    delta.finish_reason = finish(choice["finish_reason"].as_str());
    delta.usage = usage(&v["usage"]);
    Ok(delta)
}

pub fn classify_error(status: u16, body: Vec<u8>) -> ProviderError {
    let kind = match status {
        401 | 403 => ErrorKind::Auth,
        429 => ErrorKind::RateLimit,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::ServerError,
    };
    error(kind, format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])))
}

pub fn test_request(connection: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
    let body = json!({ "model": model, "messages": [{ "role": "user", "content": "ping" }], "max_tokens": 1 });
    Ok(post(&connection, "chat/completions", &body))
}

/// The `Guest` functions that only forward to this dialect (parsing,
/// classifying, the test request), as items of a plugin's `Guest` impl.
macro_rules! forwarded {
    () => {
        fn parse_response(response: HttpResponse) -> Result<ChatResponse, ProviderError> {
            dialect::parse_response(response)
        }

        fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
            dialect::parse_stream_event(event)
        }

        fn classify_error(status: u16, _headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
            dialect::classify_error(status, body)
        }

        fn test_request(connection: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
            dialect::test_request(connection, model)
        }
    };
}

pub(crate) use forwarded;
