//! End-to-end tests: the real binary and library, real plugins compiled to
//! WebAssembly, real HTTP on loopback against upstreams that replay recorded
//! provider traffic.

mod anthropic;
mod bedrock;
mod cli;
mod crash;
mod openai;
mod operator;
mod routing;
mod sandbox;
mod support;
mod usage;
