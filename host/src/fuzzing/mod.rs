//! Fuzz targets, one per surface that reads untrusted bytes: the workflow
//! parser and validator, the SSE framer, the AWS event-stream decoder and the
//! template engine. Each takes arbitrary bytes, must never panic, and checks
//! the properties its surface promises. The `fuzz/` crate drives them with
//! cargo-fuzz; `cargo test` runs them over the fixtures and a few thousand
//! deterministic mutations of each.

mod framing;
mod template;
mod workflow;

#[cfg(test)]
mod smoke;

pub use framing::{eventstream, sse};
pub use template::template;
pub use workflow::workflow;
