//! llmnode: runs the `llm` nodes of JSON workflows against many LLM providers.
//!
//! Each provider is a sandboxed WebAssembly plugin ([`runtime`]); the host keeps
//! what must be trusted: secrets ([`secret`]), egress and auth ([`transport`]),
//! the workflow engine ([`engine`]) and usage records ([`usage`]).

pub mod error_class;
pub mod runtime;
