//! The typed configuration of an `llm` node, as the executor consumes it.
//! Everything here has been checked; the executor need not re-validate.

use super::route_spec::RouteSpec;
use super::template::Template;
use serde::Deserialize;
use serde_json::Value;

/// One `llm` node's request and routing.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// Where the request goes: connections, failover and model.
    pub route: RouteSpec,
    /// The conversation; never empty.
    pub messages: Vec<MessageSpec>,
    /// Whether to stream the answer.
    pub stream: bool,
    /// Sampling temperature, within 0..=2.
    pub temperature: Option<f32>,
    /// Nucleus sampling, within 0..=1.
    pub top_p: Option<f32>,
    /// Answer length limit, at least 1.
    pub max_tokens: Option<u32>,
    /// Stop sequences, at most 4.
    pub stop: Vec<String>,
    /// Functions the model may call; names unique.
    pub tools: Vec<ToolSpec>,
    /// Whether and which tool the model must call; a named function is one of `tools`.
    pub tool_choice: Option<ToolChoiceSpec>,
    /// The answer's format.
    pub response_format: Option<ResponseFormatSpec>,
    /// Prompt-cache settings for the whole request.
    pub cache: Option<CacheSpec>,
    /// Reasoning asked of the model before its answer (none: the provider's default).
    pub reasoning: Option<ReasoningSpec>,
    /// Web-search grounding asked of the model (none: no grounding); only a
    /// connection whose plugin announces the `grounding` capability serves it.
    pub grounding: Option<GroundingSpec>,
}

/// Grounding asked of the model: search the web before answering and cite
/// the sources (Gemini's Google Search grounding).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundingSpec {
    /// Search only when the provider predicts a search helps at least this
    /// much, within 0..=1 (Gemini 1.5's dynamic retrieval).
    pub dynamic_threshold: Option<f32>,
}

/// How much a reasoning model should think: each plugin maps it to its
/// provider's setting (an effort, or a token budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningSpec {
    /// A relative effort.
    Effort(Effort),
    /// At most this many reasoning tokens.
    BudgetTokens(u32),
}

/// A relative reasoning effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Low,
    Medium,
    High,
}

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// Instructions.
    System,
    /// The user.
    User,
    /// The model (for few-shot examples or earlier tool calls).
    Assistant,
    /// A tool's result.
    Tool,
}

impl MessageRole {
    /// The name used in workflow files and most provider APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::System => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSpec {
    /// Who speaks.
    pub role: MessageRole,
    /// The content; a string in the file becomes one text part. Empty only for an
    /// assistant message that carries `tool_calls`.
    pub content: Vec<PartSpec>,
    /// The speaker's name, for providers that support it.
    pub name: Option<String>,
    /// For a tool message: the assistant tool call it answers (always set for tool messages).
    pub tool_call_id: Option<String>,
    /// For an assistant message: the calls it made.
    pub tool_calls: Vec<ToolCallSpec>,
    /// Mark a prompt-cache breakpoint after this message.
    pub cache: bool,
}

/// One content part of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum PartSpec {
    /// Text, rendered from a template.
    Text(Template),
    /// An image by URL (or data: URL), rendered from a template.
    Image {
        /// The image's address.
        url: Template,
        /// Provider-specific detail level (e.g. `low`, `high`).
        detail: Option<String>,
    },
}

/// A function call an assistant message made, replayed verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallSpec {
    /// The id tool messages answer.
    pub id: String,
    /// The function called.
    pub name: String,
    /// The arguments, as the JSON text the model produced.
    pub arguments: String,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Unique within the node.
    pub name: String,
    /// Tells the model when to use it.
    pub description: Option<String>,
    /// JSON Schema of the arguments; always an object.
    pub parameters: Value,
    /// Ask the provider to enforce the schema strictly.
    pub strict: Option<bool>,
}

/// Tool use policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoiceSpec {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// Some tool must be called.
    Required,
    /// This function must be called.
    Function(String),
}

/// The answer's format.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormatSpec {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema's name (providers require one).
        name: String,
        /// The JSON Schema; always an object.
        schema: Value,
        /// Enforce the schema strictly (default true).
        strict: bool,
    },
}

/// Prompt caching for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSpec {
    /// Whether to use the provider's prompt cache.
    pub enabled: bool,
    /// How long cached prefixes should live, if the provider lets us choose.
    pub ttl_seconds: Option<u32>,
}
