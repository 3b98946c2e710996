//! Models this plugin knows, with on-demand prices in USD per million tokens.
//! Any other model id (another inference profile, an ARN) still works; it is
//! simply priced at zero until the operator sets a price (`llmnode prices set`).
//!
//! Prices: the Amazon Bedrock pricing page (https://aws.amazon.com/bedrock/pricing/,
//! us-east-1 on-demand). Claude on Bedrock costs what Anthropic lists
//! (https://docs.anthropic.com/en/docs/about-claude/pricing): cache reads 0.1 ×
//! input, 5-minute cache writes 1.25 × input; from the 4.5 generation on, the
//! geographic profiles (`us.`) and in-region ids cost 10 % more than the
//! `global.` profile. Nova reads its cache at a 75 % discount and charges writes
//! at the input price (no write price listed, so the host uses the input price).
//!
//! The seed's Amazon Titan models: Titan Text Express (8K window, $0.20 /
//! $0.60), Lite (4K, $0.15 / $0.20) and Premier (32K, $0.50 / $1.50), and
//! Titan Text Embeddings v1 ($0.10) and v2 ($0.02), from the same page (per
//! 1 000 tokens there; read 2026-12-07 through pages quoting it, Titan Text
//! being legacy on the current page). Llama on Bedrock: Llama 3, 3.1, 3.2
//! (11B and 90B read images) and 3.3, at the page's per-model prices. No
//! Bedrock model prices reasoning apart from output.

use llmnode_sdk::models::{self, EmbedRow};
use llmnode_sdk::prelude::*;

/// Where a model accepts `cachePoint` blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Not at all: Bedrock refuses the request if one is sent.
    No,
    /// In the system prompt and messages, not after the tools (Nova).
    NoTools,
    /// System prompt, messages and tools (Claude).
    Everywhere,
}

/// One model under every id a node may name for it, all priced alike.
struct Row {
    ids: &'static [&'static str],
    context_window: u32,
    max_output: u32,
    /// Input and output.
    prices: [f64; 2],
    /// Cache read and cache write, where the model caches and Bedrock lists them.
    cache_prices: [Option<f64>; 2],
    caching: Caching,
    tools: bool,
    vision: bool,
}

use Caching::{Everywhere, No, NoTools};

/// Embedding models (on-demand, us-east-1, per million input tokens), with
/// the most tokens one input may hold: Titan Text Embeddings V2 $0.02, 8 192;
/// Cohere Embed v3 $0.10, 512 (https://aws.amazon.com/bedrock/pricing/).
const EMBEDDING_MODELS: &[EmbedRow] = &[
    EmbedRow("amazon.titan-embed-text-v2:0", 8_192, 0.02),
    EmbedRow("amazon.titan-embed-text-v1", 8_192, 0.10),
    EmbedRow("cohere.embed-english-v3", 512, 0.10),
    EmbedRow("cohere.embed-multilingual-v3", 512, 0.10),
];

#[rustfmt::skip]
const MODELS: &[Row] = &[
    Row { ids: &["global.anthropic.claude-sonnet-4-5-20250929-v1:0"], context_window: 200_000, max_output: 64_000,
          prices: [3.00, 15.00], cache_prices: [Some(0.30), Some(3.75)], caching: Everywhere, tools: true, vision: true },
    Row { ids: &["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"],
          context_window: 200_000, max_output: 64_000,
          prices: [3.30, 16.50], cache_prices: [Some(0.33), Some(4.125)], caching: Everywhere, tools: true, vision: true },
    Row { ids: &["global.anthropic.claude-haiku-4-5-20251001-v1:0"], context_window: 200_000, max_output: 64_000,
          prices: [1.00, 5.00], cache_prices: [Some(0.10), Some(1.25)], caching: Everywhere, tools: true, vision: true },
    Row { ids: &["us.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"],
          context_window: 200_000, max_output: 64_000,
          prices: [1.10, 5.50], cache_prices: [Some(0.11), Some(1.375)], caching: Everywhere, tools: true, vision: true },
    Row { ids: &["us.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-3-7-sonnet-20250219-v1:0"],
          context_window: 200_000, max_output: 64_000,
          prices: [3.00, 15.00], cache_prices: [Some(0.30), Some(3.75)], caching: Everywhere, tools: true, vision: true },
    Row { ids: &["us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0"],
          context_window: 200_000, max_output: 8_192,
          prices: [0.80, 4.00], cache_prices: [Some(0.08), Some(1.00)], caching: Everywhere, tools: true, vision: false },
    Row { ids: &["amazon.nova-micro-v1:0", "us.amazon.nova-micro-v1:0"], context_window: 128_000, max_output: 10_000,
          prices: [0.035, 0.14], cache_prices: [Some(0.00875), None], caching: NoTools, tools: true, vision: false },
    Row { ids: &["amazon.nova-lite-v1:0", "us.amazon.nova-lite-v1:0"], context_window: 300_000, max_output: 10_000,
          prices: [0.06, 0.24], cache_prices: [Some(0.015), None], caching: NoTools, tools: true, vision: true },
    Row { ids: &["amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0"], context_window: 300_000, max_output: 10_000,
          prices: [0.80, 3.20], cache_prices: [Some(0.20), None], caching: NoTools, tools: true, vision: true },
    Row { ids: &["amazon.titan-text-premier-v1:0"], context_window: 32_000, max_output: 3_072,
          prices: [0.50, 1.50], cache_prices: [None, None], caching: No, tools: false, vision: false },
    Row { ids: &["amazon.titan-text-express-v1"], context_window: 8_192, max_output: 8_192,
          prices: [0.20, 0.60], cache_prices: [None, None], caching: No, tools: false, vision: false },
    Row { ids: &["amazon.titan-text-lite-v1"], context_window: 4_096, max_output: 4_096,
          prices: [0.15, 0.20], cache_prices: [None, None], caching: No, tools: false, vision: false },
    Row { ids: &["us.meta.llama3-2-90b-instruct-v1:0", "meta.llama3-2-90b-instruct-v1:0"], context_window: 128_000,
          max_output: 2_048, prices: [0.72, 0.72], cache_prices: [None, None], caching: No, tools: true, vision: true },
    Row { ids: &["us.meta.llama3-2-11b-instruct-v1:0", "meta.llama3-2-11b-instruct-v1:0"], context_window: 128_000,
          max_output: 2_048, prices: [0.16, 0.16], cache_prices: [None, None], caching: No, tools: true, vision: true },
    Row { ids: &["meta.llama3-8b-instruct-v1:0"], context_window: 8_192, max_output: 2_048,
          prices: [0.30, 0.60], cache_prices: [None, None], caching: No, tools: false, vision: false },
    Row { ids: &["meta.llama3-70b-instruct-v1:0"], context_window: 8_192, max_output: 2_048,
          prices: [2.65, 3.50], cache_prices: [None, None], caching: No, tools: false, vision: false },
    Row { ids: &["meta.llama3-1-8b-instruct-v1:0", "us.meta.llama3-1-8b-instruct-v1:0"], context_window: 128_000,
          max_output: 2_048, prices: [0.22, 0.22], cache_prices: [None, None], caching: No, tools: true, vision: false },
    Row { ids: &["meta.llama3-1-70b-instruct-v1:0", "us.meta.llama3-1-70b-instruct-v1:0"], context_window: 128_000,
          max_output: 2_048, prices: [0.72, 0.72], cache_prices: [None, None], caching: No, tools: true, vision: false },
    Row { ids: &["us.meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"], context_window: 128_000,
          max_output: 8_192, prices: [0.72, 0.72], cache_prices: [None, None], caching: No, tools: true, vision: false },
    Row { ids: &["mistral.mistral-7b-instruct-v0:2"], context_window: 32_000, max_output: 8_192,
          prices: [0.15, 0.20], cache_prices: [None, None], caching: No, tools: false, vision: false },
    Row { ids: &["mistral.mixtral-8x7b-instruct-v0:1"], context_window: 32_000, max_output: 4_096,
          prices: [0.45, 0.70], cache_prices: [None, None], caching: No, tools: false, vision: false },
    Row { ids: &["mistral.mistral-small-2402-v1:0"], context_window: 32_000, max_output: 8_192,
          prices: [1.00, 3.00], cache_prices: [None, None], caching: No, tools: true, vision: false },
    Row { ids: &["mistral.mistral-large-2402-v1:0"], context_window: 32_000, max_output: 8_192,
          prices: [4.00, 12.00], cache_prices: [None, None], caching: No, tools: true, vision: false },
    Row { ids: &["mistral.mistral-large-2407-v1:0"], context_window: 128_000, max_output: 8_192,
          prices: [2.00, 6.00], cache_prices: [None, None], caching: No, tools: true, vision: false },
];

/// The model list reported in the plugin's info.
pub fn catalog() -> Vec<ModelInfo> {
    let mut models: Vec<ModelInfo> = MODELS
        .iter()
        .flat_map(|row| {
            let mut caps = Capabilities::STREAMING;
            for (has, cap) in [
                (row.tools, Capabilities::TOOLS),
                (row.vision, Capabilities::VISION),
                (row.caching != No, Capabilities::PROMPT_CACHING),
            ] {
                if has {
                    caps |= cap;
                }
            }
            row.ids.iter().map(move |id| ModelInfo {
                cached_input_price: row.cache_prices[0],
                cache_write_price: row.cache_prices[1],
                ..models::model(id, row.context_window, row.max_output, row.prices[0], row.prices[1], caps)
            })
        })
        .collect();
    models.extend(llmnode_sdk::models::embedding_catalog(EMBEDDING_MODELS));
    models
}

/// Where `model` takes cache points. A model this table does not know is
/// trusted to take them wherever the request asks.
pub fn caching(model: &str) -> Caching {
    MODELS.iter().find(|row| row.ids.contains(&model)).map_or(Everywhere, |row| row.caching)
}
