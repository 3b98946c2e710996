//! One loaded plugin: its pre-linked component and its self-description, and the
//! calls into it. Each [`PluginCall`] owns a fresh store, so no state, memory or
//! fault carries from one llm call to the next.

use super::bindings::types;
use super::config::RuntimeConfig;
use super::contract::{ContractVersion, Provider, ProviderPre};
use super::details::{self, PluginDetails};
use super::error::PluginError;
use super::no_wait::WaitRefused;
use super::sandbox::{MemoryLimitHit, Sandbox};
use crate::names::{self, NameKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTableError;
use wasmtime::{Store, Trap};

/// A plugin ready to be called: compiled, linked and described.
pub struct LoadedPlugin {
    name: Arc<str>,
    origin: String,
    sha256: String,
    contract: ContractVersion,
    info: types::PluginInfo,
    details: PluginDetails,
    pre: ProviderPre,
    engine: wasmtime::Engine,
    config: Arc<RuntimeConfig>,
    stats: CallStats,
}

/// Calls into a plugin and the time spent in them (instantiation included),
/// since it was loaded: two atomic adds per call, read by the daemon's metrics.
#[derive(Debug, Default)]
struct CallStats {
    calls: AtomicU64,
    busy_nanos: AtomicU64,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("sha256", &self.sha256)
            .field("contract", &self.contract)
            .finish()
    }
}

/// A linked plugin before it has described itself.
pub(crate) struct Parts {
    pub origin: String,
    pub sha256: String,
    pub contract: ContractVersion,
    pub pre: ProviderPre,
    /// It exports the optional [`details`] interface.
    pub has_details: bool,
}

impl LoadedPlugin {
    /// Finish loading: call `info` (and `describe`, if exported) once in a
    /// sandbox and check what they say.
    pub(crate) fn describe(
        parts: Parts,
        engine: wasmtime::Engine,
        config: Arc<RuntimeConfig>,
    ) -> Result<Self, PluginError> {
        let Parts { origin, sha256, contract, pre, has_details } = parts;
        let mut plugin = LoadedPlugin {
            name: Arc::from(origin.as_str()),
            origin,
            sha256,
            contract,
            info: empty_info(),
            details: PluginDetails::default(),
            pre,
            engine,
            config,
            stats: CallStats::default(),
        };
        let info = plugin.call()?.info()?;
        check_info(&plugin.origin, contract, &info)?;
        plugin.name = Arc::from(info.name.as_str());
        plugin.info = info;
        if has_details {
            plugin.details = plugin.read_details()?;
        }
        Ok(plugin)
    }

    /// Call the plugin's `describe`, under the same bounds as every call.
    fn read_details(&self) -> Result<PluginDetails, PluginError> {
        let mut store = self.store();
        let result = details::describe(self.pre.instance_pre(), &mut store);
        let described = result.map_err(|e| classify_fault(self, "describe", &e))?;
        described.map_err(|detail| PluginError::BadInfo { plugin: self.origin.clone(), detail })
    }

    /// A fresh store under the sandbox's CPU and memory bounds.
    fn store(&self) -> Store<Sandbox> {
        let mut store = Store::new(&self.engine, Sandbox::new(self.name.clone(), &self.config));
        store.limiter(|s| s);
        store.set_epoch_deadline(self.config.deadline_ticks());
        store
    }

    /// The provider name connections refer to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the plugin came from (a file path or `bundled:NAME`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Hex sha256 of the plugin's wasm bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The contract version the plugin was built against (detected from its exports).
    pub fn contract(&self) -> ContractVersion {
        self.contract
    }

    /// What the plugin said about itself at load time.
    pub fn info(&self) -> &types::PluginInfo {
        &self.info
    }

    /// What the plugin declared beside its info (default limits, long-lived
    /// cache prices); empty for a plugin that declares nothing.
    pub fn details(&self) -> &PluginDetails {
        &self.details
    }

    /// The model entry for `model`, if the plugin lists it.
    pub fn model(&self, model: &str) -> Option<&types::ModelInfo> {
        self.info.models.iter().find(|m| m.id == model)
    }

    /// A fresh, isolated instance for one llm call (a whole stream included).
    pub fn call(&self) -> Result<PluginCall<'_>, PluginError> {
        let started = Instant::now();
        let mut store = self.store();
        let provider = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PluginError::Instantiate { plugin: self.label(), detail: root_cause(&e) })?;
        Ok(PluginCall { plugin: self, store, provider, started })
    }

    /// Calls made into this plugin since it was loaded, and the time spent in them.
    pub fn call_stats(&self) -> (u64, Duration) {
        let calls = self.stats.calls.load(Ordering::Relaxed);
        (calls, Duration::from_nanos(self.stats.busy_nanos.load(Ordering::Relaxed)))
    }

    fn label(&self) -> String {
        if *self.name == *self.origin {
            format!("`{}`", self.name)
        } else {
            format!("`{}` ({})", self.name, self.origin)
        }
    }
}

/// One sandboxed instance of a plugin. Every method resets the CPU deadline, so
/// the bound applies per call into the plugin.
pub struct PluginCall<'p> {
    plugin: &'p LoadedPlugin,
    store: Store<Sandbox>,
    provider: Provider,
    started: Instant,
}

impl Drop for PluginCall<'_> {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.plugin.stats.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl PluginCall<'_> {
    fn guest(&mut self) -> (&Provider, &mut Store<Sandbox>) {
        self.store.set_epoch_deadline(self.plugin.config.deadline_ticks());
        (&self.provider, &mut self.store)
    }

    fn finish<T>(&self, function: &'static str, result: wasmtime::Result<T>) -> Result<T, PluginError> {
        let dropped = self.store.data().log_lines_dropped();
        if dropped > 0 {
            tracing::warn!(plugin = %self.plugin.name, function, dropped, "plugin exceeded its log budget; lines dropped");
        }
        result.map_err(|e| classify_fault(self.plugin, function, &e))
    }

    /// `info`.
    pub fn info(&mut self) -> Result<types::PluginInfo, PluginError> {
        let (g, s) = self.guest();
        let r = g.info(s);
        self.finish("info", r)
    }

    /// `build-request`.
    pub fn build_request(
        &mut self,
        request: &types::ChatRequest,
        connection: &types::ConnectionSettings,
    ) -> Result<Result<types::PreparedRequest, types::ProviderError>, PluginError> {
        let (g, s) = self.guest();
        let r = g.build_request(s, request, connection);
        self.finish("build-request", r)
    }

    /// `parse-response`.
    pub fn parse_response(
        &mut self,
        response: &types::HttpResponse,
    ) -> Result<Result<types::ChatResponse, types::ProviderError>, PluginError> {
        let (g, s) = self.guest();
        let r = g.parse_response(s, response);
        self.finish("parse-response", r)
    }

    /// `parse-stream-event`.
    pub fn parse_stream_event(
        &mut self,
        event: &types::StreamEvent,
    ) -> Result<Result<types::StreamDelta, types::ProviderError>, PluginError> {
        let (g, s) = self.guest();
        let r = g.parse_stream_event(s, event);
        self.finish("parse-stream-event", r)
    }

    /// `classify-error`.
    pub fn classify_error(
        &mut self,
        status: u16,
        headers: &[types::Header],
        body: &[u8],
    ) -> Result<types::ProviderError, PluginError> {
        let (g, s) = self.guest();
        let r = g.classify_error(s, status, headers, body);
        self.finish("classify-error", r)
    }

    /// `test-request`.
    pub fn test_request(
        &mut self,
        connection: &types::ConnectionSettings,
        model: &str,
    ) -> Result<Result<types::PreparedRequest, types::ProviderError>, PluginError> {
        let (g, s) = self.guest();
        let r = g.test_request(s, connection, model);
        self.finish("test-request", r)
    }
}

impl PluginCall<'_> {
    /// `build-embedding-request` (contract 0.2.0 and later).
    pub fn build_embedding_request(
        &mut self,
        request: &types::EmbeddingRequest,
        connection: &types::ConnectionSettings,
    ) -> Result<Result<types::PreparedRequest, types::ProviderError>, PluginError> {
        let (g, s) = self.guest();
        let r = g.build_embedding_request(s, request, connection);
        let r = r.ok_or_else(|| self.no_embeddings("build-embedding-request"))?;
        self.finish("build-embedding-request", r)
    }

    /// `parse-embedding-response` (contract 0.2.0 and later).
    pub fn parse_embedding_response(
        &mut self,
        response: &types::HttpResponse,
    ) -> Result<Result<types::EmbeddingResponse, types::ProviderError>, PluginError> {
        let (g, s) = self.guest();
        let r = g.parse_embedding_response(s, response);
        let r = r.ok_or_else(|| self.no_embeddings("parse-embedding-response"))?;
        self.finish("parse-embedding-response", r)
    }

    fn no_embeddings(&self, function: &'static str) -> PluginError {
        PluginError::Unsupported { plugin: self.plugin.label(), function, contract: self.plugin.contract }
    }
}

/// Turn a wasmtime error from a call into the precise fault.
fn classify_fault(plugin: &LoadedPlugin, function: &'static str, e: &wasmtime::Error) -> PluginError {
    let name = plugin.label();
    if let Some(hit) = e.downcast_ref::<MemoryLimitHit>() {
        return PluginError::MemoryLimit { plugin: name, function, limit_mib: hit.limit >> 20 };
    }
    if let Some(wait) = e.downcast_ref::<WaitRefused>() {
        return PluginError::Trap { plugin: name, function, detail: wait.to_string() };
    }
    if let Some(ResourceTableError::Full) = e.downcast_ref::<ResourceTableError>() {
        let limit = plugin.config.max_resource_handles;
        let detail = format!("it tried to hold more than {limit} resource handles, the sandbox's limit");
        return PluginError::Trap { plugin: name, function, detail };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            PluginError::CpuLimit { plugin: name, function, limit_ms: plugin.config.cpu_deadline.as_millis() as u64 }
        }
        Some(Trap::UnreachableCodeReached) => PluginError::Trap {
            plugin: name,
            function,
            detail: "the plugin panicked (wasm `unreachable` executed)".into(),
        },
        Some(trap) => PluginError::Trap { plugin: name, function, detail: trap.to_string() },
        None => PluginError::Trap { plugin: name, function, detail: root_cause(e) },
    }
}

/// The innermost message of a wasmtime error, without a host backtrace.
pub(crate) fn root_cause(e: &wasmtime::Error) -> String {
    e.root_cause().to_string()
}

fn check_info(origin: &str, contract: ContractVersion, info: &types::PluginInfo) -> Result<(), PluginError> {
    let bad = |detail: String| Err(PluginError::BadInfo { plugin: origin.to_string(), detail });
    for (kind, name) in [(NameKind::Plugin, &info.name), (NameKind::PluginVersion, &info.version)] {
        names::check(kind, name)
            .map_err(|e| PluginError::BadInfo { plugin: origin.to_string(), detail: e.to_string() })?;
    }
    if info.contract_version != contract.as_str() {
        return bad(format!(
            "it claims contract version {:?} but exports llmnode:provider@{contract}",
            info.contract_version
        ));
    }
    if info.models.len() > 10_000 {
        return bad(format!("it lists {} models (at most 10000)", info.models.len()));
    }
    for m in &info.models {
        let prices = [Some(m.input_price), Some(m.output_price), m.cached_input_price, m.cache_write_price];
        if prices.into_iter().flatten().any(|p| !p.is_finite() || p < 0.0) {
            return bad(format!("model {:?} has a negative or non-finite price", m.id));
        }
    }
    if url::Url::parse(&info.default_base_url).is_err() {
        return bad(format!("default base URL {:?} is not a URL", info.default_base_url));
    }
    Ok(())
}

fn empty_info() -> types::PluginInfo {
    types::PluginInfo {
        name: String::new(),
        version: String::new(),
        contract_version: String::new(),
        display_name: String::new(),
        auth: types::AuthScheme::None,
        default_base_url: String::new(),
        egress_hosts: Vec::new(),
        models: Vec::new(),
        capabilities: types::Capabilities::empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, version: &str) -> types::PluginInfo {
        let contract = ContractVersion::latest();
        types::PluginInfo {
            name: name.into(),
            version: version.into(),
            contract_version: contract.as_str().into(),
            default_base_url: "https://api.example.com/v1".into(),
            ..empty_info()
        }
    }

    #[test]
    fn a_plugin_names_itself_by_the_one_name_rule() {
        let check = |name: &str, version: &str| check_info("p.wasm", ContractVersion::latest(), &info(name, version));
        check("acme-ai", "1.0.0+build.2").unwrap();
        let long = "a".repeat(5000);
        for (name, version, says) in [
            ("", "1.0.0", "plugin name \"\" must not be empty"),
            (long.as_str(), "1.0.0", "must be at most 128 characters (it has 5000)"),
            ("acme\n", "1.0.0", "plugin name \"acme\\n\" must not contain control"),
            ("acme\u{1b}[2J", "1.0.0", "\"acme\\x1b[2J\""),
            ("a/b", "1.0.0", "must not contain `/`"),
            ("Acme", "1.0.0", "may contain only a-z"),
            ("acme", "", "plugin version \"\" must not be empty"),
            ("acme", "1.0/../../x", "plugin version \"1.0/../../x\" must not contain `/`"),
            ("acme", "1\r\n", "plugin version \"1\\r\\n\""),
        ] {
            let err = check(name, version).unwrap_err().to_string();
            assert!(err.starts_with("plugin p.wasm describes itself wrongly: ") && err.contains(says), "{err}");
            assert!(!err.contains(['\n', '\r', '\u{1b}']), "{err:?}");
        }
    }
}
