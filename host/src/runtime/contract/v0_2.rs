//! `llmnode:provider@0.2.0`, adapted to the host's (newest) types: 0.1.0
//! plus embeddings. Its types have the same shape in the newest version
//! except `capabilities` (later versions added flags), `chat-request` (0.3.0
//! and 0.4.0 added `reasoning` and `grounding`, which a 0.2.0 plugin never
//! sees) and the types 0.4.0 extended (answers, model info).

use self::llmnode::provider::types as old;
use super::super::sandbox::Sandbox;
use super::convert::{
    Convert, answers_before_0_4, capabilities, chat_functions, chat_request_with, embedding_functions, record,
    record_up, unchanged_since_0_1, variant,
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
answers_before_0_4!();
chat_request_with!();
capabilities!(STREAMING, TOOLS, JSON_MODE, JSON_SCHEMA, VISION, PROMPT_CACHING, EMBEDDINGS);
chat_functions!();
embedding_functions!();
