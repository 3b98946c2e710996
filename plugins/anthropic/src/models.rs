//! Models this plugin knows, with list prices in USD per million tokens.
//! Any other model id still works; it is simply priced at zero and gets the
//! default `max_tokens`.
//! Reference: https://platform.claude.com/docs/en/about-claude/pricing (the
//! model table with 5-minute and 1-hour cache writes and cache hits, read
//! 2026-12-07), windows and maximum outputs from the models overview. Claude
//! 3.5 Sonnet is not on that table any more (retired); its row is Sonnet's
//! ($3 / $15, the "Sonnet (other)" rate), with an 8 192-token maximum output
//! as its model card gave. The newer Claude 5 generation is left out: its
//! model ids could not be confirmed here, and an unlisted id still runs (an
//! operator prices it with `llmnode prices set`). Anthropic prices reasoning
//! ("thinking") tokens as output tokens.

use llmnode_sdk::prelude::*;

/// One model under its alias and its dated snapshot id (or the snapshot alone): the host prices a call
/// by the exact id a node names, and both are in common use.
struct Row {
    ids: &'static [&'static str],
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
    Row { ids: &["claude-opus-4-5", "claude-opus-4-5-20251101"], context_window: 200_000, max_output: 64_000,
          input: 5.00, output: 25.00, cache_read: 0.50, cache_write: 6.25,
          cache_write_hour: 10.00, vision: true, json_schema: true },
    Row { ids: &["claude-opus-4-1", "claude-opus-4-1-20250805"], context_window: 200_000, max_output: 32_000,
          input: 15.00, output: 75.00, cache_read: 1.50, cache_write: 18.75,
          cache_write_hour: 30.00, vision: true, json_schema: true },
    Row { ids: &["claude-opus-4-0", "claude-opus-4-20250514"], context_window: 200_000, max_output: 32_000,
          input: 15.00, output: 75.00, cache_read: 1.50, cache_write: 18.75,
          cache_write_hour: 30.00, vision: true, json_schema: false },
    Row { ids: &["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"], context_window: 200_000, max_output: 64_000,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: true },
    Row { ids: &["claude-sonnet-4-0", "claude-sonnet-4-20250514"], context_window: 200_000, max_output: 64_000,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: false },
    Row { ids: &["claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"], context_window: 200_000, max_output: 64_000,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: false },
    Row { ids: &["claude-haiku-4-5", "claude-haiku-4-5-20251001"], context_window: 200_000, max_output: 64_000,
          input: 1.00, output: 5.00, cache_read: 0.10, cache_write: 1.25,
          cache_write_hour: 2.00, vision: true, json_schema: true },
    Row { ids: &["claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"], context_window: 200_000, max_output: 8_192,
          input: 0.80, output: 4.00, cache_read: 0.08, cache_write: 1.00,
          cache_write_hour: 1.60, vision: false, json_schema: false },
    // Earlier generations the seed names.
    Row { ids: &["claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"], context_window: 200_000, max_output: 8_192,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: false },
    Row { ids: &["claude-3-5-sonnet-20240620"], context_window: 200_000, max_output: 8_192,
          input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75,
          cache_write_hour: 6.00, vision: true, json_schema: false },
    Row { ids: &["claude-3-opus-latest", "claude-3-opus-20240229"], context_window: 200_000, max_output: 4_096,
          input: 15.00, output: 75.00, cache_read: 1.50, cache_write: 18.75,
          cache_write_hour: 30.00, vision: true, json_schema: false },
    Row { ids: &["claude-3-haiku-latest", "claude-3-haiku-20240307"], context_window: 200_000, max_output: 4_096,
          input: 0.25, output: 1.25, cache_read: 0.03, cache_write: 0.30,
          cache_write_hour: 0.50, vision: true, json_schema: false },
];

/// The model list reported in the plugin's info: vision models read images
/// and PDF documents; cache writes are priced for both lifetimes.
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
            row.ids.iter().map(move |id| (*id, caps, row))
        })
        .map(|(id, caps, row)| {
            let base = models::model(id, row.context_window, row.max_output, row.input, row.output, caps);
            let documents = if row.vision { Modalities::DOCUMENT } else { Modalities::empty() };
            ModelInfo {
                cached_input_price: Some(row.cache_read),
                cache_write_price: Some(row.cache_write),
                cache_write_prices: models::five_minute_and_hour(row.cache_write, row.cache_write_hour),
                input_modalities: base.input_modalities | documents,
                ..base
            }
        })
        .collect()
}

/// The most a model may answer, for `max_tokens`, which Anthropic requires.
pub fn max_output(model: &str) -> Option<u32> {
    MODELS.iter().find(|row| row.ids.contains(&model)).map(|row| row.max_output)
}
