//! OpenAI Chat Completions (`POST {base}/chat/completions`), and any endpoint that
//! speaks the same dialect (vLLM, Ollama, OpenRouter, …) through a custom base URL.

mod models;
mod request;
mod response;

use llmnode_sdk::prelude::*;

/// The OpenAI provider.
pub struct OpenAi;

impl Provider for OpenAi {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "OpenAI".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "https://api.openai.com/v1".into(),
            egress_hosts: Vec::new(),
            models: models::catalog(),
            capabilities: Capabilities::all(),
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        let body = request::body(&req)?;
        Ok(request::prepared(&conn, "chat/completions", body))
    }

    fn parse_response(resp: HttpResponse) -> Result<ChatResponse, ProviderError> {
        response::completion(&resp.body)
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        response::chunk(&event.data)
    }

    fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        response::error(status, &headers, &body)
    }

    fn test_request(conn: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        // Retrieving the model proves the key, the route and access to the model
        // without spending tokens.
        let mut prepared = request::prepared(&conn, &format!("models/{model}"), Vec::new());
        prepared.request.method = Method::Get;
        prepared.request.headers.retain(|h| h.name != "content-type");
        Ok(prepared)
    }
}

llmnode_sdk::export_plugin!(OpenAi);
