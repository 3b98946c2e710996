//! Model tables with list prices in USD per million tokens, as the contract's
//! model list: one row shape and one conversion for every plugin whose
//! models differ only in window, prices and whether they see images.

use crate::{Capabilities, ModelInfo};

/// One model: id, context window, max output tokens, then USD per million
/// input, output and cached input tokens (`None`: the provider gives no cache
/// discount), and whether it accepts images.
pub struct Row(pub &'static str, pub u32, pub u32, pub f64, pub f64, pub Option<f64>, pub bool);

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
            ModelInfo {
                id: (*id).into(),
                context_window: *window,
                max_output_tokens: Some(*max_out),
                input_price: *input,
                output_price: *output,
                cached_input_price: *cached,
                cache_write_price: None,
                capabilities: caps,
            }
        })
        .collect()
}

/// One embedding model: id, most tokens one input may hold, and USD per
/// million input tokens (embeddings bill nothing else).
pub struct EmbedRow(pub &'static str, pub u32, pub f64);

/// Embedding `rows` as the contract's model list: each embeds text, has no
/// output to bound (its maximum output is 0 tokens) and is priced by input.
pub fn embedding_catalog(rows: &[EmbedRow]) -> Vec<ModelInfo> {
    rows.iter()
        .map(|EmbedRow(id, max_input, input)| ModelInfo {
            id: (*id).into(),
            context_window: *max_input,
            max_output_tokens: Some(0),
            input_price: *input,
            output_price: 0.0,
            cached_input_price: None,
            cache_write_price: None,
            capabilities: Capabilities::EMBEDDINGS,
        })
        .collect()
}
