//! The trait a plugin implements. It mirrors the contract's `provider`
//! interface, but the functions added after 0.1.0 have defaults, so a plugin
//! implements only what its provider offers and keeps compiling when the
//! contract grows.

use crate::bindings::exports::llmnode::provider::provider::Guest;
use crate::details_bindings::exports::llmnode::provider_details::details::Guest as DetailsGuest;
use crate::{
    ChatRequest, ChatResponse, ConnectionSettings, EmbeddingRequest, EmbeddingResponse, ErrorKind, Header,
    HttpResponse, PluginDetails, PluginInfo, PreparedRequest, ProviderError, StreamDelta, StreamEvent,
};

/// A provider adapter: a pure translator between llmnode's provider-neutral
/// requests and one provider's HTTP API. Implement it on a unit struct and
/// export that with [`export_plugin!`](crate::export_plugin).
///
/// Every function is called in a fresh sandboxed instance and must not rely
/// on state kept between calls. None can do I/O or see a secret: requests
/// are returned as templates with an [`AuthDirective`](crate::AuthDirective),
/// and the host authenticates and sends them.
pub trait Provider {
    /// Describe the plugin: name, version, auth scheme, models with prices,
    /// capabilities. Called once when the host loads the plugin.
    fn info() -> PluginInfo;

    /// Translate a chat request into the provider's HTTP request.
    fn build_request(req: ChatRequest, conn: ConnectionSettings) -> Result<PreparedRequest, ProviderError>;

    /// Parse a successful (2xx) non-streamed response.
    fn parse_response(resp: HttpResponse) -> Result<ChatResponse, ProviderError>;

    /// Interpret one event of a streamed response (an error event inside a
    /// 2xx stream is an `Err`).
    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError>;

    /// Classify a failed (non-2xx) response, so the host knows whether to
    /// retry, fail over or give up.
    fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError;

    /// A cheap request proving the key, the network path and access to `model`.
    fn test_request(conn: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError>;

    /// Translate an embeddings request. The default says embeddings are not
    /// supported; a plugin that overrides it should also list
    /// [`Capabilities::EMBEDDINGS`](crate::Capabilities::EMBEDDINGS) in its info.
    fn build_embedding_request(
        req: EmbeddingRequest,
        conn: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        let _ = conn;
        Err(no_embeddings(&req.model))
    }

    /// Parse a successful (2xx) embeddings response. The default refuses, like
    /// [`Provider::build_embedding_request`].
    fn parse_embedding_response(resp: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        let _ = resp;
        Err(no_embeddings(""))
    }

    /// Facts about the provider that [`PluginInfo`] has no field for: the
    /// rate limits it documents (a connection whose operator set none gets
    /// them) and prices of long-lived cache writes. The default declares
    /// nothing.
    fn details() -> PluginDetails {
        PluginDetails::default()
    }
}

fn no_embeddings(model: &str) -> ProviderError {
    let what = if model.is_empty() { String::new() } else { format!(" (model {model:?})") };
    ProviderError::new(ErrorKind::InvalidRequest, format!("this plugin does not support embeddings{what}"))
}

impl<T: Provider> Guest for T {
    fn info() -> PluginInfo {
        T::info()
    }

    fn build_request(request: ChatRequest, connection: ConnectionSettings) -> Result<PreparedRequest, ProviderError> {
        T::build_request(request, connection)
    }

    fn parse_response(response: HttpResponse) -> Result<ChatResponse, ProviderError> {
        T::parse_response(response)
    }

    fn parse_stream_event(event: StreamEvent) -> Result<StreamDelta, ProviderError> {
        T::parse_stream_event(event)
    }

    fn classify_error(status: u16, headers: Vec<Header>, body: Vec<u8>) -> ProviderError {
        T::classify_error(status, headers, body)
    }

    fn test_request(connection: ConnectionSettings, model: String) -> Result<PreparedRequest, ProviderError> {
        T::test_request(connection, model)
    }

    fn build_embedding_request(
        request: EmbeddingRequest,
        connection: ConnectionSettings,
    ) -> Result<PreparedRequest, ProviderError> {
        T::build_embedding_request(request, connection)
    }

    fn parse_embedding_response(response: HttpResponse) -> Result<EmbeddingResponse, ProviderError> {
        T::parse_embedding_response(response)
    }
}

impl<T: Provider> DetailsGuest for T {
    fn describe() -> PluginDetails {
        T::details()
    }
}
