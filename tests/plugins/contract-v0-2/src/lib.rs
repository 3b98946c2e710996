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
        PluginInfo {
            name: "legacy-v0-2".into(),
            version: "0.2.0".into(),
            contract_version: "0.2.0".into(),
            display_name: "Contract 0.2.0 test plugin".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "http://127.0.0.1:9/v1".into(),
            egress_hosts: Vec::new(),
            models: vec![
                dialect::model("legacy-model", Capabilities::STREAMING | Capabilities::VISION),
                dialect::model("legacy-embed", Capabilities::EMBEDDINGS),
            ],
            capabilities: Capabilities::STREAMING | Capabilities::VISION | Capabilities::EMBEDDINGS,
        }
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        log(LogLevel::Debug, "building a 0.2.0 request");
        Ok(dialect::post(&connection, "chat/completions", &dialect::chat_body(&request)))
    }

    fn parse_response(response: HttpResponse) -> Result<ChatResponse, ProviderError> {
        dialect::parse_response(response)
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        dialect::parse_stream_event(event)
    }

    fn classify_error(status: u16, _headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        dialect::classify_error(status, body)
    }

    fn test_request(connection: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        dialect::test_request(connection, model)
    }

    fn build_embedding_request(
        request: EmbeddingRequest,
        connection: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        embeddings::build(request, connection)
    }

    fn parse_embedding_response(response: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        embeddings::parse(response)
    }
}

export!(Legacy);
