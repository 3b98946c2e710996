//! First-party plugins, built from `plugins/` by the build script and shipped
//! inside the binary so `llmnode` works with no files beside it.

/// (name, wasm bytes) of every bundled plugin.
pub const BUNDLED: &[(&str, &[u8])] = &[
    ("anthropic", include_bytes!(env!("LLMNODE_WASM_PLUGIN_ANTHROPIC"))),
    ("azure-openai", include_bytes!(env!("LLMNODE_WASM_PLUGIN_AZURE_OPENAI"))),
    ("bedrock", include_bytes!(env!("LLMNODE_WASM_PLUGIN_BEDROCK"))),
    ("gemini", include_bytes!(env!("LLMNODE_WASM_PLUGIN_GEMINI"))),
    ("openai", include_bytes!(env!("LLMNODE_WASM_PLUGIN_OPENAI"))),
    ("qwen", include_bytes!(env!("LLMNODE_WASM_PLUGIN_QWEN"))),
];
