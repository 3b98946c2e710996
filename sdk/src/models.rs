//! Model tables with list prices in USD per million tokens, as the contract's
//! model list: one row shape and one conversion for every plugin whose
//! models differ only in window, prices and whether they see images.

use crate::{CacheWritePrice, Capabilities, Modalities, ModelInfo};

/// One model: id, context window, max output tokens, then USD per million
/// input, output and cached input tokens (`None`: the provider gives no cache
/// discount), and whether it accepts images.
pub struct Row(pub &'static str, pub u32, pub u32, pub f64, pub f64, pub Option<f64>, pub bool);

/// A model with `caps`, taking text (plus images with [`Capabilities::VISION`])
/// and answering text, priced per million `input` and `output` tokens and
/// nothing else: the fields a plugin rarely sets are at their defaults
/// (no cache or reasoning prices), to be changed with struct update syntax.
pub fn model(id: &str, window: u32, max_output: u32, input: f64, output: f64, caps: Capabilities) -> ModelInfo {
    let image = if caps.contains(Capabilities::VISION) { Modalities::IMAGE } else { Modalities::empty() };
    ModelInfo {
        id: id.into(),
        context_window: window,
        max_output_tokens: Some(max_output),
        input_price: input,
        output_price: output,
        cached_input_price: None,
        cache_write_price: None,
        capabilities: caps,
        input_modalities: Modalities::TEXT | image,
        output_modalities: Modalities::TEXT,
        reasoning_price: None,
        cache_write_prices: Vec::new(),
    }
}

/// Cache-write prices of a provider that offers a five-minute and a one-hour
/// cache lifetime (Anthropic, Claude on Bedrock).
pub fn five_minute_and_hour(five_minutes: f64, hour: f64) -> Vec<CacheWritePrice> {
    vec![CacheWritePrice { ttl_seconds: 300, price: five_minutes }, CacheWritePrice { ttl_seconds: 3_600, price: hour }]
}

/// `rows` as the contract's model list. Every model has `caps`; prompt caching
/// is added where it is priced, vision where the row says so.
pub fn catalog(rows: &[Row], caps: Capabilities) -> Vec<ModelInfo> {
    rows.iter()
        .map(|Row(id, window, max_out, input, output, cached, vision)| {
            let mut caps = caps;
            if cached.is_some() {
                caps |= Capabilities::PROMPT_CACHING;
            }
            if *vision {
                caps |= Capabilities::VISION;
            }
            ModelInfo { cached_input_price: *cached, ..model(id, *window, *max_out, *input, *output, caps) }
        })
        .collect()
}

/// One embedding model: id, most tokens one input may hold, and USD per
/// million input tokens (embeddings bill nothing else).
pub struct EmbedRow(pub &'static str, pub u32, pub f64);

/// Embedding `rows` as the contract's model list: each embeds text into a
/// vector, has no output to bound (its maximum output is 0 tokens) and is
/// priced by input.
pub fn embedding_catalog(rows: &[EmbedRow]) -> Vec<ModelInfo> {
    rows.iter()
        .map(|EmbedRow(id, max_input, input)| ModelInfo {
            output_modalities: Modalities::EMBEDDING,
            ..model(id, *max_input, 0, *input, 0.0, Capabilities::EMBEDDINGS)
        })
        .collect()
}
