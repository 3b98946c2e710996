//! Anthropic Messages API (`POST {base}/v1/messages`).
//! Reference: https://docs.anthropic.com/en/api/messages
//!
//! The key travels in `x-api-key`, which the host adds; this plugin only names
//! the header.

mod models;
mod request;
mod response;

use llmnode_sdk::prelude::*;

/// The Anthropic provider.
pub struct Anthropic;

impl Provider for Anthropic {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "anthropic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Anthropic".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "https://api.anthropic.com".into(),
            egress_hosts: Vec::new(),
            models: models::catalog(),
            // No JSON mode: Anthropic only constrains output to a schema.
            capabilities: Capabilities::all()
                - Capabilities::JSON_MODE
                - Capabilities::EMBEDDINGS
                - Capabilities::GROUNDING,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        let body = request::body(&req, &conn)?;
        Ok(request::prepared(&conn, body))
    }

    fn parse_response(resp: HttpResponse) -> Result<ChatResponse, ProviderError> {
        response::message(&resp.body)
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        response::event(&event.data)
    }

    fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        response::error(status, &headers, &body)
    }

    fn test_request(conn: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        // Anthropic has no free call that proves access to a model, so this is
        // the smallest real one: a one-token answer.
        let body = json::body(&serde_json::json!({
            "model": model,
            "max_tokens": 1,
            "messages": [{ "role": "user", "content": "ping" }],
        }));
        Ok(request::prepared(&conn, body))
    }
}

llmnode_sdk::export_plugin!(Anthropic);
