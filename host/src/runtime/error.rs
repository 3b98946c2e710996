//! What can go wrong while loading or calling a plugin. Every variant names the
//! plugin, so an operator knows which file to blame.

use std::path::PathBuf;

/// A plugin failed to load, or one call into it failed. A failed call never
/// affects the host or any other call.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component this engine can compile.
    #[error("plugin {plugin} is not a valid WebAssembly component: {detail}")]
    Compile { plugin: String, detail: String },
    /// The component does not export the provider contract this host speaks.
    #[error("plugin {plugin} {detail}")]
    Contract { plugin: String, detail: String },
    /// The component needs an import the sandbox does not provide.
    #[error("plugin {plugin} cannot be linked: {detail} (plugins may import only wasi:* and llmnode:provider/host)")]
    Link { plugin: String, detail: String },
    /// The plugin's `info` is unusable.
    #[error("plugin {plugin} describes itself wrongly: {detail}")]
    BadInfo { plugin: String, detail: String },
    /// A call ran past its CPU deadline and was stopped.
    #[error("plugin {plugin} exceeded its CPU time limit ({limit_ms} ms) in {function} and was stopped")]
    CpuLimit { plugin: String, function: &'static str, limit_ms: u64 },
    /// A call tried to grow memory past the sandbox's bound.
    #[error("plugin {plugin} exceeded its memory limit ({limit_mib} MiB) in {function} and was stopped")]
    MemoryLimit { plugin: String, function: &'static str, limit_mib: usize },
    /// A call trapped (a panic in the plugin, an out-of-bounds access, …).
    #[error("plugin {plugin} crashed in {function}: {detail}")]
    Trap { plugin: String, function: &'static str, detail: String },
    /// The plugin's contract version predates the function the host called.
    #[error("plugin {plugin} has no {function}: it was built against contract {contract}, which lacks it")]
    Unsupported { plugin: String, function: &'static str, contract: super::ContractVersion },
    /// A new instance could not be created (e.g. the instance pool is exhausted).
    #[error("plugin {plugin} could not be instantiated: {detail}")]
    Instantiate { plugin: String, detail: String },
    /// An installed plugin's file is not the one the operator approved.
    #[error(
        "plugin file {path} changed since it was installed (sha256 {found}, {recorded} was recorded); reinstall it with `llmnode plugins install`"
    )]
    Tampered { path: PathBuf, found: String, recorded: String },
    /// A plugin file could not be read.
    #[error("cannot read plugin file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The plugin runtime itself could not start.
    #[error("the plugin runtime could not start: {0}")]
    Engine(String),
}
