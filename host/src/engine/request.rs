//! An llm node's config plus the run's values → the contract's chat request.

use crate::runtime::bindings::types;
use crate::workflow::{
    CacheSpec, Effort, LlmConfig, Lookup, MessageRole, PartSpec, ReasoningSpec, ResponseFormatSpec, TemplateError,
    ToolChoiceSpec,
};

/// Render every template of the node and build the request (model left empty:
/// it is set per connection).
pub fn build(config: &LlmConfig, ctx: &dyn Lookup) -> Result<types::ChatRequest, TemplateError> {
    let mut messages = Vec::with_capacity(config.messages.len());
    for m in &config.messages {
        let mut content = Vec::with_capacity(m.content.len());
        for part in &m.content {
            content.push(match part {
                PartSpec::Text(t) => types::ContentPart::Text(t.render(ctx)?),
                PartSpec::Image { url, detail } => {
                    types::ContentPart::Image(types::ImagePart { url: url.render(ctx)?, detail: detail.clone() })
                }
            });
        }
        messages.push(types::Message {
            role: match m.role {
                MessageRole::System => types::Role::System,
                MessageRole::User => types::Role::User,
                MessageRole::Assistant => types::Role::Assistant,
                MessageRole::Tool => types::Role::Tool,
            },
            content,
            name: m.name.clone(),
            tool_call_id: m.tool_call_id.clone(),
            tool_calls: m
                .tool_calls
                .iter()
                .map(|c| types::ToolCall { id: c.id.clone(), name: c.name.clone(), arguments: c.arguments.clone() })
                .collect(),
            cache_breakpoint: m.cache,
        });
    }
    Ok(types::ChatRequest {
        model: String::new(),
        messages,
        tools: config
            .tools
            .iter()
            .map(|t| types::ToolDefinition {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.to_string(),
                strict: t.strict,
            })
            .collect(),
        tool_choice: config.tool_choice.as_ref().map(|c| match c {
            ToolChoiceSpec::Auto => types::ToolChoice::Auto,
            ToolChoiceSpec::None => types::ToolChoice::None,
            ToolChoiceSpec::Required => types::ToolChoice::Required,
            ToolChoiceSpec::Function(name) => types::ToolChoice::Function(name.clone()),
        }),
        response_format: config.response_format.as_ref().map(|f| match f {
            ResponseFormatSpec::Text => types::ResponseFormat::Text,
            ResponseFormatSpec::JsonObject => types::ResponseFormat::JsonObject,
            ResponseFormatSpec::JsonSchema { name, schema, strict } => {
                types::ResponseFormat::JsonSchema(types::JsonSchemaFormat {
                    name: name.clone(),
                    schema: schema.to_string(),
                    strict: *strict,
                })
            }
        }),
        temperature: config.temperature,
        top_p: config.top_p,
        max_tokens: config.max_tokens,
        stop: config.stop.clone(),
        stream: config.stream,
        cache: config.cache.as_ref().map(|CacheSpec { enabled, ttl_seconds }| types::CacheHint {
            enabled: *enabled,
            ttl_seconds: *ttl_seconds,
        }),
        grounding: config
            .grounding
            .map(|g| types::Grounding { web_search: true, dynamic_threshold: g.dynamic_threshold }),
        reasoning: config.reasoning.map(|r| match r {
            ReasoningSpec::Effort(e) => types::Reasoning::Effort(match e {
                Effort::Low => types::ReasoningEffort::Low,
                Effort::Medium => types::ReasoningEffort::Medium,
                Effort::High => types::ReasoningEffort::High,
            }),
            ReasoningSpec::BudgetTokens(n) => types::Reasoning::BudgetTokens(n),
        }),
    })
}
