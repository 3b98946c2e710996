//! Pieces of `llmnode demo` that are also useful to tests and benchmarks.

mod loopback;
mod upstream;

pub use loopback::LoopbackServer;

pub use upstream::SimulatedUpstream;
