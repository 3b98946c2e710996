//! A provider plugin as one was written for contract 0.2.0: plain
//! wit-bindgen against `wit/v0.2`, no SDK, chat in the shared OpenAI-style
//! dialect (the 0.1.0 test plugin's `dialect`) and embeddings, so the end-to-end
//! tests run both through the host's 0.2.0 shim.

wit_bindgen::generate!({
    path: "../../../wit/v0.2",
    world: "plugin",
});

#[path = "../../contract-v0-1/src/dialect.rs"]
mod dialect;
mod embeddings;

use exports::llmnode::provider::provider::Guest;
use llmnode::provider::host::{LogLevel, log};
use llmnode::provider::types::*;

struct Legacy;

impl Guest for Legacy {
    fn info() -> PluginInfo {
        dialect::info(
            "0.2.0",
            vec![
                dialect::model("legacy-model", Capabilities::STREAMING | Capabilities::VISION),
                dialect::model("legacy-embed", Capabilities::EMBEDDINGS),
            ],
            Capabilities::STREAMING | Capabilities::VISION | Capabilities::EMBEDDINGS,
        )
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        log(LogLevel::Debug, "building a 0.2.0 request");
        Ok(dialect::post(&connection, "chat/completions", &dialect::chat_body(&request)))
    }

    dialect::forwarded!();
    embeddings::forwarded!();
}

export!(Legacy);
