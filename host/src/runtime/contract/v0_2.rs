//! `llmnode:provider@0.2.0`, adapted to the host's (newest) types: 0.1.0
//! plus embeddings. Its types have the same shape in the newest version
//! except `capabilities` (0.3.0 added `reasoning`) and `chat-request` (0.3.0
//! added `reasoning`, which a 0.2.0 plugin never sees).

use self::llmnode::provider::types as old;
use super::super::sandbox::Sandbox;
use super::convert::{
    Convert, capabilities, chat_functions, chat_request_before_0_3, record, unchanged_since_0_1, variant,
};
use super::latest::types as new;
use wasmtime::Store;

wasmtime::component::bindgen!({
    path: "../wit/v0.2",
    world: "plugin",
});

/// The interface a 0.2.0 plugin exports.
pub const EXPORT: &str = "llmnode:provider/provider@0.2.0";

impl self::llmnode::provider::types::Host for Sandbox {}

impl self::llmnode::provider::host::Host for Sandbox {
    fn log(&mut self, level: self::llmnode::provider::host::LogLevel, message: String) {
        self.log_line(level.convert(), &message);
    }
}

unchanged_since_0_1!();
chat_request_before_0_3!();
capabilities!(STREAMING, TOOLS, JSON_MODE, JSON_SCHEMA, VISION, PROMPT_CACHING, EMBEDDINGS);
chat_functions!();
record!(EmbeddingRequest { model, inputs, dimensions });
record!(EmbeddingResponse { vectors, model, usage });

/// `build-embedding-request`.
pub(super) fn build_embedding_request(
    world: &Plugin,
    store: &mut Store<Sandbox>,
    request: &new::EmbeddingRequest,
    connection: &new::ConnectionSettings,
) -> Outcome<new::PreparedRequest> {
    let (request, connection): (old::EmbeddingRequest, old::ConnectionSettings) =
        (request.clone().convert(), connection.clone().convert());
    up(world.llmnode_provider_provider().call_build_embedding_request(store, &request, &connection))
}

/// `parse-embedding-response`.
pub(super) fn parse_embedding_response(
    world: &Plugin,
    store: &mut Store<Sandbox>,
    response: &new::HttpResponse,
) -> Outcome<new::EmbeddingResponse> {
    let response: old::HttpResponse = response.clone().convert();
    up(world.llmnode_provider_provider().call_parse_embedding_response(store, &response))
}
