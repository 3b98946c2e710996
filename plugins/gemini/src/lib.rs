//! Google Gemini: the Gemini API (`POST {base}/v1beta/models/{model}:generateContent`,
//! API key in `x-goog-api-key`) and, when the connection's options name a
//! `vertex_project`, Vertex AI (`…/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`,
//! a service account's OAuth token). Both speak the same request and response format.
//! Embeddings go to `:batchEmbedContents` on the Gemini API and `:predict` on
//! Vertex AI (see `embeddings`).
//!
//! Connection options: `vertex_project`, `vertex_location` (default `us-central1`;
//! `global` for the global endpoint), and `include_thoughts`, `thinking_budget`,
//! `thinking_level` for thinking models. A request's `grounding` adds the
//! Google Search tool (see `grounding`). A Vertex AI connection should set its
//! base URL to the location's endpoint (e.g. `https://us-central1-aiplatform.googleapis.com`):
//! left at the Gemini API default, the plugin still addresses that endpoint,
//! but the host only lets it through if the operator allows its host.

mod calls;
mod embeddings;
mod grounding;
mod images;
mod models;
mod request;
mod response;

use llmnode_sdk::prelude::*;

/// The Gemini provider.
pub struct Gemini;

impl Provider for Gemini {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "gemini".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Google Gemini (Gemini API and Vertex AI)".into(),
            // Vertex AI connections use a service account instead; the
            // request's auth directive says which a call needs.
            auth: AuthScheme::ApiKey,
            default_base_url: request::GEMINI_API.into(),
            egress_hosts: Vec::new(),
            models: models::catalog(),
            capabilities: Capabilities::all(),
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        request::prepared(&req, &conn)
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
        request::probe(&conn, &model)
    }

    fn build_embedding_request(
        req: EmbeddingRequest,
        conn: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        embeddings::prepared(&req, &conn)
    }

    fn parse_embedding_response(resp: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        embeddings::parse(&resp.body)
    }
}

// Exported only in the component: natively (the crate's unit tests) there is
// nothing to export, and the contract's export names are not valid symbol
// names for a native shared library.
#[cfg(target_arch = "wasm32")]
llmnode_sdk::export_plugin!(Gemini);
