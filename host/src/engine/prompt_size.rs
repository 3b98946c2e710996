//! How big a prompt is, measured once per node without a tokenizer: a lower
//! bound (to skip a model only when the prompt certainly cannot fit) and an
//! upper bound of what any bundled provider bills for it (to reserve budget
//! and TPM a call can never exceed).
//!
//! The upper bound counts every byte the provider reads as a token (a token
//! always covers at least one byte of text): message text, names, tool calls
//! and tool-call ids, tool definitions, a response schema and stop sequences;
//! plus the framing providers add per message, per request, for tools (e.g.
//! Anthropic's tool-use system prompt) and for a schema; and a fixed bound per
//! image.

use crate::runtime::bindings::types;

/// Tokens an image may cost at most: above what any bundled provider bills for
/// one image at the largest size it accepts (Anthropic about 1 600, OpenAI
/// about 1 450 at high detail, Gemini 3 at most 1 120 at high media
/// resolution, 258 per 768-pixel tile before it).
pub const IMAGE_TOKENS_MAX: u64 = 10_000;
/// Role markers and separators around one message.
pub const MESSAGE_FRAMING: u64 = 16;
/// What a request adds once (reply priming, system wrappers).
pub const REQUEST_FRAMING: u64 = 64;
/// The system prompt providers add when tools are offered, and per-tool wrappers.
pub const TOOLS_FRAMING: u64 = 1_024;
/// Per tool definition, beyond its own bytes.
pub const TOOL_FRAMING: u64 = 32;
/// What a structured-output request adds beyond the schema's bytes.
pub const SCHEMA_FRAMING: u64 = 256;

/// A prompt's size, in bytes of text and counts of what frames it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromptSize {
    /// Message text only: what the lower bound reads.
    text_bytes: u64,
    /// Everything else a provider reads as tokens.
    other_bytes: u64,
    messages: u64,
    tools: u64,
    schema: bool,
    images: u64,
    /// Bytes of image URLs (inline `data:` images are large): what a plugin
    /// must hold, though no provider bills them as text.
    image_bytes: u64,
}

impl PromptSize {
    /// Measure every part of `request` a provider bills as input.
    pub fn of(request: &types::ChatRequest) -> Self {
        let mut size = PromptSize { messages: request.messages.len() as u64, ..Default::default() };
        let len = |s: &str| s.len() as u64;
        for m in &request.messages {
            for part in &m.content {
                match part {
                    types::ContentPart::Text(t) => size.text_bytes += len(t),
                    types::ContentPart::Image(i) => {
                        size.images += 1;
                        size.image_bytes += len(&i.url);
                    }
                }
            }
            size.other_bytes += m.name.as_deref().map_or(0, len) + m.tool_call_id.as_deref().map_or(0, len);
            for call in &m.tool_calls {
                size.other_bytes += len(&call.id) + len(&call.name) + len(&call.arguments);
            }
        }
        for tool in &request.tools {
            size.tools += 1;
            size.other_bytes += len(&tool.name) + tool.description.as_deref().map_or(0, len) + len(&tool.parameters);
        }
        if let Some(types::ResponseFormat::JsonSchema(f)) = &request.response_format {
            size.schema = true;
            size.other_bytes += len(&f.name) + len(&f.schema);
        } else if matches!(request.response_format, Some(types::ResponseFormat::JsonObject)) {
            size.schema = true;
        }
        size.other_bytes += request.stop.iter().map(|s| len(s)).sum::<u64>();
        size
    }

    /// Measure texts to embed: each is billed as input, framed like a message.
    pub fn of_texts(texts: &[String]) -> Self {
        PromptSize {
            text_bytes: texts.iter().map(|t| t.len() as u64).sum(),
            messages: texts.len() as u64,
            ..Default::default()
        }
    }

    /// Fewest tokens the prompt can be: a token rarely covers more than 4 bytes.
    pub fn min_tokens(self) -> u64 {
        Self::min_tokens_of(self.text_bytes)
    }

    /// Fewest tokens `bytes` of text can be.
    pub fn min_tokens_of(bytes: u64) -> u64 {
        bytes / 4
    }

    /// Bytes the request hands its plugin: what its memory and CPU scale with.
    pub fn bytes(self) -> u64 {
        self.text_bytes + self.other_bytes + self.image_bytes
    }

    /// Most tokens the prompt can be billed as.
    pub fn max_tokens(self) -> u64 {
        let tools = if self.tools > 0 { TOOLS_FRAMING + self.tools * TOOL_FRAMING } else { 0 };
        let schema = if self.schema { SCHEMA_FRAMING } else { 0 };
        self.text_bytes
            + self.other_bytes
            + self.messages * MESSAGE_FRAMING
            + REQUEST_FRAMING
            + tools
            + schema
            + self.images * IMAGE_TOKENS_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{Value, json};

    /// The request an llm node with `config` (and `content` as its one
    /// message) hands its plugin.
    fn request(content: &str, mut config: Value) -> types::ChatRequest {
        config["messages"] = json!([{ "role": "user", "content": content }]);
        crate::kit::call::chat_request(&config).unwrap()
    }

    #[test]
    fn a_one_character_prompt_is_bounded_above_what_providers_bill_for_it() {
        // OpenAI bills "hi" as about 8 input tokens, Anthropic about 11.
        let size = PromptSize::of(&request("h", json!({})));
        assert!(size.max_tokens() >= 11 * 4, "{}", size.max_tokens());
        assert_eq!(size.min_tokens(), 0);
    }

    #[test]
    fn tools_schemas_and_images_count() {
        let plain = PromptSize::of(&request("hello", json!({}))).max_tokens();
        let tool = json!({ "type": "function", "function": { "name": "get_weather",
            "description": "Weather for a city",
            "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } } });
        let with_tool = PromptSize::of(&request("hello", json!({ "tools": [tool] }))).max_tokens();
        assert!(with_tool >= plain + TOOLS_FRAMING + 60, "{with_tool}");
        let schema =
            json!({ "type": "json_schema", "json_schema": { "name": "answer", "schema": { "type": "object" } } });
        let with_schema = request("hello", json!({ "tools": [tool], "response_format": schema }));
        assert!(PromptSize::of(&with_schema).max_tokens() >= with_tool + SCHEMA_FRAMING + 17);
        let mut with_image = with_schema;
        with_image.messages[0]
            .content
            .push(types::ContentPart::Image(types::ImagePart { url: "https://x/y.png".into(), detail: None }));
        let size = PromptSize::of(&with_image);
        assert!(size.max_tokens() >= with_tool + IMAGE_TOKENS_MAX);
        assert!(size.bytes() >= 5 + 15 + 60, "text, image URL and tool bytes: {}", size.bytes());
    }
}
