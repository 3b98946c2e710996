//! Pieces of `llmnode demo` that are also useful to tests and benchmarks.

mod upstream;

pub use upstream::SimulatedUpstream;
