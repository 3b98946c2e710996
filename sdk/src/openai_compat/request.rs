//! Chat request → `POST …/chat/completions` body.
//! Reference: https://platform.openai.com/docs/api-reference/chat/create

use crate::prelude::*;
use serde_json::{Map, Value, json};

/// The image types OpenAI reads (GIF: its first frame), inline or at a URL;
/// Azure OpenAI reads the same.
/// https://platform.openai.com/docs/guides/images-vision#image-input-requirements
pub const OPENAI_IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp", "image/gif"];

/// The request template: a JSON `POST` of `body` to `url` with the operator's
/// custom headers. The plugin names the auth scheme; the host applies the key.
pub fn prepared(
    url: String,
    body: &Map<String, Value>,
    conn: &ConnectionSettings,
    auth: AuthDirective,
) -> PreparedRequest {
    let mut request = http::post(url, json::body(body));
    request.headers.extend(conn.headers.iter().cloned());
    PreparedRequest { request, auth }
}

/// The smallest chat request that proves a key, the route and access to
/// `model`: one word in, at most one token out (a fraction of a cent), for
/// providers with no free endpoint that checks a model.
pub fn probe(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_string(),
        messages: vec![Message::user("ping")],
        max_tokens: Some(1),
        ..ChatRequest::default()
    }
}

/// The JSON body of a chat completion request, as an object so a plugin can
/// add its provider's extra fields before sending it.
pub fn body(req: &ChatRequest) -> Result<Map<String, Value>, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let messages = req.messages.iter().map(message).collect::<Vec<_>>();
    body.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools = req.tools.iter().map(tool).collect::<Result<Vec<_>, _>>()?;
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        body.insert("tool_choice".into(), tool_choice(choice));
    }
    if let Some(format) = &req.response_format {
        body.insert("response_format".into(), response_format(format)?);
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), decimal(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), decimal(p));
    }
    if let Some(n) = req.max_tokens {
        body.insert(max_tokens_field(&req.model).into(), json!(n));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if let Some(r) = req.reasoning {
        // OpenAI takes an effort only; a budget is sent as the effort it stands for.
        // https://platform.openai.com/docs/api-reference/chat/create#chat-create-reasoning_effort
        body.insert("reasoning_effort".into(), json!(crate::reasoning::effort(r)));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        // Without this the stream carries no token counts at all.
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(body)
}

/// An `f32` setting as the decimal the caller wrote: `0.7`, not the widened
/// `0.699999988079071` that converting it to `f64` would send.
fn decimal(x: f32) -> Value {
    x.to_string().parse::<f64>().map_or(Value::Null, Value::from)
}

fn message(m: &Message) -> Value {
    let mut out = Map::new();
    out.insert("role".into(), json!(names::role(m.role)));
    if m.role == Role::Assistant && !m.tool_calls.is_empty() {
        // A tool-calling turn with no text carries `"content": null`, as the
        // API itself returns it and as OpenAI's clients send it back.
        let text = m.text();
        out.insert("content".into(), if text.is_empty() { Value::Null } else { json!(text) });
        let calls = m.tool_calls.iter().map(
            |c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments } }),
        );
        out.insert("tool_calls".into(), Value::Array(calls.collect()));
    } else if m.is_text_only() {
        out.insert("content".into(), json!(m.text()));
    } else {
        out.insert("content".into(), Value::Array(m.content.iter().map(part).collect()));
    }
    if let Some(name) = &m.name {
        out.insert("name".into(), json!(name));
    }
    if let Some(id) = &m.tool_call_id {
        out.insert("tool_call_id".into(), json!(id));
    }
    Value::Object(out)
}

fn part(p: &ContentPart) -> Value {
    match p {
        ContentPart::Text(text) => json!({ "type": "text", "text": text }),
        ContentPart::Image(image) => {
            let mut url = json!({ "url": image.url });
            if let Some(detail) = &image.detail {
                url["detail"] = json!(detail);
            }
            json!({ "type": "image_url", "image_url": url })
        }
    }
}

fn tool(t: &ToolDefinition) -> Result<Value, ProviderError> {
    let mut function = Map::new();
    function.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        function.insert("description".into(), json!(d));
    }
    let what = format!("the parameters of tool `{}`", t.name);
    function.insert("parameters".into(), json::parse_text(&t.parameters, &what)?);
    if let Some(strict) = t.strict {
        function.insert("strict".into(), json!(strict));
    }
    Ok(json!({ "type": "function", "function": function }))
}

fn tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Function(name) => json!({ "type": "function", "function": { "name": name } }),
    }
}

fn response_format(f: &ResponseFormat) -> Result<Value, ProviderError> {
    Ok(match f {
        ResponseFormat::Text => json!({ "type": "text" }),
        ResponseFormat::JsonObject => json!({ "type": "json_object" }),
        ResponseFormat::JsonSchema(s) => {
            let what = format!("the JSON schema `{}`", s.name);
            json!({
                "type": "json_schema",
                "json_schema": { "name": s.name, "schema": json::parse_text(&s.schema, &what)?, "strict": s.strict }
            })
        }
    })
}

/// Reasoning models refuse `max_tokens`; older and compatible servers only know it.
fn max_tokens_field(model: &str) -> &'static str {
    let reasoning =
        model.starts_with("gpt-5") || (model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit()));
    if reasoning { "max_completion_tokens" } else { "max_tokens" }
}
