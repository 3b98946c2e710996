//! Host-side bindings of the `llmnode:provider@0.1.0` contract.
//!
//! The generated types are used throughout the host as they are, so a request is
//! built once and handed to the plugin without conversion.

wasmtime::component::bindgen!({
    path: "../wit/v0.1",
    world: "plugin",
});

pub use self::exports::llmnode::provider::provider as exports_v0_1;
pub use self::llmnode::provider::host::LogLevel;
pub use self::llmnode::provider::types;

/// The fully qualified name of the interface a v0.1 plugin exports.
pub const PROVIDER_EXPORT: &str = "llmnode:provider/provider@0.1.0";

/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = "0.1.0";
