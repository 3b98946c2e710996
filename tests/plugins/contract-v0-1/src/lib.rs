//! A provider plugin exactly as one was written for contract 0.1.0: plain
//! wit-bindgen against `wit/v0.1`, no SDK. It speaks a minimal OpenAI-style
//! dialect (see `dialect`, which the 0.2.0 and 0.3.0 test plugins share), so
//! the end-to-end tests can run a workflow through it on a host whose own
//! types are the newest contract's.

wit_bindgen::generate!({
    path: "../../../wit/v0.1",
    world: "plugin",
});

mod dialect;

use exports::llmnode::provider::provider::Guest;
use llmnode::provider::host::{LogLevel, log};
use llmnode::provider::types::*;

struct Legacy;

impl Guest for Legacy {
    fn info() -> PluginInfo {
        dialect::info("0.1.0", vec![dialect::model("legacy-model", Capabilities::STREAMING)], Capabilities::STREAMING)
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        log(LogLevel::Debug, "building a 0.1.0 request");
        Ok(dialect::post(&connection, "chat/completions", &dialect::chat_body(&request)))
    }

    dialect::forwarded!();
}

export!(Legacy);
