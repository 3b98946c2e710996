//! llmnode: runs the `llm` nodes of JSON workflows against many LLM providers.
//!
//! Each provider is a sandboxed WebAssembly plugin ([`runtime`]); the host keeps
//! what must be trusted: secrets ([`secret`]), egress and auth ([`transport`]),
//! the workflow engine ([`engine`]), usage records ([`usage`]) and who caused them
//! ([`principal`]), [`alerts`] and
//! the operator's state ([`store`], [`vault`], [`admin`]) and the daemon
//! ([`server`], [`metrics`]). Every name follows one rule ([`names`]); every
//! value shown to a person is [`escape`]d.

pub mod admin;
pub mod alerts;
pub mod connections;
pub mod demo;
pub mod engine;
pub mod error_class;
pub mod escape;
pub mod fuzzing;
pub mod kit;
pub mod limits;
pub mod metrics;
pub mod money;
pub mod monitor;
pub mod names;
pub mod principal;
pub mod runtime;
pub mod secret;
pub mod server;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod transport;
pub mod usage;
pub mod vault;
pub mod workflow;
