//! Qwen on Alibaba Cloud Model Studio (DashScope), in its OpenAI-compatible mode:
//! `POST {base}/chat/completions` with `Authorization: Bearer <DashScope key>`.
//!
//! Keys are regional; the operator picks the region with the base URL:
//! - `https://dashscope-intl.aliyuncs.com/compatible-mode/v1`: Singapore, the
//!   international default;
//! - `https://dashscope.aliyuncs.com/compatible-mode/v1`: China (Beijing);
//! - `https://dashscope-us.aliyuncs.com/compatible-mode/v1`: US (Virginia).
//!
//! The wire is OpenAI's, parsed by the SDK's `openai_compat`, which already reads
//! what DashScope adds: `reasoning_content` in messages and stream deltas (the
//! contract's reasoning) and `prompt_tokens_details.cached_tokens` (priced as
//! cache reads, kept out of the input count). Streams report usage only when
//! asked with `stream_options.include_usage`, which the shared body always sets.
//!
//! Embeddings (`text-embedding-v4`, `-v3`) go to `POST {base}/embeddings` in
//! the same dialect, at most ten texts a request
//! (alibabacloud.com/help/en/model-studio/embedding-interfaces-compatible-with-openai).
//!
//! What is DashScope's own is `enable_thinking`, for hybrid thinking models
//! (see `thinking`). Reference: Model Studio "OpenAI compatibility" docs.

mod models;

use llmnode_sdk::openai_compat;
use llmnode_sdk::prelude::*;

/// The Qwen (DashScope) provider.
pub struct Qwen;

/// Images, for the vision models (Qwen-VL, QVQ, Qwen3.5 and later): OpenAI's
/// `image_url` parts, by URL or as `data:` URLs, in these types.
/// https://www.alibabacloud.com/help/en/model-studio/vision
const IMAGES: image::Accepts = image::Accepts {
    provider: "Qwen",
    media_types: &["image/bmp", "image/jpeg", "image/png", "image/tiff", "image/webp", "image/heic"],
    urls: true,
};

/// The value to send as `enable_thinking`, if any. The request's `reasoning`
/// turns it on (streamed calls only). Else the connection option
/// `enable_thinking` (`true` or `false`) asks for it; without the option the
/// field is left out and each model keeps its default.
///
/// DashScope refuses a non-streamed call with thinking on ("parameter.enable_thinking
/// must be set to false for non-streaming calls"), so a non-streamed call sends
/// `false` when the option asks for thinking or when the model thinks by default
/// (the open-weight hybrid Qwen3 models such as `qwen3-32b`): it then answers
/// without reasoning instead of failing.
fn thinking(req: &ChatRequest, conn: &ConnectionSettings) -> Result<Option<bool>, ProviderError> {
    if req.reasoning.is_some() {
        if !req.stream {
            return Err(ProviderError::invalid(
                "DashScope gives reasoning only to streamed calls: stream the node to ask Qwen for reasoning",
            ));
        }
        return Ok(Some(true));
    }
    let asked = match conn.option("enable_thinking") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ProviderError::invalid(format!("option enable_thinking must be true or false, not {other:?}")));
        }
    };
    if !req.stream && (asked == Some(true) || thinks_by_default(&req.model)) {
        return Ok(Some(false));
    }
    Ok(asked)
}

/// Open-weight hybrid Qwen3 models (`qwen3-<size>…`, not the `-instruct` or
/// `-thinking` variants) think unless told not to; the commercial ones do not.
fn thinks_by_default(model: &str) -> bool {
    model.strip_prefix("qwen3-").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        && !model.contains("instruct")
        && !model.contains("thinking")
}

impl Provider for Qwen {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "qwen".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Qwen (Alibaba Cloud Model Studio)".into(),
            auth: AuthScheme::ApiKey,
            default_base_url: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1".into(),
            egress_hosts: Vec::new(),
            models: models::catalog(),
            capabilities: Capabilities::all() - Capabilities::GROUNDING,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        IMAGES.check(&req.messages)?;
        let mut body = openai_compat::body(&req)?;
        if let Some(on) = thinking(&req, &conn)? {
            body.insert("enable_thinking".into(), serde_json::json!(on));
        }
        if let Some(r) = req.reasoning {
            // DashScope takes a budget, not OpenAI's effort.
            // https://www.alibabacloud.com/help/en/model-studio/deep-thinking
            body.remove("reasoning_effort");
            body.insert("thinking_budget".into(), serde_json::json!(reasoning::budget(r)));
        }
        let url = http::join(&conn.base_url, "chat/completions");
        Ok(openai_compat::prepared(url, &body, &conn, AuthDirective::Bearer))
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
        // A one-token completion proves the (regional) key, the route and the
        // model, for a fraction of a cent.
        Self::build_request(openai_compat::probe(&model), conn)
    }

    fn build_embedding_request(
        req: EmbeddingRequest,
        conn: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        if req.inputs.len() > MAX_EMBEDDING_INPUTS {
            return Err(ProviderError::invalid(format!(
                "DashScope embeds at most {MAX_EMBEDDING_INPUTS} texts per request, got {}",
                req.inputs.len()
            )));
        }
        let url = http::join(&conn.base_url, "embeddings");
        Ok(openai_compat::prepared(url, &openai_compat::embedding_body(&req)?, &conn, AuthDirective::Bearer))
    }

    fn parse_embedding_response(resp: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        openai_compat::embeddings(&resp.body)
    }
}

/// Texts one DashScope embeddings request may carry (text-embedding-v3 and v4).
pub const MAX_EMBEDDING_INPUTS: usize = 10;

llmnode_sdk::export_plugin!(Qwen);
