//! An llmnode provider plugin for Ollama (https://ollama.com) through its
//! OpenAI-compatible API (`/v1/chat/completions`, `/v1/embeddings`).
//!
//! Ollama runs models locally and needs no key, so the plugin asks the host
//! for no credentials (`AuthScheme::None`); a connection may still send a
//! bearer key through an operator's proxy by setting the `api_key` option to
//! `bearer`. Chat uses the SDK's `openai_compat` dialect; embeddings (contract
//! 0.2.0) are implemented here.

use llmnode_sdk::openai_compat;
use llmnode_sdk::prelude::*;
use serde::Deserialize;

/// The Ollama provider.
pub struct Ollama;

/// Where `ollama serve` listens by default.
pub const DEFAULT_BASE_URL: &str = "http://localhost:11434/v1";

/// Popular models from the Ollama library: id, context window, max output,
/// then prices (local models cost nothing) and whether they see images.
const CHAT_MODELS: &[models::Row] = &[
    models::Row("llama3.2", 131_072, 8_192, 0.0, 0.0, None, false),
    models::Row("llama3.1", 131_072, 8_192, 0.0, 0.0, None, false),
    models::Row("qwen2.5", 32_768, 8_192, 0.0, 0.0, None, false),
    models::Row("mistral", 32_768, 8_192, 0.0, 0.0, None, false),
    models::Row("llava", 4_096, 4_096, 0.0, 0.0, None, true),
];

/// Embedding models: id and context window.
const EMBEDDING_MODELS: &[(&str, u32)] = &[("nomic-embed-text", 8_192), ("mxbai-embed-large", 512)];

fn auth(conn: &ConnectionSettings) -> AuthDirective {
    match conn.option("api_key") {
        Some("bearer") => AuthDirective::Bearer,
        _ => AuthDirective::None,
    }
}

fn catalog() -> Vec<ModelInfo> {
    let mut all = openai_compat::models::catalog(CHAT_MODELS);
    all.extend(EMBEDDING_MODELS.iter().map(|(id, window)| ModelInfo {
        max_output_tokens: None,
        output_modalities: Modalities::EMBEDDING,
        ..models::model(id, *window, 0, 0.0, 0.0, Capabilities::EMBEDDINGS)
    }));
    all
}

#[derive(Deserialize)]
struct EmbeddingList {
    data: Vec<EmbeddingItem>,
    model: Option<String>,
    usage: Option<EmbeddingUsage>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct EmbeddingUsage {
    prompt_tokens: u32,
}

impl Provider for Ollama {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "ollama".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Ollama".into(),
            auth: AuthScheme::None,
            default_base_url: DEFAULT_BASE_URL.into(),
            egress_hosts: Vec::new(),
            models: catalog(),
            capabilities: Capabilities::STREAMING
                | Capabilities::TOOLS
                | Capabilities::JSON_MODE
                | Capabilities::JSON_SCHEMA
                | Capabilities::VISION
                | Capabilities::EMBEDDINGS,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        let body = openai_compat::body(&req)?;
        Ok(openai_compat::prepared(http::join(&conn.base_url, "chat/completions"), &body, &conn, auth(&conn)))
    }

    fn parse_response(resp: HttpResponse) -> Result<ChatResponse, ProviderError> {
        openai_compat::completion(&resp.body)
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        openai_compat::chunk(&event.data)
    }

    fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        let mut error = openai_compat::error(status, &headers, &body);
        // Ollama answers 404 for a model that has not been pulled: the
        // request is wrong for this server, and no retry will fix it.
        if status == 404 {
            error.kind = ErrorKind::InvalidRequest;
        }
        error
    }

    fn test_request(conn: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        // `GET /v1/models/{model}` proves the server is up and the model pulled.
        let url = http::join(&conn.base_url, &format!("models/{}", http::encode(&model)));
        Ok(PreparedRequest { request: http::get(url), auth: auth(&conn) })
    }

    fn build_embedding_request(
        req: EmbeddingRequest,
        conn: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        if req.inputs.is_empty() {
            return Err(ProviderError::invalid("an embeddings request needs at least one input"));
        }
        let mut body = serde_json::json!({ "model": req.model, "input": req.inputs });
        if let Some(d) = req.dimensions {
            body["dimensions"] = d.into();
        }
        let body = body.as_object().cloned().unwrap_or_default();
        Ok(openai_compat::prepared(http::join(&conn.base_url, "embeddings"), &body, &conn, auth(&conn)))
    }

    fn parse_embedding_response(resp: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        let mut list: EmbeddingList = json::parse(&resp.body, "embedding list")?;
        list.data.sort_by_key(|d| d.index);
        Ok(EmbeddingResponse {
            vectors: list.data.into_iter().map(|d| d.embedding).collect(),
            model: list.model,
            usage: list.usage.map(|u| Usage { input_tokens: u.prompt_tokens, ..Usage::default() }),
        })
    }
}

llmnode_sdk::export_plugin!(Ollama);
