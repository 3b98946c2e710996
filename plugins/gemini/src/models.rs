//! Models this plugin knows, with list prices in USD per million tokens.
//! Any other model id still works; it is simply priced at zero.
//!
//! Prices are Google's paid-tier list prices for text, image and video input
//! (https://ai.google.dev/gemini-api/docs/pricing; values cross-checked against
//! LiteLLM's model_prices_and_context_window.json). Models with a long-prompt
//! tier are listed at their price for prompts up to 200k tokens, the tier almost
//! every request falls in: gemini-2.5-pro costs 2.50 / 15.00 (cache 0.25) and
//! gemini-3-pro-preview 4.00 / 18.00 (cache 0.40) above it. Output prices
//! include thinking tokens, which Google bills as output (so no row has a
//! reasoning price).
//!
//! Gemini 1.5 Pro (2 097 152-token window) and 1.5 Flash (1 048 576) are the
//! seed's models: retired by Google, kept so workflows that name them are
//! priced. Their prices are the last Google listed for prompts up to 128k
//! tokens (1.5 Pro $1.25 / $5.00, cache $0.3125; 1.5 Flash $0.075 / $0.30,
//! cache $0.01875), read 2026-12-07 from third-party pages quoting Google's
//! (the provider's own page no longer lists them), and an 8 192-token
//! maximum output. Every Gemini chat model reads text, images, audio, video
//! and PDF documents. Google's explicit context cache bills storage by the
//! hour, not a write price, so no row has a cache-write price.

use llmnode_sdk::prelude::*;

use llmnode_sdk::models::{EmbedRow, Row};

/// The input window of every model listed but Gemini 1.5 Pro.
const WINDOW: u32 = 1_048_576;

const MODELS: &[Row] = &[
    // id, context window, max output, input, output, cached input, vision
    Row("gemini-2.5-pro", WINDOW, 65_536, 1.25, 10.00, Some(0.125), true),
    Row("gemini-2.5-flash", WINDOW, 65_536, 0.30, 2.50, Some(0.03), true),
    Row("gemini-2.5-flash-lite", WINDOW, 65_536, 0.10, 0.40, Some(0.01), true),
    Row("gemini-2.0-flash", WINDOW, 8_192, 0.10, 0.40, Some(0.025), true),
    // No context caching for 2.0 Flash-Lite.
    Row("gemini-2.0-flash-lite", WINDOW, 8_192, 0.075, 0.30, None, true),
    Row("gemini-3-pro-preview", WINDOW, 65_536, 2.00, 12.00, Some(0.20), true),
    Row("gemini-3-flash-preview", WINDOW, 65_536, 0.50, 3.00, Some(0.05), true),
    // Earlier generation the seed names.
    Row("gemini-1.5-pro", 2_097_152, 8_192, 1.25, 5.00, Some(0.3125), true),
    Row("gemini-1.5-pro-002", 2_097_152, 8_192, 1.25, 5.00, Some(0.3125), true),
    Row("gemini-1.5-flash", WINDOW, 8_192, 0.075, 0.30, Some(0.01875), true),
    Row("gemini-1.5-flash-002", WINDOW, 8_192, 0.075, 0.30, Some(0.01875), true),
];

/// The model list reported in the plugin's info; every chat model can ground
/// its answer on Google Search. Cache reads happen by
/// themselves (implicit caching) or through explicit cached contents; either
/// way they are billed at the cached price, so priced rows list prompt caching.
pub fn catalog() -> Vec<ModelInfo> {
    let mut models = llmnode_sdk::models::catalog(
        MODELS,
        Capabilities::STREAMING
            | Capabilities::TOOLS
            | Capabilities::JSON_MODE
            | Capabilities::JSON_SCHEMA
            | Capabilities::GROUNDING,
    );
    for model in &mut models {
        model.input_modalities =
            Modalities::TEXT | Modalities::IMAGE | Modalities::AUDIO | Modalities::VIDEO | Modalities::DOCUMENT;
    }
    models.extend(llmnode_sdk::models::embedding_catalog(EMBEDDING_MODELS));
    models
}

/// Embedding models: gemini-embedding-001, $0.15 per million input tokens,
/// 2 048 tokens per input (https://ai.google.dev/gemini-api/docs/pricing,
/// https://ai.google.dev/gemini-api/docs/embeddings).
const EMBEDDING_MODELS: &[EmbedRow] = &[EmbedRow("gemini-embedding-001", 2_048, 0.15)];
