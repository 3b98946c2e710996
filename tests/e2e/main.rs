//! End-to-end tests: the real binary and library, real plugins compiled to
//! WebAssembly, real HTTP on loopback against upstreams that replay recorded
//! provider traffic.

mod alert_channels;
mod anthropic;
mod approvals;
mod azure_openai;
mod bedrock;
mod catalogue;
mod cli;
mod contracts;
mod crash;
mod daemon;
mod daemon_connections;
mod daemon_errors;
mod dashboard;
mod egress;
mod embeddings;
mod fleet;
mod gemini;
mod google_auth;
mod governance;
mod grounding;
mod hostile_plugins;
mod hostile_upstreams;
mod limits;
mod messages;
mod names;
mod openai;
mod operator;
mod operator_surface;
mod plugin_kit;
mod qwen;
mod reasoning;
mod redis_limits;
mod routing;
mod sandbox;
mod settings;
mod support;
mod telemetry;
mod usage;
mod vision;
