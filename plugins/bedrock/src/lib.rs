//! Amazon Bedrock's Converse API (`POST {base}/model/{modelId}/converse`) and
//! ConverseStream (`…/converse-stream`, an AWS event stream the host frames).
//! Reference: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
//!
//! Embeddings (Amazon Titan Text Embeddings, Cohere Embed) go through
//! InvokeModel (`…/model/{modelId}/invoke`; see `embeddings`).
//!
//! Requests are signed by the host with SigV4 (service `bedrock`) using the
//! connection's AWS keys; this plugin only names the region (see
//! `request::Endpoint` for how the region and the endpoint are chosen).

mod embeddings;
mod models;
mod request;
mod response;

use llmnode_sdk::prelude::*;

/// The Amazon Bedrock provider.
pub struct Bedrock;

impl Provider for Bedrock {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "bedrock".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Amazon Bedrock".into(),
            auth: AuthScheme::AwsSigv4,
            default_base_url: request::DEFAULT_BASE_URL.into(),
            egress_hosts: Vec::new(),
            models: models::catalog(),
            // No JSON mode or schema: Converse cannot constrain the output, so
            // a JSON response format is only asked for in the system prompt.
            capabilities: Capabilities::all()
                - Capabilities::JSON_MODE
                - Capabilities::JSON_SCHEMA
                - Capabilities::GROUNDING,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        let body = request::body(&req, &conn)?;
        request::prepared(&conn, &req.model, if req.stream { "converse-stream" } else { "converse" }, body)
    }

    fn parse_response(resp: HttpResponse) -> Result<ChatResponse, ProviderError> {
        response::converse(&resp)
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        response::event(&event)
    }

    fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        response::error(status, &headers, &body)
    }

    fn test_request(conn: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        // Bedrock has no free call that proves access to a model, so this is
        // the smallest real one: a one-token answer.
        let body = json::body(&serde_json::json!({
            "messages": [{ "role": "user", "content": [{ "text": "ping" }] }],
            "inferenceConfig": { "maxTokens": 1 },
        }));
        request::prepared(&conn, &model, "converse", body)
    }

    fn build_embedding_request(
        req: EmbeddingRequest,
        conn: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        let body = embeddings::body(&req, &conn)?;
        request::prepared(&conn, &req.model, "invoke", body)
    }

    fn parse_embedding_response(resp: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        embeddings::parse(&resp)
    }
}

llmnode_sdk::export_plugin!(Bedrock);
