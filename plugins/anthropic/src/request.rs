//! Chat request → `POST /v1/messages` body.
//! Reference: https://docs.anthropic.com/en/api/messages

use crate::models;
use llmnode_sdk::prelude::*;
use serde_json::{Map, Value, json};

/// The API version this plugin speaks; Anthropic requires the header on every call.
const API_VERSION: &str = "2023-06-01";

/// `max_tokens` for a model the table does not know: the API requires a value.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Anthropic accepts at most this many `cache_control` breakpoints per request.
const MAX_BREAKPOINTS: usize = 4;

/// Anthropic has no JSON mode; a `json_object` request gets this instruction.
const JSON_INSTRUCTION: &str = "Respond with a single JSON object and nothing else.";

/// Images: inline (`source.type: base64`) in these types, or by `https` URL
/// (`source.type: url`), which Anthropic fetches itself.
/// https://docs.anthropic.com/en/docs/build-with-claude/vision
const IMAGES: image::Accepts = image::Accepts {
    provider: "Anthropic",
    media_types: &["image/jpeg", "image/png", "image/gif", "image/webp"],
    urls: true,
};

/// The request template: `{base}/v1/messages`, the version header and the
/// operator's custom headers; the host adds `x-api-key`.
pub fn prepared(conn: &ConnectionSettings, body: Vec<u8>) -> PreparedRequest {
    let mut request = http::post(http::join(&conn.base_url, "v1/messages"), body);
    request.headers.push(http::header("anthropic-version", API_VERSION));
    request.headers.extend(conn.headers.iter().cloned());
    PreparedRequest { request, auth: AuthDirective::Header("x-api-key".into()) }
}

/// The JSON body of a Messages API request. System messages, wherever they
/// stand, form the `system` prompt: Anthropic has no system role in `messages`.
/// Cache breakpoints follow the SDK's [`CachePlan`]; a breakpoint is a
/// `cache_control` on the block it closes.
pub fn body(req: &ChatRequest, conn: &ConnectionSettings) -> Result<Vec<u8>, ProviderError> {
    IMAGES.check(&req.messages)?;
    let cache = CachePlan::new(req, conn, MAX_BREAKPOINTS);
    let mut control = json!({ "type": "ephemeral" });
    if cache.wants_hour() {
        control["ttl"] = json!("1h");
    }
    let mark = |block: Option<&mut Value>| {
        if let Some(Value::Object(block)) = block {
            block.insert("cache_control".into(), control.clone());
        }
    };
    let mut system: Vec<Value> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        match m.role {
            Role::System => system.extend(system_blocks(m)?),
            Role::Tool => tool_result(&mut messages, m),
            Role::User | Role::Assistant => {
                messages.push(json!({ "role": names::role(m.role), "content": blocks(m)? }));
            }
        }
        if cache.after(i) {
            mark(if m.role == Role::System { system.last_mut() } else { last_block(&mut messages) });
        }
    }
    if let Some(ResponseFormat::JsonObject) = req.response_format {
        system.push(json!({ "type": "text", "text": JSON_INSTRUCTION }));
    }
    let mut tools = req.tools.iter().map(tool).collect::<Result<Vec<_>, _>>()?;
    if cache.tools {
        mark(tools.last_mut());
    }
    for m in &mut messages {
        plain_text(m);
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let max_tokens = req.max_tokens.or_else(|| models::max_output(&req.model)).unwrap_or(DEFAULT_MAX_TOKENS);
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(r) = req.reasoning {
        // Extended thinking: a budget of at least 1024 tokens, below `max_tokens`.
        // https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking
        let budget = reasoning::budget(r);
        if budget < 1024 || budget >= max_tokens {
            return Err(ProviderError::invalid(format!(
                "Anthropic takes a reasoning budget of at least 1024 tokens and below max_tokens ({max_tokens}), not {budget}"
            )));
        }
        body.insert("thinking".into(), json!({ "type": "enabled", "budget_tokens": budget }));
    }
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        body.insert("tool_choice".into(), tool_choice(choice));
    }
    if let Some(ResponseFormat::JsonSchema(s)) = &req.response_format {
        let schema = json::parse_text(&s.schema, &format!("the JSON schema `{}`", s.name))?;
        body.insert("output_config".into(), json!({ "format": { "type": "json_schema", "schema": schema } }));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json::decimal(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json::decimal(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(json::body(&Value::Object(body)))
}

/// The last content block of the last message, where its breakpoint goes.
fn last_block(messages: &mut [Value]) -> Option<&mut Value> {
    messages.last_mut()?["content"].as_array_mut()?.last_mut()
}

/// A system message as text blocks: the system prompt cannot hold images.
fn system_blocks(m: &Message) -> Result<Vec<Value>, ProviderError> {
    m.content
        .iter()
        .map(|part| match part {
            ContentPart::Text(text) => Ok(json!({ "type": "text", "text": text })),
            ContentPart::Image(_) => Err(ProviderError::invalid("Anthropic's system prompt takes text only")),
        })
        .collect()
}

/// A user or assistant turn as content blocks: text, images, and for the
/// assistant the tool calls it made.
fn blocks(m: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::with_capacity(m.content.len() + m.tool_calls.len());
    for part in &m.content {
        match part {
            // A tool-calling turn often has empty text, which Anthropic refuses.
            ContentPart::Text(text) if text.is_empty() && !m.tool_calls.is_empty() => {}
            ContentPart::Text(text) => out.push(json!({ "type": "text", "text": text })),
            ContentPart::Image(image) => out.push(image_block(image)),
        }
    }
    for call in &m.tool_calls {
        let input = if call.arguments.trim().is_empty() {
            json!({})
        } else {
            json::parse_text(&call.arguments, &format!("the arguments of tool call `{}`", call.id))?
        };
        out.push(json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input }));
    }
    Ok(out)
}

/// An image by URL, or inline when given as a `data:` URL.
fn image_block(image: &ImagePart) -> Value {
    match image.inline() {
        Some((media_type, data)) => {
            json!({ "type": "image", "source": { "type": "base64", "media_type": media_type, "data": data } })
        }
        None => json!({ "type": "image", "source": { "type": "url", "url": image.url } }),
    }
}

/// A tool result is a `tool_result` block in a user turn. Results of the same
/// round of calls must share one user message, so consecutive ones are merged.
fn tool_result(messages: &mut Vec<Value>, m: &Message) {
    let content = if m.is_text_only() {
        json!(m.text())
    } else {
        let parts = m.content.iter().map(|p| match p {
            ContentPart::Text(text) => json!({ "type": "text", "text": text }),
            ContentPart::Image(image) => image_block(image),
        });
        Value::Array(parts.collect())
    };
    let block = json!({ "type": "tool_result", "tool_use_id": m.tool_call_id, "content": content });
    match messages.last_mut() {
        Some(last) if last["role"] == "user" && last_block_is_result(last) => {
            if let Some(blocks) = last["content"].as_array_mut() {
                blocks.push(block);
            }
        }
        _ => messages.push(json!({ "role": "user", "content": [block] })),
    }
}

fn last_block_is_result(message: &Value) -> bool {
    message["content"].as_array().and_then(|c| c.last()).is_some_and(|b| b["type"] == "tool_result")
}

/// A turn that is one plain text block is sent as a string, the API's short form.
fn plain_text(message: &mut Value) {
    if let Some([block]) = message["content"].as_array().map(Vec::as_slice)
        && block["type"] == "text"
        && block.get("cache_control").is_none()
    {
        message["content"] = block["text"].clone();
    }
}

fn tool(t: &ToolDefinition) -> Result<Value, ProviderError> {
    let mut out = Map::new();
    out.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        out.insert("description".into(), json!(d));
    }
    let what = format!("the parameters of tool `{}`", t.name);
    out.insert("input_schema".into(), json::parse_text(&t.parameters, &what)?);
    if t.strict == Some(true) {
        out.insert("strict".into(), json!(true));
    }
    Ok(Value::Object(out))
}

fn tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!({ "type": "auto" }),
        ToolChoice::None => json!({ "type": "none" }),
        ToolChoice::Required => json!({ "type": "any" }),
        ToolChoice::Function(name) => json!({ "type": "tool", "name": name }),
    }
}
