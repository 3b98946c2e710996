//! The typed configuration of an `llm` node, as the executor consumes it.
//! Everything here has been checked; the executor need not re-validate.

use super::template::Template;
use crate::error_class::ErrorClass;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One `llm` node's request and routing.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// Which connection(s) serve the request first.
    pub routing: Routing,
    /// The error classes that move on to the next connection.
    pub failover_on: Vec<ErrorClass>,
    /// Connections tried, in order, after the primary or pool fails.
    pub fallbacks: Vec<String>,
    /// The model, for all connections or per connection; `None` uses each connection's default.
    pub model: Option<ModelSpec>,
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
}

impl LlmConfig {
    /// Every connection name in routing order: primary or pool, then fallbacks.
    pub fn connection_names(&self) -> impl Iterator<Item = &str> {
        let (primary, pool) = match &self.routing {
            Routing::Primary(name) => (Some(name.as_str()), &[][..]),
            Routing::Balanced { connections, .. } => (None, connections.as_slice()),
        };
        primary.into_iter().chain(pool.iter().map(|c| c.name.as_str())).chain(self.fallbacks.iter().map(String::as_str))
    }

    /// The model to ask `connection` for; `None` means the connection's default.
    pub fn model_for(&self, connection: &str) -> Option<&str> {
        match self.model.as_ref()? {
            ModelSpec::Single(model) => Some(model),
            ModelSpec::PerConnection(models) => models.get(connection).map(String::as_str),
        }
    }
}

/// How the first attempt picks a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// Always this connection first.
    Primary(String),
    /// One of a pool, chosen by `policy`.
    Balanced {
        /// The pool; never empty, names unique.
        connections: Vec<WeightedConnection>,
        /// How to choose from the pool.
        policy: LoadBalancing,
    },
}

/// A pool member; the weight only matters for [`LoadBalancing::Weighted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedConnection {
    /// The connection's name.
    pub name: String,
    /// Relative share, at least 1 (default 1).
    pub weight: u32,
}

/// Pool selection policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancing {
    /// Each connection in turn.
    #[default]
    RoundRobin,
    /// The one with the fewest requests in flight.
    LeastLoaded,
    /// Uniformly at random.
    Random,
    /// At random, in proportion to the weights.
    Weighted,
    /// The one with the lowest recent latency.
    LowestLatency,
}

/// Which model to request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// The same model on every connection.
    Single(String),
    /// Per connection name; connections not listed use their default model.
    PerConnection(BTreeMap<String, String>),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routing: Routing, model: Option<ModelSpec>) -> LlmConfig {
        LlmConfig {
            routing,
            failover_on: ErrorClass::DEFAULT_FAILOVER.to_vec(),
            fallbacks: vec!["c".into()],
            model,
            messages: Vec::new(),
            stream: false,
            temperature: None,
            top_p: None,
            max_tokens: None,
            stop: Vec::new(),
            tools: Vec::new(),
            tool_choice: None,
            response_format: None,
            cache: None,
        }
    }

    #[test]
    fn connection_names_in_routing_order() {
        let primary = config(Routing::Primary("p".into()), None);
        assert_eq!(primary.connection_names().collect::<Vec<_>>(), ["p", "c"]);
        let pool = config(
            Routing::Balanced {
                connections: vec![
                    WeightedConnection { name: "a".into(), weight: 1 },
                    WeightedConnection { name: "b".into(), weight: 3 },
                ],
                policy: LoadBalancing::Weighted,
            },
            None,
        );
        assert_eq!(pool.connection_names().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn model_for_single_map_and_none() {
        let single = config(Routing::Primary("p".into()), Some(ModelSpec::Single("m".into())));
        assert_eq!(single.model_for("p"), Some("m"));
        assert_eq!(single.model_for("c"), Some("m"));
        let map = config(
            Routing::Primary("p".into()),
            Some(ModelSpec::PerConnection(BTreeMap::from([("p".to_string(), "mp".to_string())]))),
        );
        assert_eq!(map.model_for("p"), Some("mp"));
        assert_eq!(map.model_for("c"), None);
        assert_eq!(config(Routing::Primary("p".into()), None).model_for("p"), None);
    }
}
