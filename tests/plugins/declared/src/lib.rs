//! A plugin as a third party would write it, declaring what its provider
//! documents through the SDK's `details`: a default rate limit (2 requests per
//! minute, small enough for a test to reach) and a long-lived cache-write
//! price. It speaks the OpenAI dialect and takes no credentials.

use llmnode_sdk::openai_compat;
use llmnode_sdk::prelude::*;

pub struct Declared;

/// The one model it prices.
const MODEL: &str = "declared-1";

impl Provider for Declared {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "declared".into(),
            version: "0.0.1".into(),
            contract_version: CONTRACT_VERSION.into(),
            display_name: "Declared-defaults test plugin".into(),
            auth: AuthScheme::None,
            default_base_url: "http://127.0.0.1:9/v1".into(),
            egress_hosts: Vec::new(),
            models: vec![ModelInfo {
                cached_input_price: Some(0.1),
                cache_write_price: Some(1.25),
                ..models::model(MODEL, 8192, 1024, 1.0, 2.0, Capabilities::STREAMING | Capabilities::PROMPT_CACHING)
            }],
            capabilities: Capabilities::STREAMING | Capabilities::PROMPT_CACHING,
        }
    }

    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        let body = openai_compat::body(&req)?;
        Ok(openai_compat::prepared(http::join(&conn.base_url, "chat/completions"), &body, &conn, AuthDirective::None))
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
        Self::build_request(openai_compat::probe(&model), conn)
    }

    fn details() -> PluginDetails {
        PluginDetails {
            default_limits: DefaultLimits { requests_per_minute: Some(2), tokens_per_minute: None },
            models: vec![ModelPrices { id: MODEL.into(), long_cache_write_price: Some(2.0) }],
        }
    }
}

llmnode_sdk::export_plugin!(Declared);
