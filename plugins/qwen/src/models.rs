//! Qwen models on Model Studio with their list prices, in USD per million tokens.
//!
//! Source: Alibaba Cloud Model Studio model and pricing pages
//! (alibabacloud.com/help/en/model-studio/models, …/model-pricing), International
//! deployment (Singapore), pay-as-you-go list prices before any promotion or
//! discount. Where a model is priced in tiers by prompt length, the first tier
//! is listed; where thinking mode costs more per output token, the non-thinking
//! price is listed. Cached input is the implicit-cache price, 20% of the input
//! price (…/model-studio/context-cache). Operators with other rates (mainland
//! China, longer prompts, thinking mode) set them with `llmnode prices set`.

use llmnode_sdk::openai_compat::models::{EmbedRow, Row, catalog_with_embeddings};
use llmnode_sdk::prelude::*;

/// The model list reported in the plugin's info: the vision models (Qwen-VL)
/// read video as well as images.
pub fn catalog() -> Vec<ModelInfo> {
    let mut models = catalog_with_embeddings(QWEN, QWEN_EMBEDDINGS);
    for model in models.iter_mut().filter(|m| m.input_modalities.contains(Modalities::IMAGE)) {
        model.input_modalities |= Modalities::VIDEO;
    }
    models
}

/// The table the plugin reports.
pub const QWEN: &[Row] = &[
    // id, context window, max output, input, output, cached input, vision
    Row("qwen-max", 32_768, 8_192, 1.60, 6.40, Some(0.32), false),
    Row("qwen-plus", 1_000_000, 32_768, 0.40, 1.20, Some(0.08), false),
    Row("qwen-turbo", 131_072, 16_384, 0.05, 0.20, Some(0.01), false),
    Row("qwen-flash", 1_000_000, 32_768, 0.05, 0.40, Some(0.01), false),
    Row("qwen3-max", 262_144, 65_536, 1.20, 6.00, Some(0.24), false),
    Row("qwen3-coder-plus", 1_000_000, 65_536, 1.00, 5.00, Some(0.20), false),
    Row("qwen3-coder-flash", 1_000_000, 65_536, 0.30, 1.50, Some(0.06), false),
    // Thinking only, streaming only, no context cache.
    Row("qwq-plus", 131_072, 8_192, 0.80, 2.40, None, false),
    // Qwen-VL (text, images and video in, text out): qwen-vl-max $0.80 / $3.20,
    // qwen-vl-plus $0.21 / $0.63, 131 072-token window, 8 192 out; the
    // International prices could not be read from the provider's page here and
    // are the last known list prices (resellers quote 5 % above them).
    Row("qwen-vl-max", 131_072, 8_192, 0.80, 3.20, None, true),
    Row("qwen-vl-plus", 131_072, 8_192, 0.21, 0.63, None, true),
    Row("qwen2.5-vl-72b-instruct", 131_072, 8_192, 2.80, 8.40, None, true),
    // Qwen-2.5 open-weight models as served by Model Studio (International):
    // 131 072-token window, 8 192 out. Not confirmed from the provider's page
    // here: the last known list prices.
    Row("qwen2.5-72b-instruct", 131_072, 8_192, 1.40, 5.60, None, false),
    Row("qwen2.5-32b-instruct", 131_072, 8_192, 0.70, 2.80, None, false),
    Row("qwen2.5-14b-instruct", 131_072, 8_192, 0.35, 1.40, None, false),
    Row("qwen2.5-7b-instruct", 131_072, 8_192, 0.175, 0.70, None, false),
];

/// Embedding models, International (Singapore) list prices
/// (alibabacloud.com/help/en/model-studio/embedding-interfaces-compatible-with-openai):
/// 8 192 tokens per input.
pub const QWEN_EMBEDDINGS: &[EmbedRow] = &[
    // id, max tokens per input, input
    EmbedRow("text-embedding-v4", 8_192, 0.07),
    EmbedRow("text-embedding-v3", 8_192, 0.07),
];
