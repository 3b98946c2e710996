//! A provider plugin exactly as one was written for contract 0.1.0: plain
//! wit-bindgen against `wit/v0.1`, no SDK. It speaks a minimal OpenAI-style
//! dialect (see `dialect`, which the 0.2.0 and 0.3.0 test plugins share), so the end-to-end tests can run a
//! workflow through it on a host whose own types are the newest contract's.

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
        PluginInfo {
            name: "legacy-v0-1".into(),
            version: "0.1.0".into(),
            contract_version: "0.1.0".into(),
            display_name: "Contract 0.1.0 test plugin".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "http://127.0.0.1:9/v1".into(),
            egress_hosts: Vec::new(),
            models: vec![dialect::model("legacy-model", Capabilities::STREAMING)],
            capabilities: Capabilities::STREAMING,
        }
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        log(LogLevel::Debug, "building a 0.1.0 request");
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
}

export!(Legacy);
