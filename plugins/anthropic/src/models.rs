//! Models this plugin knows, with list prices in USD per million tokens.
//! Any other model id still works; it is simply priced at zero and gets the
//! default `max_tokens`.
//! Reference: https://docs.anthropic.com/en/docs/about-claude/pricing

use llmnode_sdk::prelude::*;

/// One model under its alias and its dated snapshot id: the host prices a call
/// by the exact id a node names, and both are in common use.
struct Row {
    ids: [&'static str; 2],
    context_window: u32,
    max_output: u32,
    input: f64,
    output: f64,
    /// Cache hits: 0.1 × input.
    cache_read: f64,
    /// Cache writes with the default 5-minute lifetime: 1.25 × input.
    cache_write: f64,
    /// Cache writes with the 1-hour lifetime: 2 × input.
    cache_write_hour: f64,
    vision: bool,
    /// Structured outputs (`output_config.format`).
    json_schema: bool,
}

#[rustfmt::skip]
const MODELS: &[Row] = &[
    Row { ids: ["claude-opus-4-1", "claude-opus-4-1-20250805"], context_window: 200_000, max_output: 32_000,
          input: 15.00, output: 75.00, cache_read: 1.50, cache_write: 18.75,
          cache_write_hour: 30.00, vision: true, json_schema: true },
    Row { ids: ["claude-opus-4-0", "claude-opus-4-20250514"], context_window: 200_000, max_output: 32_000,
          input: 15.00, output: 75.00, cache_read: 1.50, cache_write: 18.75,
          cache_write_hour: 30.00, vision: true, json_schema: false },
    Row { ids: ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"], context_window: 200_000, max_output: 64_000,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: true },
    Row { ids: ["claude-sonnet-4-0", "claude-sonnet-4-20250514"], context_window: 200_000, max_output: 64_000,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: false },
    Row { ids: ["claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"], context_window: 200_000, max_output: 64_000,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: false },
    Row { ids: ["claude-haiku-4-5", "claude-haiku-4-5-20251001"], context_window: 200_000, max_output: 64_000,
          input: 1.00, output: 5.00, cache_read: 0.10, cache_write: 1.25,
          cache_write_hour: 2.00, vision: true, json_schema: true },
    Row { ids: ["claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"], context_window: 200_000, max_output: 8_192,
          input: 0.80, output: 4.00, cache_read: 0.08, cache_write: 1.00,
          cache_write_hour: 1.60, vision: false, json_schema: false },
];

/// The model list reported in the plugin's info.
pub fn catalog() -> Vec<ModelInfo> {
    MODELS
        .iter()
        .flat_map(|row| {
            let mut caps = Capabilities::STREAMING | Capabilities::TOOLS | Capabilities::PROMPT_CACHING;
            if row.vision {
                caps |= Capabilities::VISION;
            }
            if row.json_schema {
                caps |= Capabilities::JSON_SCHEMA;
            }
            row.ids.map(|id| ModelInfo {
                id: id.into(),
                context_window: row.context_window,
                max_output_tokens: Some(row.max_output),
                input_price: row.input,
                output_price: row.output,
                cached_input_price: Some(row.cache_read),
                cache_write_price: Some(row.cache_write),
                capabilities: caps,
            })
        })
        .collect()
}

/// What a 1-hour cache write costs per model, for the plugin's details.
pub fn long_cache_prices() -> Vec<ModelPrices> {
    MODELS
        .iter()
        .flat_map(|row| {
            row.ids.map(|id| ModelPrices { id: id.into(), long_cache_write_price: Some(row.cache_write_hour) })
        })
        .collect()
}

/// The most a model may answer, for `max_tokens`, which Anthropic requires.
pub fn max_output(model: &str) -> Option<u32> {
    MODELS.iter().find(|row| row.ids.contains(&model)).map(|row| row.max_output)
}
