//! The OpenAI Chat Completions wire format, in and out: a request becomes an
//! llm node's config (message text taken literally, never as a template), and
//! a node's output becomes a `chat.completion` or its stream chunks.

use super::chat_routes::ChatRoute;
use super::error::ApiError;
use crate::workflow::{
    Effort, GroundingSpec, LlmConfig, MessageRole, MessageSpec, PartSpec, ReasoningSpec, ResponseFormatSpec, Template,
    ToolCallSpec, ToolChoiceSpec, ToolSpec,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// A chat completion request. Fields clients commonly send that change
/// nothing here (`user`, `seed`, `n: 1`, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub tools: Vec<WireTool>,
    pub tool_choice: Option<Value>,
    pub response_format: Option<Value>,
    pub n: Option<u32>,
    pub reasoning_effort: Option<String>,
    /// llmnode's extension: web-search grounding, as an llm node's
    /// `grounding` (`{"web_search": true, "dynamic_threshold": 0.3}`).
    pub grounding: Option<WireGrounding>,
}

/// `grounding`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireGrounding {
    pub web_search: bool,
    pub dynamic_threshold: Option<f32>,
}

/// `stream_options`.
#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `stop`: one string or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// One message.
#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    pub name: Option<String>,
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<WireToolCall>,
}

/// Text, or content parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<WirePart>),
}

/// A content part.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WirePart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// An image part's address.
#[derive(Debug, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    pub detail: Option<String>,
}

/// A tool call an assistant message made.
#[derive(Debug, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    pub function: WireFunctionCall,
}

/// The function of a tool call.
#[derive(Debug, Deserialize)]
pub struct WireFunctionCall {
    pub name: String,
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Deserialize)]
pub struct WireTool {
    pub function: WireFunction,
}

/// A tool's function.
#[derive(Debug, Deserialize)]
pub struct WireFunction {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::Invalid(message.into())
}

impl ChatRequest {
    /// The llm node config this request asks for, routed by `route`.
    pub fn into_config(self, route: ChatRoute) -> Result<LlmConfig, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(invalid("`n` must be 1: llmnode returns one choice"));
        }
        if self.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(invalid("`temperature` must be within 0 and 2"));
        }
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        let stop = match self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        };
        let messages =
            self.messages.into_iter().enumerate().map(|(i, m)| message(i, m)).collect::<Result<Vec<_>, _>>()?;
        let tools: Vec<ToolSpec> = self
            .tools
            .into_iter()
            .map(|t| ToolSpec {
                name: t.function.name,
                description: t.function.description,
                parameters: t.function.parameters.unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
                strict: t.function.strict,
            })
            .collect();
        let tool_choice = self.tool_choice.map(|c| tool_choice(&c, &tools)).transpose()?;
        let response_format = self.response_format.map(|f| response_format(&f)).transpose()?;
        let reasoning = match self.reasoning_effort.as_deref() {
            None => None,
            Some(word) => Some(ReasoningSpec::Effort(
                effort(word).ok_or_else(|| invalid("`reasoning_effort` must be low, medium or high"))?,
            )),
        };
        let grounding = match self.grounding {
            Some(g) if g.dynamic_threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) => {
                return Err(invalid("`grounding.dynamic_threshold` must be within 0 and 1"));
            }
            Some(WireGrounding { web_search: true, dynamic_threshold }) => Some(GroundingSpec { dynamic_threshold }),
            Some(WireGrounding { web_search: false, .. }) | None => None,
        };
        let config = LlmConfig {
            route,
            messages,
            stream: self.stream,
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens,
            stop,
            tools,
            tool_choice,
            response_format,
            cache: None,
            reasoning,
            grounding,
        };
        check_config(&config, "stop")?;
        Ok(config)
    }
}

/// A reasoning effort by its wire name.
pub(super) fn effort(word: &str) -> Option<Effort> {
    match word {
        "low" => Some(Effort::Low),
        "medium" => Some(Effort::Medium),
        "high" => Some(Effort::High),
        _ => None,
    }
}

/// The checks every chat endpoint makes of the config it built (`stop_field`
/// is the wire's name for stop sequences); the workflow parser makes the same
/// ones of a node.
pub(super) fn check_config(config: &LlmConfig, stop_field: &str) -> Result<(), ApiError> {
    if config.messages.is_empty() {
        return Err(invalid("`messages` must not be empty"));
    }
    if config.top_p.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return Err(invalid("`top_p` must be within 0 and 1"));
    }
    if config.max_tokens == Some(0) {
        return Err(invalid("`max_tokens` must be at least 1"));
    }
    if config.stop.len() > 4 {
        return Err(invalid(format!("`{stop_field}` takes at most 4 sequences")));
    }
    Ok(())
}

fn message(i: usize, m: WireMessage) -> Result<MessageSpec, ApiError> {
    let role = match m.role.as_str() {
        "system" | "developer" => MessageRole::System,
        "user" => MessageRole::User,
        "assistant" => MessageRole::Assistant,
        "tool" => MessageRole::Tool,
        other => return Err(invalid(format!("messages[{i}].role: unknown role {other:?}"))),
    };
    if role == MessageRole::Tool && m.tool_call_id.is_none() {
        return Err(invalid(format!("messages[{i}]: a tool message needs `tool_call_id`")));
    }
    let content = match m.content {
        None => Vec::new(),
        Some(Content::Text(t)) => vec![PartSpec::Text(Template::literal(t))],
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .map(|p| match p {
                WirePart::Text { text } => PartSpec::Text(Template::literal(text)),
                WirePart::ImageUrl { image_url } => {
                    PartSpec::Image { url: Template::literal(image_url.url), detail: image_url.detail }
                }
            })
            .collect(),
    };
    if content.is_empty() && m.tool_calls.is_empty() {
        return Err(invalid(format!("messages[{i}]: `content` is missing")));
    }
    Ok(MessageSpec {
        role,
        content,
        name: m.name,
        tool_call_id: m.tool_call_id,
        tool_calls: m
            .tool_calls
            .into_iter()
            .map(|c| ToolCallSpec { id: c.id, name: c.function.name, arguments: c.function.arguments })
            .collect(),
        cache: false,
    })
}

fn tool_choice(v: &Value, tools: &[ToolSpec]) -> Result<ToolChoiceSpec, ApiError> {
    match v {
        Value::String(s) if s == "auto" => Ok(ToolChoiceSpec::Auto),
        Value::String(s) if s == "none" => Ok(ToolChoiceSpec::None),
        Value::String(s) if s == "required" => Ok(ToolChoiceSpec::Required),
        _ => match v["function"]["name"].as_str() {
            Some(name) if tools.iter().any(|t| t.name == name) => Ok(ToolChoiceSpec::Function(name.to_string())),
            Some(name) => Err(invalid(format!("`tool_choice` names function {name:?}, which `tools` does not list"))),
            None => Err(invalid("`tool_choice` must be auto, none, required or a function")),
        },
    }
}

fn response_format(v: &Value) -> Result<ResponseFormatSpec, ApiError> {
    match v["type"].as_str() {
        Some("text") => Ok(ResponseFormatSpec::Text),
        Some("json_object") => Ok(ResponseFormatSpec::JsonObject),
        Some("json_schema") => {
            let s = &v["json_schema"];
            let schema = s["schema"].clone();
            if !schema.is_object() {
                return Err(invalid("`response_format.json_schema.schema` must be an object"));
            }
            Ok(ResponseFormatSpec::JsonSchema {
                name: s["name"].as_str().unwrap_or("response").to_string(),
                schema,
                strict: s["strict"].as_bool().unwrap_or(true),
            })
        }
        _ => Err(invalid("`response_format.type` must be text, json_object or json_schema")),
    }
}

/// OpenAI's usage object from a node output's `usage`.
pub fn usage(output: &Value) -> Value {
    let u = &output["usage"];
    let n = |k: &str| u[k].as_u64().unwrap_or(0);
    let prompt = n("input") + n("cache_read") + n("cache_write");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": n("output"),
        "total_tokens": prompt + n("output"),
        "prompt_tokens_details": { "cached_tokens": n("cache_read") },
        "completion_tokens_details": { "reasoning_tokens": n("reasoning") },
    })
}

/// The tool calls of a node output, as OpenAI sends them (arguments as text).
pub fn tool_calls(output: &Value) -> Vec<Value> {
    let calls = output["tool_calls"].as_array().map(Vec::as_slice).unwrap_or_default();
    calls
        .iter()
        .map(|c| {
            let arguments = match &c["arguments"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!({ "id": c["id"], "type": "function", "function": { "name": c["name"], "arguments": arguments } })
        })
        .collect()
}

/// A whole `chat.completion` from a node output; grounding metadata, when
/// the answer has some, rides along as the extra top-level field `grounding`.
pub fn completion(id: &str, created: u64, output: &Value) -> Value {
    let calls = tool_calls(output);
    let text = output["text"].as_str().unwrap_or_default();
    let mut message = json!({ "role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) } });
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    if let Some(r) = output["reasoning"].as_str().filter(|r| !r.is_empty()) {
        message["reasoning_content"] = json!(r);
    }
    let mut completion = json!({
        "id": id, "object": "chat.completion", "created": created, "model": output["model"],
        "choices": [{ "index": 0, "message": message, "finish_reason": output["finish_reason"].as_str().unwrap_or("stop"), "logprobs": null }],
        "usage": usage(output),
    });
    with_grounding(&mut completion, output);
    completion
}

/// Copy a node output's `grounding` onto an OpenAI-shaped object, if it has one.
pub fn with_grounding(target: &mut Value, output: &Value) {
    if let Some(g) = output.get("grounding").filter(|g| !g.is_null()) {
        target["grounding"] = g.clone();
    }
}

/// One `chat.completion.chunk` with `delta` and `finish_reason`.
pub fn chunk(id: &str, created: u64, model: &str, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null }],
    })
}
