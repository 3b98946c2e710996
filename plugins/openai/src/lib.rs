//! OpenAI Chat Completions (`POST {base}/chat/completions`) and embeddings
//! (`POST {base}/embeddings`), and any endpoint that
//! speaks the same dialect (vLLM, Ollama, OpenRouter, …) through a custom base URL.
//! The dialect itself lives in the SDK's `openai_compat`, shared with the other
//! OpenAI-shaped plugins; this crate adds only what is OpenAI's own.

use llmnode_sdk::openai_compat::{self, models};
use llmnode_sdk::prelude::*;

/// The OpenAI provider.
pub struct OpenAi;

/// Images: `image_url` parts, by URL or as `data:` URLs, with `detail` when given.
const IMAGES: image::Accepts =
    image::Accepts { provider: "OpenAI", media_types: openai_compat::OPENAI_IMAGE_TYPES, urls: true };

/// The request template: URL under the base, organization and the operator's
/// custom headers; the host adds `Authorization: Bearer …`.
fn prepared(
    conn: &ConnectionSettings,
    path: &str,
    body: &serde_json::Map<String, serde_json::Value>,
) -> PreparedRequest {
    let mut prepared = openai_compat::prepared(http::join(&conn.base_url, path), body, conn, AuthDirective::Bearer);
    if let Some(org) = &conn.organization {
        prepared.request.headers.insert(1, http::header("openai-organization", org));
    }
    prepared
}

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
            models: models::catalog_with_embeddings(models::OPENAI, models::OPENAI_EMBEDDINGS),
            capabilities: Capabilities::all() - Capabilities::GROUNDING,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        IMAGES.check(&req.messages)?;
        Ok(prepared(&conn, "chat/completions", &openai_compat::body(&req)?))
    }

    fn parse_response(resp: HttpResponse) -> Result<ChatResponse, ProviderError> {
        openai_compat::completion(&resp.body)
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        openai_compat::chunk(&event.data)
    }

    fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        openai_compat::error(status, &headers, &body)
    }

    fn test_request(conn: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        // Retrieving the model proves the key, the route and access to the model
        // without spending tokens.
        let mut prepared = prepared(&conn, &format!("models/{model}"), &Default::default());
        prepared.request.method = Method::Get;
        prepared.request.body.clear();
        prepared.request.headers.retain(|h| h.name != "content-type");
        Ok(prepared)
    }

    fn build_embedding_request(
        req: EmbeddingRequest,
        conn: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        Ok(prepared(&conn, "embeddings", &openai_compat::embedding_body(&req)?))
    }

    fn parse_embedding_response(resp: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        openai_compat::embeddings(&resp.body)
    }

    fn details() -> PluginDetails {
        // The rate limit OpenAI documents for an account's keys; a connection
        // with its own `--rpm` keeps that instead.
        PluginDetails {
            default_limits: DefaultLimits { requests_per_minute: Some(DEFAULT_RPM), tokens_per_minute: None },
            models: Vec::new(),
        }
    }
}

/// Requests per minute a connection to OpenAI gets unless its operator sets its own.
pub const DEFAULT_RPM: u32 = 10_000;

llmnode_sdk::export_plugin!(OpenAi);
