//! The SDK for llmnode provider plugins.
//!
//! A plugin is a pure translator between llmnode's provider-neutral chat request and
//! one provider's HTTP API. It never does I/O and never sees a secret: it returns a
//! request template and an [`AuthDirective`], and the host signs and sends it.
//!
//! Implement [`Provider`] on a unit struct and export it with [`export_plugin!`]:
//!
//! ```ignore
//! use llmnode_sdk::prelude::*;
//!
//! struct Echo;
//!
//! impl Provider for Echo {
//!     fn info() -> PluginInfo { /* name, models, prices … */ }
//!     fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
//!         let body = json::body(&serde_json::json!({ "model": req.model }));
//!         Ok(PreparedRequest {
//!             request: http::post(http::join(&conn.base_url, "/chat"), body),
//!             auth: AuthDirective::Bearer,
//!         })
//!     }
//!     // parse_response, parse_stream_event, classify_error, test_request …
//! }
//!
//! llmnode_sdk::export_plugin!(Echo);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `cdylib` is the
//! component the host loads.

pub mod cache;
pub mod errors;
pub mod http;
pub mod json;
pub mod log;
pub mod models;
pub mod names;
pub mod openai_compat;

/// Generated bindings for the `llmnode:provider@0.1.0` contract.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.1",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_provider_world",
        default_bindings_module: "llmnode_sdk::bindings",
    });
}

pub use bindings::exports::llmnode::provider::provider::Guest as Provider;
pub use bindings::llmnode::provider::types::*;

/// The contract version this SDK builds plugins for; put it in [`PluginInfo::contract_version`].
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::cache::CachePlan;
    pub use crate::errors::{self, ErrorBody};
    pub use crate::{
        AuthDirective, AuthScheme, Capabilities, ChatRequest, ChatResponse, ConnectionSettings, ContentPart, ErrorKind,
        FinishReason, Header, HttpRequest, HttpResponse, ImagePart, JsonSchemaFormat, Message, Method, ModelInfo,
        PluginInfo, PreparedRequest, ProviderError, ResponseFormat, Role, StreamDelta, StreamEvent, ToolCall,
        ToolCallDelta, ToolChoice, ToolDefinition, Usage,
    };
    pub use crate::{CONTRACT_VERSION, Provider, export_plugin, http, json, log, names, openai_compat};
}

/// Export a type implementing [`Provider`] as the plugin's implementation.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ident) => {
        $crate::bindings::__export_provider_world!($ty with_types_in $crate::bindings);
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
