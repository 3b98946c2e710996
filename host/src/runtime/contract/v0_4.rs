//! `llmnode:provider@0.4.0`, the newest contract. Its bindings are the host's
//! own types ([`crate::runtime::bindings`]), so calls go straight through.

use super::super::sandbox::Sandbox;

wasmtime::component::bindgen!({
    path: "../wit/v0.4",
    world: "plugin",
});

pub use self::llmnode::provider::host::LogLevel;
pub use self::llmnode::provider::types;

/// The interface a 0.4.0 plugin exports.
pub const EXPORT: &str = "llmnode:provider/provider@0.4.0";

impl self::llmnode::provider::types::Host for Sandbox {}

impl self::llmnode::provider::host::Host for Sandbox {
    fn log(&mut self, level: LogLevel, message: String) {
        self.log_line(level, &message);
    }
}
