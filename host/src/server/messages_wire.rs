//! The Anthropic Messages wire format, in and out: a request becomes the same
//! llm node config the OpenAI-compatible endpoint builds (text taken
//! literally, never as a template), and a node's output becomes a `message`
//! or the content blocks of its stream.
//! Reference: https://docs.anthropic.com/en/api/messages

use super::chat_routes::ChatRoute;
use super::error::ApiError;
use super::openai_wire::{self, check_config};
use crate::workflow::{
    LlmConfig, MessageRole, MessageSpec, PartSpec, ReasoningSpec, ResponseFormatSpec, Template, ToolCallSpec,
    ToolChoiceSpec, ToolSpec,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// A Messages request. Fields that change nothing here (`metadata`,
/// `top_k`, `service_tier`, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u32,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub system: Option<System>,
    #[serde(default)]
    pub stream: bool,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stop_sequences: Vec<String>,
    #[serde(default)]
    pub tools: Vec<WireTool>,
    pub tool_choice: Option<WireToolChoice>,
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
}

/// `output_config`: structured output and effort.
#[derive(Debug, Deserialize)]
pub struct OutputConfig {
    #[serde(default)]
    pub format: Option<OutputFormat>,
    #[serde(default)]
    pub effort: Option<String>,
}

/// `thinking`: extended thinking with a token budget, or none.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled { budget_tokens: u32 },
    Disabled {},
}

/// `output_config.format`: JSON matching a schema.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputFormat {
    JsonSchema { schema: Value },
}

/// `system`: text, or text blocks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum System {
    Text(String),
    Blocks(Vec<Block>),
}

/// One turn: `user` or `assistant`.
#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    pub content: Content,
}

/// Text, or content blocks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

/// A content block.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    Image {
        source: ImageSource,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        is_error: bool,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    /// Earlier reasoning, sent back by clients; providers take it only with
    /// their own signature, so it is not forwarded.
    Thinking {},
    RedactedThinking {},
}

/// Where an image's bytes are.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// A tool the model may call.
#[derive(Debug, Deserialize)]
pub struct WireTool {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
}

/// `tool_choice`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireToolChoice {
    Auto {},
    Any {},
    None {},
    Tool { name: String },
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::Invalid(message.into())
}

impl MessagesRequest {
    /// The llm node config this request asks for, routed by `route`.
    pub fn into_config(self, route: ChatRoute) -> Result<LlmConfig, ApiError> {
        if self.temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(invalid("`temperature` must be within 0 and 1"));
        }
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        match self.system {
            None => {}
            Some(System::Text(text)) => messages.push(text_message(MessageRole::System, text)),
            Some(System::Blocks(blocks)) => {
                let mut m = text_message(MessageRole::System, String::new());
                m.content.clear();
                for (j, b) in blocks.into_iter().enumerate() {
                    match b {
                        Block::Text { text, cache_control } => {
                            m.content.push(PartSpec::Text(Template::literal(text)));
                            m.cache |= cache_control.is_some();
                        }
                        _ => return Err(invalid(format!("system[{j}]: a system block must be of type text"))),
                    }
                }
                if !m.content.is_empty() {
                    messages.push(m);
                }
            }
        }
        for (i, m) in self.messages.into_iter().enumerate() {
            turn(i, m, &mut messages)?;
        }
        let tools: Vec<ToolSpec> = self
            .tools
            .into_iter()
            .map(|t| ToolSpec { name: t.name, description: t.description, parameters: t.input_schema, strict: None })
            .collect();
        let tool_choice = match self.tool_choice {
            None => None,
            Some(WireToolChoice::Auto {}) => Some(ToolChoiceSpec::Auto),
            Some(WireToolChoice::Any {}) => Some(ToolChoiceSpec::Required),
            Some(WireToolChoice::None {}) => Some(ToolChoiceSpec::None),
            Some(WireToolChoice::Tool { name }) if tools.iter().any(|t| t.name == name) => {
                Some(ToolChoiceSpec::Function(name))
            }
            Some(WireToolChoice::Tool { .. }) => {
                return Err(invalid("`tool_choice.name` names a tool that `tools` does not list"));
            }
        };
        let (format, effort) = self.output_config.map(|o| (o.format, o.effort)).unwrap_or_default();
        let effort = match effort.as_deref() {
            None => None,
            Some(word) => Some(
                openai_wire::effort(word)
                    .ok_or_else(|| invalid("`output_config.effort` must be low, medium or high"))?,
            ),
        };
        let reasoning = match (self.thinking, effort) {
            (Some(Thinking::Enabled { .. }), Some(_)) => {
                return Err(invalid("set either `thinking` or `output_config.effort`, not both"));
            }
            (Some(Thinking::Enabled { budget_tokens: 0 }), None) => {
                return Err(invalid("`thinking.budget_tokens` must be at least 1"));
            }
            (Some(Thinking::Enabled { budget_tokens }), None) => Some(ReasoningSpec::BudgetTokens(budget_tokens)),
            (_, Some(e)) => Some(ReasoningSpec::Effort(e)),
            (Some(Thinking::Disabled {}) | None, None) => None,
        };
        let response_format = match format {
            None => None,
            Some(OutputFormat::JsonSchema { schema }) if schema.is_object() => {
                Some(ResponseFormatSpec::JsonSchema { name: "response".into(), schema, strict: true })
            }
            Some(OutputFormat::JsonSchema { .. }) => {
                return Err(invalid("`output_config.format.schema` must be an object"));
            }
        };
        let config = LlmConfig {
            route,
            messages,
            stream: self.stream,
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: Some(self.max_tokens),
            stop: self.stop_sequences,
            tools,
            tool_choice,
            response_format,
            cache: None,
            reasoning,
            grounding: None,
        };
        check_config(&config, "stop_sequences")?;
        Ok(config)
    }
}

fn text_message(role: MessageRole, text: String) -> MessageSpec {
    MessageSpec {
        role,
        content: vec![PartSpec::Text(Template::literal(text))],
        name: None,
        tool_call_id: None,
        tool_calls: Vec::new(),
        cache: false,
    }
}

/// One Messages turn as llm node messages: a user turn's tool results become
/// tool messages (in order, before its other content); an assistant turn's
/// `tool_use` blocks become its tool calls.
fn turn(i: usize, m: WireMessage, out: &mut Vec<MessageSpec>) -> Result<(), ApiError> {
    let role = match m.role.as_str() {
        "user" => MessageRole::User,
        "assistant" => MessageRole::Assistant,
        other => {
            return Err(invalid(format!("messages[{i}].role: must be user or assistant, not {other:?}")));
        }
    };
    let blocks = match m.content {
        Content::Text(text) => {
            out.push(text_message(role, text));
            return Ok(());
        }
        Content::Blocks(blocks) => blocks,
    };
    let mut own = text_message(role, String::new());
    own.content.clear();
    for (j, block) in blocks.into_iter().enumerate() {
        let at = || format!("messages[{i}].content[{j}]");
        match block {
            Block::Text { text, cache_control } => {
                own.content.push(PartSpec::Text(Template::literal(text)));
                own.cache |= cache_control.is_some();
            }
            Block::Image { source, cache_control } => {
                own.content.push(image(source));
                own.cache |= cache_control.is_some();
            }
            Block::ToolUse { id, name, input } if role == MessageRole::Assistant => {
                own.tool_calls.push(ToolCallSpec { id, name, arguments: input.to_string() });
            }
            Block::ToolResult { tool_use_id, content, is_error, cache_control } if role == MessageRole::User => {
                let mut result = text_message(MessageRole::Tool, String::new());
                result.content = tool_result(&at(), content, is_error)?;
                result.tool_call_id = Some(tool_use_id);
                result.cache = cache_control.is_some();
                out.push(result);
            }
            Block::ToolUse { .. } => {
                return Err(invalid(format!("{}: tool_use blocks belong to assistant turns", at())));
            }
            Block::ToolResult { .. } => {
                return Err(invalid(format!("{}: tool_result blocks belong to user turns", at())));
            }
            Block::Thinking {} | Block::RedactedThinking {} => {}
        }
    }
    if !own.content.is_empty() || !own.tool_calls.is_empty() {
        out.push(own);
    }
    Ok(())
}

fn image(source: ImageSource) -> PartSpec {
    let url = match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url,
    };
    PartSpec::Image { url: Template::literal(url), detail: None }
}

/// A tool result's content as parts; an error result says so in its first line.
fn tool_result(at: &str, content: Option<Content>, is_error: bool) -> Result<Vec<PartSpec>, ApiError> {
    let mut parts = Vec::new();
    if is_error {
        parts.push(PartSpec::Text(Template::literal("error:\n".to_string())));
    }
    match content {
        None => {}
        Some(Content::Text(text)) => parts.push(PartSpec::Text(Template::literal(text))),
        Some(Content::Blocks(blocks)) => {
            for (k, b) in blocks.into_iter().enumerate() {
                match b {
                    Block::Text { text, .. } => parts.push(PartSpec::Text(Template::literal(text))),
                    Block::Image { source, .. } => parts.push(image(source)),
                    _ => return Err(invalid(format!("{at}.content[{k}]: a tool result holds text and image blocks"))),
                }
            }
        }
    }
    if parts.is_empty() {
        parts.push(PartSpec::Text(Template::literal(String::new())));
    }
    Ok(parts)
}

/// The Messages `stop_reason` for a node output's finish reason.
pub fn stop_reason(output: &Value) -> &'static str {
    match output["finish_reason"].as_str() {
        Some("length") => "max_tokens",
        Some("tool_calls") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// The Messages usage object from a node output's `usage`.
pub fn usage(output: &Value) -> Value {
    let u = &output["usage"];
    let n = |k: &str| u[k].as_u64().unwrap_or(0);
    json!({
        "input_tokens": n("input"),
        "output_tokens": n("output"),
        "cache_read_input_tokens": n("cache_read"),
        "cache_creation_input_tokens": n("cache_write"),
    })
}

/// A node output's tool calls as `tool_use` blocks (arguments that are not
/// JSON stay text, as the model produced them).
pub fn tool_uses(output: &Value) -> Vec<Value> {
    let calls = output["tool_calls"].as_array().map(Vec::as_slice).unwrap_or_default();
    calls
        .iter()
        .map(|c| json!({ "type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"] }))
        .collect()
}

/// A whole `message` from a node output.
pub fn message(id: &str, output: &Value) -> Value {
    let mut content = Vec::new();
    if let Some(r) = output["reasoning"].as_str().filter(|r| !r.is_empty()) {
        content.push(json!({ "type": "thinking", "thinking": r, "signature": "" }));
    }
    let uses = tool_uses(output);
    let text = output["text"].as_str().unwrap_or_default();
    if !text.is_empty() || uses.is_empty() {
        content.push(json!({ "type": "text", "text": text }));
    }
    content.extend(uses);
    json!({
        "id": id, "type": "message", "role": "assistant", "model": output["model"], "content": content,
        "stop_reason": stop_reason(output), "stop_sequence": null, "usage": usage(output),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{RouteSpec, Routing};

    fn route() -> ChatRoute {
        RouteSpec { routing: Routing::Primary("a".into()), fallbacks: Vec::new(), failover_on: Vec::new(), model: None }
    }

    fn config(v: Value) -> Result<LlmConfig, ApiError> {
        serde_json::from_value::<MessagesRequest>(v).unwrap().into_config(route())
    }

    #[test]
    fn tool_use_and_tool_results_become_tool_calls_and_tool_messages() {
        let c = config(json!({ "model": "m", "max_tokens": 10, "system": [{ "type": "text", "text": "be brief", "cache_control": { "type": "ephemeral" } }],
            "tools": [{ "name": "weather", "input_schema": { "type": "object" } }], "tool_choice": { "type": "any" },
            "messages": [
                { "role": "user", "content": "weather?" },
                { "role": "assistant", "content": [{ "type": "thinking", "thinking": "t", "signature": "s" }, { "type": "tool_use", "id": "tu_1", "name": "weather", "input": { "city": "Paris" } }] },
                { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "tu_1", "content": [{ "type": "text", "text": "sunny" }] }, { "type": "text", "text": "and?" }] },
            ] }))
        .unwrap();
        let roles: Vec<MessageRole> = c.messages.iter().map(|m| m.role).collect();
        use MessageRole::*;
        assert_eq!(roles, [System, User, Assistant, Tool, User]);
        assert!(c.messages[0].cache);
        assert_eq!(c.messages[2].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(c.messages[3].tool_call_id.as_deref(), Some("tu_1"));
        assert_eq!(c.tool_choice, Some(ToolChoiceSpec::Required));
        assert_eq!(c.max_tokens, Some(10));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let base = |extra: Value| {
            let mut v = json!({ "model": "m", "max_tokens": 10, "messages": [{ "role": "user", "content": "hi" }] });
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            config(v).unwrap_err().to_string()
        };
        assert!(base(json!({ "temperature": 1.5 })).contains("`temperature`"));
        assert!(base(json!({ "max_tokens": 0 })).contains("`max_tokens`"));
        assert!(base(json!({ "stop_sequences": ["a", "b", "c", "d", "e"] })).contains("`stop_sequences`"));
        assert!(base(json!({ "tool_choice": { "type": "tool", "name": "x" } })).contains("`tool_choice.name`"));
        assert!(base(json!({ "messages": [] })).contains("`messages`"));
        let e = base(json!({ "messages": [{ "role": "system", "content": "x" }] }));
        assert!(e.contains("messages[0].role"), "{e}");
        let e = base(
            json!({ "messages": [{ "role": "user", "content": [{ "type": "tool_use", "id": "a", "name": "b", "input": {} }] }] }),
        );
        assert!(e.contains("messages[0].content[0]"), "{e}");
    }

    #[test]
    fn thinking_and_effort_become_reasoning() {
        let base = |extra: Value| {
            let mut v = json!({ "model": "m", "max_tokens": 5000, "messages": [{ "role": "user", "content": "hi" }] });
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            config(v).map(|c| c.reasoning)
        };
        let budget = base(json!({ "thinking": { "type": "enabled", "budget_tokens": 2048 } })).unwrap();
        assert_eq!(budget, Some(ReasoningSpec::BudgetTokens(2048)));
        let effort = base(json!({ "output_config": { "effort": "low" } })).unwrap();
        assert_eq!(effort, Some(ReasoningSpec::Effort(crate::workflow::Effort::Low)));
        assert_eq!(base(json!({ "thinking": { "type": "disabled" } })).unwrap(), None);
        let e = base(json!({ "output_config": { "effort": "max" } })).unwrap_err().to_string();
        assert!(e.contains("`output_config.effort`"), "{e}");
    }

    #[test]
    fn outputs_become_messages_with_blocks_stop_reason_and_usage() {
        let out = json!({ "text": "", "reasoning": "hmm", "model": "claude", "finish_reason": "tool_calls",
            "tool_calls": [{ "id": "c1", "name": "weather", "arguments": { "city": "Paris" } }],
            "usage": { "input": 5, "output": 7, "cache_read": 2, "cache_write": 0, "reasoning": 3 } });
        let m = message("msg_1", &out);
        assert_eq!(m["stop_reason"], "tool_use");
        let kinds: Vec<&str> = m["content"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["thinking", "tool_use"]);
        assert_eq!(m["content"][1]["input"]["city"], "Paris");
        assert_eq!(
            m["usage"],
            json!({ "input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0 })
        );
    }
}
