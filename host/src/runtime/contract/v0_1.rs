//! `llmnode:provider@0.1.0`, the first released contract, adapted to the
//! host's (newest) types. Every type of 0.1.0 has the same shape in the
//! newest version except `capabilities` (later versions added flags) and
//! `chat-request` (0.3.0 added `reasoning`); 0.1.0 has no embedding
//! functions at all.

use self::llmnode::provider::types as old;
use super::super::sandbox::Sandbox;
use super::convert::{
    Convert, capabilities, chat_functions, chat_request_before_0_3, record, unchanged_since_0_1, variant,
};
use super::latest::types as new;
use wasmtime::Store;

wasmtime::component::bindgen!({
    path: "../wit/v0.1",
    world: "plugin",
});

/// The interface a 0.1.0 plugin exports.
pub const EXPORT: &str = "llmnode:provider/provider@0.1.0";

impl self::llmnode::provider::types::Host for Sandbox {}

impl self::llmnode::provider::host::Host for Sandbox {
    fn log(&mut self, level: self::llmnode::provider::host::LogLevel, message: String) {
        self.log_line(level.convert(), &message);
    }
}

unchanged_since_0_1!();
chat_request_before_0_3!();
capabilities!(STREAMING, TOOLS, JSON_MODE, JSON_SCHEMA, VISION, PROMPT_CACHING);
chat_functions!();
