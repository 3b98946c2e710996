//! The typed configuration of an `embedding` node: where it goes (the same
//! routing as an `llm` node) and the text(s) it turns into vectors.

use super::route_spec::RouteSpec;
use super::template::Template;

/// One `embedding` node's texts and routing.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingConfig {
    /// Where the request goes: connections, failover and model.
    pub route: RouteSpec,
    /// The text(s) to embed, each a template.
    pub input: EmbeddingInput,
    /// Vectors of this length, where the model lets one choose (at least 1).
    pub dimensions: Option<u32>,
}

/// The node's `input`: one text or a list; either way the output holds one
/// vector per text, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingInput {
    /// `"input": "…"`.
    One(Template),
    /// `"input": ["…", …]`; never empty, at most [`MAX_EMBEDDING_INPUTS`].
    Many(Vec<Template>),
}

/// Texts one embedding node (or one `/v1/embeddings` request) may carry, as
/// OpenAI's API allows.
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

impl EmbeddingInput {
    /// The templates, in order.
    pub fn templates(&self) -> &[Template] {
        match self {
            EmbeddingInput::One(t) => std::slice::from_ref(t),
            EmbeddingInput::Many(ts) => ts,
        }
    }
}
