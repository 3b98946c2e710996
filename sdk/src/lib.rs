//! The SDK for llmnode provider plugins.
//!
//! A plugin is a pure translator between llmnode's provider-neutral chat request and
//! one provider's HTTP API. It never does I/O and never sees a secret: it returns a
//! request template and an [`AuthDirective`], and the host signs and sends it.
//!
//! Implement [`Provider`] on a unit struct and export it with [`export_plugin!`].
//! Since the functions are plain Rust, a plugin's logic is tested natively,
//! with `cargo test`, before it is ever built for WebAssembly. A complete
//! plugin for an imaginary provider, and its test:
//!
//! ```
//! use llmnode_sdk::prelude::*;
//! use serde_json::json;
//!
//! /// The "Echo" provider: `POST {base}/complete` with `{"model", "prompt"}`,
//! /// answering `{"output": "...", "tokens": {"in": 3, "out": 5}}`.
//! pub struct Echo;
//!
//! impl Provider for Echo {
//!     fn info() -> PluginInfo {
//!         PluginInfo {
//!             name: "echo".into(),
//!             version: "0.1.0".into(),
//!             contract_version: CONTRACT_VERSION.into(),
//!             display_name: "Echo".into(),
//!             auth: AuthScheme::ApiKey,
//!             default_base_url: "https://api.echo.example/v1".into(),
//!             egress_hosts: Vec::new(),
//!             models: models::catalog(&[models::Row("echo-1", 8192, 1024, 0.5, 1.5, None, false)], Capabilities::empty()),
//!             capabilities: Capabilities::empty(),
//!         }
//!     }
//!
//!     fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
//!         if req.stream {
//!             return Err(ProviderError::invalid("echo does not stream"));
//!         }
//!         let prompt: Vec<String> = req.messages.iter().map(Message::text).collect();
//!         let body = json::body(&json!({ "model": req.model, "prompt": prompt.join("\n") }));
//!         // The host adds `Authorization: Bearer <key>`: the plugin never sees it.
//!         Ok(PreparedRequest { request: http::post(http::join(&conn.base_url, "complete"), body), auth: AuthDirective::Bearer })
//!     }
//!
//!     fn parse_response(resp: HttpResponse) -> Result<ChatResponse, ProviderError> {
//!         let v: serde_json::Value =
//!             serde_json::from_slice(&resp.body).map_err(|e| ProviderError::malformed(format!("not JSON: {e}")))?;
//!         let tokens = |k: &str| v["tokens"][k].as_u64().unwrap_or(0) as u32;
//!         Ok(ChatResponse {
//!             id: None,
//!             model: None,
//!             text: v["output"].as_str().unwrap_or_default().to_string(),
//!             reasoning: None,
//!             tool_calls: Vec::new(),
//!             finish_reason: Some(FinishReason::Stop),
//!             usage: Some(Usage { input_tokens: tokens("in"), output_tokens: tokens("out"), ..Usage::default() }),
//!             grounding: None,
//!         })
//!     }
//!
//!     fn parse_stream_event(_event: StreamEvent) -> Result<StreamDelta, ProviderError> {
//!         Err(ProviderError::invalid("echo does not stream"))
//!     }
//!
//!     fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
//!         errors::from_response(status, &headers, &body, ErrorBody::default(), |_| None)
//!     }
//!
//!     fn test_request(conn: ConnectionSettings, _model: String) -> Result<PreparedRequest, ProviderError> {
//!         Ok(PreparedRequest { request: http::get(http::join(&conn.base_url, "models")), auth: AuthDirective::Bearer })
//!     }
//!     // Embeddings are optional: the defaults answer "not supported".
//! }
//!
//! llmnode_sdk::export_plugin!(Echo);
//!
//! // The plugin's logic, tested natively:
//! # fn main() {
//! let conn = ConnectionSettings { base_url: "https://api.echo.example/v1".into(), ..Default::default() };
//! let req = ChatRequest { model: "echo-1".into(), messages: vec![Message::user("hi")], ..Default::default() };
//! let prepared = Echo::build_request(req, conn).unwrap();
//! assert_eq!(prepared.request.url, "https://api.echo.example/v1/complete");
//! let sent: serde_json::Value = json::parse(&prepared.request.body, "request").unwrap();
//! assert_eq!(sent["prompt"], "hi");
//!
//! let resp = HttpResponse { status: 200, headers: Vec::new(), body: br#"{"output":"hi!","tokens":{"in":3,"out":5}}"#.to_vec() };
//! let answer = Echo::parse_response(resp).unwrap();
//! assert_eq!((answer.text.as_str(), answer.usage.unwrap().output_tokens), ("hi!", 5));
//! assert_eq!(Echo::build_embedding_request(Default::default(), Default::default()).unwrap_err().kind, ErrorKind::InvalidRequest);
//! # }
//! ```
//!
//! Make the crate a `cdylib` and build it with `llmnode plugin build`, or
//! `cargo build --target wasm32-wasip2 --profile plugin`: the output is the
//! component the host loads. `sdk/GUIDE.md` walks through the whole path, from
//! `llmnode plugin new` to an installed plugin.

pub mod cache;
pub mod errors;
pub mod http;
pub mod image;
pub mod json;
pub mod log;
pub mod models;
pub mod names;
pub mod openai_compat;
mod provider;
pub mod reasoning;

/// Generated bindings for the `llmnode:provider@0.4.0` contract.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.4",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_provider_world",
        default_bindings_module: "llmnode_sdk::bindings",
    });
}

/// Generated bindings for the optional `llmnode:provider-details@0.1.0`
/// declarations (default limits, long-lived cache prices).
#[doc(hidden)]
pub mod details_bindings {
    wit_bindgen::generate!({
        path: "../wit/details/v0.1",
        world: "details-only",
        pub_export_macro: true,
        export_macro_name: "__export_details_world",
        default_bindings_module: "llmnode_sdk::details_bindings",
    });
}

pub use bindings::llmnode::provider::types::*;
pub use details_bindings::exports::llmnode::provider_details::details::{DefaultLimits, ModelPrices, PluginDetails};
pub use provider::Provider;

/// The contract version this SDK builds plugins for; put it in [`PluginInfo::contract_version`].
pub const CONTRACT_VERSION: &str = "0.4.0";

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::cache::CachePlan;
    pub use crate::errors::{self, ErrorBody};
    pub use crate::{
        AuthDirective, AuthScheme, CacheWritePrice, Capabilities, ChatRequest, ChatResponse, ConnectionSettings,
        ContentPart, DefaultLimits, EmbeddingRequest, EmbeddingResponse, ErrorKind, FinishReason, Grounding,
        GroundingMetadata, GroundingSource, GroundingSupport, Header, HttpRequest, HttpResponse, ImagePart,
        JsonSchemaFormat, Message, Method, Modalities, ModelInfo, ModelPrices, PluginDetails, PluginInfo,
        PreparedRequest, ProviderError, Reasoning, ReasoningEffort, ResponseFormat, Role, StreamDelta, StreamEvent,
        ToolCall, ToolCallDelta, ToolChoice, ToolDefinition, Usage,
    };
    pub use crate::{
        CONTRACT_VERSION, Provider, export_plugin, http, image, json, log, models, names, openai_compat, reasoning,
    };
}

/// Export a type implementing [`Provider`] as the plugin's implementation:
/// the contract's `provider` interface, and the optional `details`
/// declarations ([`Provider::details`]).
///
/// The exports exist only in the WebAssembly build: their symbol names (such
/// as `llmnode:provider/provider@0.4.0#info`) cannot be linked into a native
/// library, and a native build is only for `cargo test`.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::bindings::__export_provider_world!($ty with_types_in $crate::bindings);
        #[cfg(target_family = "wasm")]
        $crate::details_bindings::__export_details_world!($ty with_types_in $crate::details_bindings);
    };
}

impl ProviderError {
    /// An error of `kind` with a message and nothing else.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError { kind, message: message.into(), code: None, retry_after_ms: None }
    }

    /// The request cannot be expressed for this provider (a caller mistake).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// The provider sent something this plugin cannot understand: the
    /// upstream is broken (a proxy's HTML page, a cut body), so it is classed
    /// as a server error and the node may fail over.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServerError, message)
    }
}

impl StreamDelta {
    /// A delta that carries nothing (e.g. a keep-alive event).
    pub fn empty() -> Self {
        StreamDelta {
            text: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
            usage: None,
            finish_reason: None,
            id: None,
            model: None,
            done: false,
            grounding: None,
        }
    }
}

impl Message {
    /// The message's text parts joined together (images are skipped).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let ContentPart::Text(t) = part {
                out.push_str(t);
            }
        }
        out
    }

    /// True when every part is text, so the message can be sent as a plain string.
    pub fn is_text_only(&self) -> bool {
        self.content.iter().all(|p| matches!(p, ContentPart::Text(_)))
    }
}

impl Message {
    /// A message of `role` holding one text part.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentPart::Text(text.into())],
            name: None,
            tool_call_id: None,
            tool_calls: Vec::new(),
            cache_breakpoint: false,
        }
    }

    /// A user message of plain text (handy in tests).
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, text)
    }
}

// Defaults, so tests and plugins name only the fields they care about. The
// types are generated from the WIT, so they cannot carry `#[derive(Default)]`.

#[allow(clippy::derivable_impls)]
impl Default for ChatRequest {
    fn default() -> Self {
        ChatRequest {
            model: String::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            tool_choice: None,
            response_format: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            stop: Vec::new(),
            stream: false,
            cache: None,
            reasoning: None,
            grounding: None,
        }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings { base_url: String::new(), organization: None, headers: Vec::new(), options: Vec::new() }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for PluginDetails {
    fn default() -> Self {
        PluginDetails {
            default_limits: DefaultLimits { requests_per_minute: None, tokens_per_minute: None },
            models: Vec::new(),
        }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for EmbeddingRequest {
    fn default() -> Self {
        EmbeddingRequest { model: String::new(), inputs: Vec::new(), dimensions: None }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Usage {
    fn default() -> Self {
        Usage { input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 }
    }
}

impl ImagePart {
    /// The media type and base64 data of an inline (`data:…;base64,`) image,
    /// or `None` for an image given by address.
    pub fn inline(&self) -> Option<(&str, &str)> {
        self.url.strip_prefix("data:")?.split_once(";base64,")
    }
}

impl ConnectionSettings {
    /// A provider-specific option by name (e.g. `api-version`).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }
}
