//! A provider plugin exactly as one was written for contract 0.1.0: plain
//! wit-bindgen against `wit/v0.1`, no SDK. It speaks a minimal OpenAI-style
//! dialect (`POST {base}/chat/completions`, `choices[0].message.content`), so
//! the end-to-end tests can run a workflow through it on a host whose own
//! types are the newest contract's.

wit_bindgen::generate!({
    path: "../../../wit/v0.1",
    world: "plugin",
});

use exports::llmnode::provider::provider::Guest;
use llmnode::provider::host::{LogLevel, log};
use llmnode::provider::types::*;
use serde_json::{Value, json};

struct Legacy;

fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError { kind, message: message.into(), code: None, retry_after_ms: None }
}

fn post(conn: &ConnectionSettings, path: &str, body: &Value) -> PreparedRequest {
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

fn usage(v: &Value) -> Option<Usage> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
    v.is_object().then(|| Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
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

impl Guest for Legacy {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "legacy-v0-1".into(),
            version: "0.1.0".into(),
            contract_version: "0.1.0".into(),
            display_name: "Contract 0.1.0 test plugin".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "http://127.0.0.1:9/v1".into(),
            egress_hosts: Vec::new(),
            models: vec![ModelInfo {
                id: "legacy-model".into(),
                context_window: 8192,
                max_output_tokens: Some(1024),
                input_price: 1.0,
                output_price: 2.0,
                cached_input_price: None,
                cache_write_price: None,
                capabilities: Capabilities::STREAMING,
            }],
            capabilities: Capabilities::STREAMING,
        }
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        log(LogLevel::Debug, "building a 0.1.0 request");
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
        Ok(post(&connection, "chat/completions", &body))
    }

    fn parse_response(response: HttpResponse) -> Result<ChatResponse, ProviderError> {
        let v: Value = serde_json::from_slice(&response.body)
            .map_err(|e| error(ErrorKind::ServerError, format!("response is not JSON: {e}")))?;
        let choice = &v["choices"][0];
        Ok(ChatResponse {
            id: v["id"].as_str().map(Into::into),
            model: v["model"].as_str().map(Into::into),
            text: choice["message"]["content"].as_str().unwrap_or_default().into(),
            reasoning: None,
            tool_calls: Vec::new(),
            finish_reason: finish(choice["finish_reason"].as_str()),
            usage: usage(&v["usage"]),
        })
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
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
        delta.finish_reason = finish(choice["finish_reason"].as_str());
        delta.usage = usage(&v["usage"]);
        Ok(delta)
    }

    fn classify_error(status: u16, _headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        let kind = match status {
            401 | 403 => ErrorKind::Auth,
            429 => ErrorKind::RateLimit,
            400..=499 => ErrorKind::InvalidRequest,
            _ => ErrorKind::ServerError,
        };
        error(kind, format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])))
    }

    fn test_request(connection: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": "ping" }], "max_tokens": 1 });
        Ok(post(&connection, "chat/completions", &body))
    }
}

export!(Legacy);
