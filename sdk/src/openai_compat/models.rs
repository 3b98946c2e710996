//! Model tables with list prices in USD per million tokens, and OpenAI's own
//! table. OpenAI's prices live here, not in the OpenAI plugin, because Azure
//! OpenAI serves the same models at the same list prices: both plugins read
//! this one table. Any model id missing from a table still works; it is simply
//! priced at zero (an operator can set a price with `llmnode prices set`).

use crate::prelude::*;

pub use crate::models::{EmbedRow, Row};

/// OpenAI's list prices (platform.openai.com/docs/pricing, standard tier;
/// windows and maximum outputs from platform.openai.com/docs/models; read
/// 2026-12-07 through the pages of third parties that quote them where the
/// provider's page was not reachable: GPT-4 Turbo $10/$30, GPT-4 $30/$60 and
/// GPT-3.5 Turbo $0.50/$1.50 per million agree across them). Reasoning models
/// (o-series, GPT-5) bill reasoning tokens as output tokens, so no row has a
/// reasoning price. GPT-4, GPT-4 Turbo and GPT-3.5 Turbo predate prompt
/// caching; GPT-3.5 Turbo's row keeps the input price as its cache-read price
/// (what a cache hit would cost if one were reported).
pub const OPENAI: &[Row] = &[
    // id, context window, max output, input, output, cached input, vision
    // The current generation.
    Row("gpt-5", 400_000, 128_000, 1.25, 10.00, Some(0.125), true),
    Row("gpt-5-mini", 400_000, 128_000, 0.25, 2.00, Some(0.025), true),
    Row("gpt-5-nano", 400_000, 128_000, 0.05, 0.40, Some(0.005), true),
    Row("gpt-4o", 128_000, 16_384, 2.50, 10.00, Some(1.25), true),
    Row("gpt-4o-mini", 128_000, 16_384, 0.15, 0.60, Some(0.075), true),
    Row("gpt-4.1", 1_047_576, 32_768, 2.00, 8.00, Some(0.50), true),
    Row("gpt-4.1-mini", 1_047_576, 32_768, 0.40, 1.60, Some(0.10), true),
    Row("gpt-4.1-nano", 1_047_576, 32_768, 0.10, 0.40, Some(0.025), true),
    Row("o3", 200_000, 100_000, 2.00, 8.00, Some(0.50), true),
    Row("o4-mini", 200_000, 100_000, 1.10, 4.40, Some(0.275), true),
    // Earlier generations the seed names: GPT-4 Turbo (128K), GPT-4 (8K), GPT-3.5 Turbo (16K).
    Row("gpt-4-turbo", 128_000, 4_096, 10.00, 30.00, None, true),
    Row("gpt-4-turbo-2024-04-09", 128_000, 4_096, 10.00, 30.00, None, true),
    Row("gpt-4", 8_192, 8_192, 30.00, 60.00, None, false),
    Row("gpt-4-0613", 8_192, 8_192, 30.00, 60.00, None, false),
    Row("gpt-3.5-turbo", 16_385, 4_096, 0.50, 1.50, Some(0.50), false),
    Row("gpt-3.5-turbo-0125", 16_385, 4_096, 0.50, 1.50, None, false),
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
