//! A provider plugin as one was written for contract 0.3.0: plain
//! wit-bindgen against `wit/v0.3`, no SDK, chat in the shared OpenAI-style
//! dialect (the 0.1.0 test plugin's `dialect`) with a request's reasoning sent as
//! `reasoning_effort`, and embeddings, so the end-to-end tests run them
//! through the host's 0.3.0 shim.

wit_bindgen::generate!({
    path: "../../../wit/v0.3",
    world: "plugin",
});

#[path = "../../contract-v0-1/src/dialect.rs"]
mod dialect;
#[path = "../../contract-v0-2/src/embeddings.rs"]
mod embeddings;

use exports::llmnode::provider::provider::Guest;
use llmnode::provider::types::*;
use serde_json::json;

struct Legacy;

impl Guest for Legacy {
    fn info() -> PluginInfo {
        let chat = Capabilities::STREAMING | Capabilities::REASONING;
        PluginInfo {
            name: "legacy-v0-3".into(),
            version: "0.3.0".into(),
            contract_version: "0.3.0".into(),
            display_name: "Contract 0.3.0 test plugin".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "http://127.0.0.1:9/v1".into(),
            egress_hosts: Vec::new(),
            models: vec![
                dialect::model("legacy-model", chat),
                dialect::model("legacy-embed", Capabilities::EMBEDDINGS),
            ],
            capabilities: chat | Capabilities::EMBEDDINGS,
        }
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        let mut body = dialect::chat_body(&request);
        if let Some(reasoning) = &request.reasoning {
            body["reasoning_effort"] = json!(match reasoning {
                Reasoning::Effort(ReasoningEffort::Low) => "low",
                Reasoning::Effort(ReasoningEffort::Medium) | Reasoning::BudgetTokens(_) => "medium",
                Reasoning::Effort(ReasoningEffort::High) => "high",
            });
        }
        Ok(dialect::post(&connection, "chat/completions", &body))
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
