//! Azure OpenAI chat completions and embeddings:
//! `POST {base}/openai/deployments/{deployment}/chat/completions?api-version={version}`
//! (`…/{deployment}/embeddings?…` for embeddings, the same body as OpenAI's:
//! the inference spec's `embeddings_create`) with the key in the `api-key` header.
//!
//! - The base URL is the resource's endpoint, `https://{resource}.openai.azure.com`
//!   (the connection must set it; the default is the spec's placeholder).
//! - The node's model names the *deployment*. Azure ignores the body's `model`
//!   (the deployment decides which model answers); it is sent anyway, as the
//!   official SDK does.
//! - `api-version` comes from the connection option `api_version` (default
//!   [`DEFAULT_API_VERSION`], the current GA version).
//! - Deployments are named by their owner, so prices are known only for a
//!   deployment named after an OpenAI model id (`gpt-4o`, …): those get
//!   OpenAI's list prices from the shared table; any other name is priced at
//!   zero until the operator sets a price.
//!
//! Everything else is the OpenAI dialect, parsed by the SDK's `openai_compat`;
//! what Azure adds is handled there: prompt and completion content-filter
//! results (ignored, except `finish_reason: content_filter`), a first stream
//! chunk with no choices and empty ids, string error codes such as `"429"`,
//! and `innererror.code: ResponsibleAIPolicyViolation` (a content-filter refusal).
//! Reference: Azure OpenAI data-plane inference spec, stable 2024-10-21.

use llmnode_sdk::openai_compat::{self, models};
use llmnode_sdk::prelude::*;

/// The GA api-version used when the connection does not pick one.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// The Azure OpenAI provider.
pub struct AzureOpenAi;

/// Images: OpenAI's `image_url` parts, by URL or as `data:` URLs, with `detail`
/// when given. https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/gpt-with-vision
const IMAGES: image::Accepts =
    image::Accepts { provider: "Azure OpenAI", media_types: openai_compat::OPENAI_IMAGE_TYPES, urls: true };

/// The URL of `operation` (`chat/completions`, `embeddings`) on `deployment`,
/// with the connection's api-version.
fn url(conn: &ConnectionSettings, deployment: &str, operation: &str) -> Result<String, ProviderError> {
    if deployment.is_empty() {
        return Err(ProviderError::invalid("name the Azure deployment as the node's model"));
    }
    // The option name the operator is most likely to write either way.
    let version = conn.option("api_version").or_else(|| conn.option("api-version")).unwrap_or(DEFAULT_API_VERSION);
    // Tolerate a base URL given with the `/openai` prefix already on it.
    let base = conn.base_url.trim_end_matches('/').trim_end_matches("/openai");
    let path = format!("openai/deployments/{}/{operation}", http::encode(deployment));
    Ok(format!("{}?api-version={}", http::join(base, &path), http::encode(version)))
}

impl Provider for AzureOpenAi {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "azure-openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Azure OpenAI".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "https://your-resource-name.openai.azure.com".into(),
            egress_hosts: Vec::new(),
            models: models::catalog_with_embeddings(models::OPENAI, models::OPENAI_EMBEDDINGS),
            capabilities: Capabilities::all() - Capabilities::GROUNDING,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        IMAGES.check(&req.messages)?;
        let url = url(&conn, &req.model, "chat/completions")?;
        Ok(openai_compat::prepared(url, &openai_compat::body(&req)?, &conn, AuthDirective::Header("api-key".into())))
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
        // The data plane has no call that checks one deployment for free: a
        // one-token completion proves the key, the route and the deployment
        // (an unknown deployment answers 404).
        Self::build_request(openai_compat::probe(&model), conn)
    }

    fn build_embedding_request(
        req: EmbeddingRequest,
        conn: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        let url = url(&conn, &req.model, "embeddings")?;
        let body = openai_compat::embedding_body(&req)?;
        Ok(openai_compat::prepared(url, &body, &conn, AuthDirective::Header("api-key".into())))
    }

    fn parse_embedding_response(resp: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        openai_compat::embeddings(&resp.body)
    }
}

llmnode_sdk::export_plugin!(AzureOpenAi);
