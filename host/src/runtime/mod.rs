//! The plugin runtime: wasmtime with a sandbox that grants nothing, CPU and memory
//! bounds on every call, pre-linked instances and a verified artifact cache.

mod artifact_cache;
pub mod bindings;
pub mod bundled;
mod config;
pub mod contract;
pub mod details;
mod epoch;
mod error;
pub mod flag_names;
mod no_wait;
mod plugin;
mod registry;
mod sandbox;

pub use artifact_cache::{ArtifactCache, CacheError};
pub use config::RuntimeConfig;
pub use contract::ContractVersion;
pub use details::PluginDetails;
pub use error::PluginError;
pub use plugin::{LoadedPlugin, PluginCall};
pub use registry::PluginRegistry;
pub use sandbox::Sandbox;

use contract::ProviderPre;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, Linker};

/// Compiles, links and instantiates plugins. One per process; cheap to share.
pub struct PluginRuntime {
    engine: wasmtime::Engine,
    linker: Linker<Sandbox>,
    config: Arc<RuntimeConfig>,
    cache: Option<ArtifactCache>,
    _ticker: epoch::EpochTicker,
}

impl PluginRuntime {
    /// A runtime with `config`; precompiled artifacts go to `cache_dir` if given.
    pub fn new(config: RuntimeConfig, cache_dir: Option<&Path>) -> Result<Self, PluginError> {
        let engine =
            wasmtime::Engine::new(&config.engine_config()).map_err(|e| PluginError::Engine(plugin::root_cause(&e)))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| PluginError::Engine(plugin::root_cause(&e)))?;
        no_wait::install(&mut linker).map_err(|e| PluginError::Engine(plugin::root_cause(&e)))?;
        contract::add_to_linker(&mut linker).map_err(|e| PluginError::Engine(plugin::root_cause(&e)))?;
        let cache = match cache_dir.map(|dir| ArtifactCache::open(dir, &engine)).transpose() {
            Ok(cache) => cache,
            Err(e) => {
                tracing::warn!(error = %e, "plugin artifact cache unavailable; plugins will be compiled on every start");
                None
            }
        };
        let ticker = epoch::EpochTicker::start(&engine, config.epoch_tick)
            .map_err(|e| PluginError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(PluginRuntime { engine, linker, config: Arc::new(config), cache, _ticker: ticker })
    }

    /// The bounds every call runs under.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Load a plugin from a `.wasm` file.
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read { path: path.to_path_buf(), source })?;
        self.load(&bytes, path.display().to_string())
    }

    /// Load a plugin from its wasm bytes; `origin` names it in errors until its
    /// own name is known.
    pub fn load(&self, wasm: &[u8], origin: String) -> Result<LoadedPlugin, PluginError> {
        let started = Instant::now();
        let sha256 = hex::encode(Sha256::digest(wasm));
        let component = self.component(wasm, &sha256, &origin)?;
        let exports = exports_of(&self.engine, &component);
        let version = ContractVersion::detect(&exports)
            .map_err(|detail| PluginError::Contract { plugin: origin.clone(), detail })?;
        let has_details = exports.iter().any(|e| e == details::EXPORT);
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Link { plugin: origin.clone(), detail: plugin::root_cause(&e) })?;
        let pre = ProviderPre::new(version, instance_pre)
            .map_err(|e| PluginError::Contract { plugin: origin.clone(), detail: plugin::root_cause(&e) })?;
        let parts = plugin::Parts { origin, sha256, contract: version, pre, has_details };
        let loaded = LoadedPlugin::describe(parts, self.engine.clone(), self.config.clone())?;
        tracing::debug!(
            plugin = loaded.name(),
            origin = loaded.origin(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "plugin loaded"
        );
        Ok(loaded)
    }

    /// The compiled component, from the verified cache when possible.
    fn component(&self, wasm: &[u8], sha256: &str, origin: &str) -> Result<Component, PluginError> {
        let compile_error =
            |e: wasmtime::Error| PluginError::Compile { plugin: origin.to_string(), detail: plugin::root_cause(&e) };
        let Some(cache) = &self.cache else {
            return Component::new(&self.engine, wasm).map_err(compile_error);
        };
        match cache.get(sha256) {
            Ok(Some(artifact)) => {
                // SAFETY: the artifact carries a valid HMAC under this cache's
                // private key, so it is bytes this host's engine produced for
                // exactly this plugin and engine configuration.
                match unsafe { Component::deserialize(&self.engine, &artifact) } {
                    Ok(component) => return Ok(component),
                    Err(e) => {
                        tracing::warn!(plugin = origin, error = %plugin::root_cause(&e), "cached artifact rejected; recompiling")
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(plugin = origin, error = %e, "recompiling plugin"),
        }
        let artifact = self.engine.precompile_component(wasm).map_err(compile_error)?;
        if let Err(e) = cache.put(sha256, &artifact) {
            tracing::warn!(plugin = origin, error = %e, "could not cache the compiled plugin");
        }
        // SAFETY: produced by this engine a moment ago.
        unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(compile_error)
    }
}

/// The names a component exports: which contract version it implements, and
/// whether it makes the optional declarations of [`details`].
fn exports_of(engine: &wasmtime::Engine, component: &Component) -> Vec<String> {
    component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect()
}
