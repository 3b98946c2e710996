//! Models this plugin knows, with list prices in USD per million tokens.
//! Any other model id still works; it is simply priced at zero.

use llmnode_sdk::prelude::*;

struct Row(&'static str, u32, u32, f64, f64, f64, bool);

const MODELS: &[Row] = &[
    // id, context window, max output, input, output, cached input, vision
    Row("gpt-4o", 128_000, 16_384, 2.50, 10.00, 1.25, true),
    Row("gpt-4o-mini", 128_000, 16_384, 0.15, 0.60, 0.075, true),
    Row("gpt-4.1", 1_047_576, 32_768, 2.00, 8.00, 0.50, true),
    Row("gpt-4.1-mini", 1_047_576, 32_768, 0.40, 1.60, 0.10, true),
    Row("gpt-4.1-nano", 1_047_576, 32_768, 0.10, 0.40, 0.025, true),
    Row("o3", 200_000, 100_000, 2.00, 8.00, 0.50, true),
    Row("o4-mini", 200_000, 100_000, 1.10, 4.40, 0.275, true),
    Row("gpt-3.5-turbo", 16_385, 4_096, 0.50, 1.50, 0.50, false),
];

/// The model list reported in the plugin's info.
pub fn catalog() -> Vec<ModelInfo> {
    MODELS
        .iter()
        .map(|Row(id, window, max_out, input, output, cached, vision)| {
            let mut caps = Capabilities::STREAMING
                | Capabilities::TOOLS
                | Capabilities::JSON_MODE
                | Capabilities::JSON_SCHEMA
                | Capabilities::PROMPT_CACHING;
            if *vision {
                caps |= Capabilities::VISION;
            }
            ModelInfo {
                id: (*id).into(),
                context_window: *window,
                max_output_tokens: Some(*max_out),
                input_price: *input,
                output_price: *output,
                cached_input_price: Some(*cached),
                cache_write_price: None,
                capabilities: caps,
            }
        })
        .collect()
}
