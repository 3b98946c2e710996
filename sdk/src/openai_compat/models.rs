//! Model tables with list prices in USD per million tokens, and OpenAI's own
//! table. OpenAI's prices live here, not in the OpenAI plugin, because Azure
//! OpenAI serves the same models at the same list prices: both plugins read
//! this one table. Any model id missing from a table still works; it is simply
//! priced at zero (an operator can set a price with `llmnode prices set`).

use crate::prelude::*;

pub use crate::models::{EmbedRow, Row};

/// OpenAI's list prices (platform.openai.com/docs/pricing, standard tier).
pub const OPENAI: &[Row] = &[
    // id, context window, max output, input, output, cached input, vision
    Row("gpt-4o", 128_000, 16_384, 2.50, 10.00, Some(1.25), true),
    Row("gpt-4o-mini", 128_000, 16_384, 0.15, 0.60, Some(0.075), true),
    Row("gpt-4.1", 1_047_576, 32_768, 2.00, 8.00, Some(0.50), true),
    Row("gpt-4.1-mini", 1_047_576, 32_768, 0.40, 1.60, Some(0.10), true),
    Row("gpt-4.1-nano", 1_047_576, 32_768, 0.10, 0.40, Some(0.025), true),
    Row("o3", 200_000, 100_000, 2.00, 8.00, Some(0.50), true),
    Row("o4-mini", 200_000, 100_000, 1.10, 4.40, Some(0.275), true),
    Row("gpt-3.5-turbo", 16_385, 4_096, 0.50, 1.50, Some(0.50), false),
];

/// OpenAI's embedding models (platform.openai.com/docs/pricing, "Embeddings";
/// 8 191 tokens per input: platform.openai.com/docs/guides/embeddings).
pub const OPENAI_EMBEDDINGS: &[EmbedRow] = &[
    // id, max tokens per input, input
    EmbedRow("text-embedding-3-small", 8_191, 0.02),
    EmbedRow("text-embedding-3-large", 8_191, 0.13),
    EmbedRow("text-embedding-ada-002", 8_191, 0.10),
];

/// A table as the contract's model list. Every model of this dialect streams,
/// calls tools and answers in JSON.
pub fn catalog(rows: &[Row]) -> Vec<ModelInfo> {
    crate::models::catalog(
        rows,
        Capabilities::STREAMING | Capabilities::TOOLS | Capabilities::JSON_MODE | Capabilities::JSON_SCHEMA,
    )
}

/// Chat `rows` and embedding `embed` rows as one model list.
pub fn catalog_with_embeddings(rows: &[Row], embed: &[EmbedRow]) -> Vec<ModelInfo> {
    let mut models = catalog(rows);
    models.extend(crate::models::embedding_catalog(embed));
    models
}
