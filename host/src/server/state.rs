//! What every request shares: the store's location and the master key's
//! source, the plugins, one engine per workspace (built on first use, dropped
//! when its configuration changes), the usage log and the metrics.

use super::caller::Caller;
use super::capacity::{Capacity, Slots};
use super::error::ApiError;
use crate::admin::Admin;
use crate::alerts::deliver::DeliveryPolicy;
use crate::alerts::{AlertWatch, Deliveries};
use crate::engine::Engine;
use crate::limits::{LimitsService, OpenError, RedisUrl};
use crate::metrics::Metrics;
use crate::monitor::volume::Volume;
use crate::runtime::{PluginRegistry, PluginRuntime};
use crate::secret::Secret;
use crate::store::plugin_rows::PluginRow;
use crate::store::{Location, Store, plugin_rows};
use crate::usage::UsageLog;
use crate::vault::Vault;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long shutdown waits for alert deliveries still retrying.
const DELIVERY_GRACE: Duration = Duration::from_secs(10);

/// Where the daemon's state lives.
pub struct ServerConfig {
    /// The data directory `llmnode init` created (the master key file, the plugin cache).
    pub data_dir: PathBuf,
    /// The store: the data directory's SQLite file, or a PostgreSQL server.
    pub location: Location,
    /// Extra plugins (`*.wasm`), besides the bundled and installed ones.
    pub plugins_dir: Option<PathBuf>,
    /// The master key from the environment, if it is given there rather than in a key file.
    pub master_key_env: Option<Secret>,
    /// The master key the fleet is rolling to, during a rotation (`LLMNODE_MASTER_KEY_NEXT`).
    pub next_master_key_env: Option<Secret>,
    /// The operator's token for every series of `/metrics` (only its digest
    /// is kept once the daemon is open).
    pub metrics_token: Option<Secret>,
    /// Caps and timeouts for client connections.
    pub capacity: Capacity,
    /// Where RPM/TPM windows, budgets and breakers are shared: Redis
    /// (`--limits redis://…`, a fleet of daemons), or else the store.
    pub limits: Option<RedisUrl>,
}

/// One workspace's engine and what chat requests resolve model names against.
pub struct WorkspaceEngine {
    pub engine: Engine,
    pub chat: super::chat_routes::ChatTable,
}

/// The daemon's shared state.
pub struct AppState {
    config: ServerConfig,
    runtime: PluginRuntime,
    plugins: RwLock<Arc<PluginRegistry>>,
    engines: Mutex<HashMap<i64, Arc<WorkspaceEngine>>>,
    /// Verified tokens by their SHA-256; cleared whenever the audit log moves
    /// (a revocation is audited), so a revoked token stops within a second.
    callers: Mutex<HashMap<[u8; 32], Caller>>,
    usage: Mutex<Option<UsageLog>>,
    deliveries: Mutex<Option<Deliveries>>,
    ready: AtomicBool,
    /// RPM/TPM windows, budgets and breakers, shared through the store with
    /// every other process on it (or through Redis with every daemon of the
    /// fleet); engines come and go, these stay.
    limits: Arc<dyn LimitsService>,
    /// The prompt monitor's volume baselines: outliving engines, shared with
    /// every daemon on the store (see [`super::volume_sync`]).
    volume: Arc<Volume>,
    /// The SHA-256 of the operator's metrics token (the token itself is not kept).
    metrics_token: Option<[u8; 32]>,
    slots: Slots,
    pub metrics: Metrics,
}

impl AppState {
    /// Open the store (which `llmnode init` created), check the master key,
    /// load every plugin and start the usage writer.
    pub fn open(mut config: ServerConfig, runtime: PluginRuntime) -> Result<Arc<Self>, ApiError> {
        let location = config.location.clone();
        if !location.exists() {
            return Err(ApiError::Unavailable(format!("no store at {location}: run `llmnode init` first")));
        }
        let admin = Admin::new(Store::open(&location)?, load_vault(&config)?, "daemon");
        admin.check_master_key()?;
        let plugins = load_plugins(&runtime, &config, &plugin_rows::list(admin.store.db())?)?;
        let (watch, deliveries) = AlertWatch::start(&location, DeliveryPolicy::default())?;
        let spool = crate::usage::spool::Spool::in_dir(&config.data_dir);
        let usage = UsageLog::open(&location, Some(Box::new(watch)), Some(spool))?;
        let limits = crate::limits::open_shared(&location, config.limits.as_ref()).map_err(|e| match e {
            OpenError::Store(e) => ApiError::from(e),
            OpenError::Redis(e) => ApiError::Unavailable(format!("the shared limits could not start: {e}")),
        })?;
        let metrics_token = config.metrics_token.take().map(|t| Sha256::digest(t.expose().as_bytes()).into());
        let slots = Slots::new(&config.capacity);
        crate::monitor::rules::warm_up();
        Ok(Arc::new(AppState {
            config,
            runtime,
            plugins: RwLock::new(Arc::new(plugins)),
            engines: Mutex::default(),
            callers: Mutex::default(),
            usage: Mutex::new(Some(usage)),
            deliveries: Mutex::new(Some(deliveries)),
            ready: AtomicBool::new(true),
            limits,
            volume: Arc::default(),
            metrics_token,
            slots,
            metrics: Metrics::default(),
        }))
    }

    /// A fresh connection to the store (SQLite in WAL mode: readers and one
    /// writer at once; the hot path never needs one).
    pub fn store(&self) -> Result<Store, ApiError> {
        Ok(Store::open(&self.config.location)?)
    }

    /// The prompt monitor's volume baselines.
    pub fn volume(&self) -> &Volume {
        &self.volume
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.config.location
    }

    /// Calls the limits' in-process fallback admitted while Redis was unreachable.
    pub fn limits_fallback_admissions(&self) -> u64 {
        self.limits.fallback_admissions()
    }

    /// The store and vault, acting as `actor` (recorded in the audit log).
    pub fn admin(&self, actor: String) -> Result<Admin, ApiError> {
        Ok(Admin::new(self.store()?, load_vault(&self.config)?, actor))
    }

    /// The plugins loaded now.
    pub fn plugins(&self) -> Arc<PluginRegistry> {
        self.plugins.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reload bundled, directory and installed plugins (after an install or
    /// removal); the old set stays in use if the new one fails to load.
    pub fn reload_plugins(&self) {
        let loaded = self
            .store()
            .and_then(|s| Ok(plugin_rows::list(s.db())?))
            .and_then(|rows| load_plugins(&self.runtime, &self.config, &rows));
        match loaded {
            Ok(registry) => *self.plugins.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry),
            Err(e) => tracing::error!(error = %e, "plugins could not be reloaded; keeping the loaded set"),
        }
    }

    /// The engine of the caller's workspace, built on first use.
    pub fn engine(&self, caller: &Caller) -> Result<Arc<WorkspaceEngine>, ApiError> {
        let mut engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(engine) = engines.get(&caller.workspace_id) {
            return Ok(engine.clone());
        }
        let built = Arc::new(self.build_engine(&caller.workspace)?);
        engines.insert(caller.workspace_id, built.clone());
        Ok(built)
    }

    fn build_engine(&self, workspace: &str) -> Result<WorkspaceEngine, ApiError> {
        let admin = self.admin("daemon".into())?;
        let connections = admin.connection_set(workspace)?;
        let mut context = admin.run_context(workspace)?;
        let chat = super::chat_routes::ChatTable::load(&admin, workspace, &connections)?;
        let usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let log = usage.as_ref().ok_or_else(|| ApiError::Unavailable("the daemon is shutting down".into()))?;
        context.monitor.volume = self.volume.clone();
        let options = context.engine_options(log, self.limits.clone());
        let engine = Engine::with_options(&connections, &self.plugins(), options)
            .map_err(|e| ApiError::Internal(format!("the engine could not start: {e}")))?;
        Ok(WorkspaceEngine { engine, chat })
    }

    /// Forget the engines `rebuild` names (rebuilt on next use; their limits
    /// live on in the limits service) and every verified token.
    pub fn invalidate(&self, rebuild: &super::watch::Rebuild) {
        let mut engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        if rebuild.all {
            engines.clear();
        } else {
            engines.retain(|id, _| !rebuild.workspaces.contains(id));
        }
        drop(engines);
        self.callers.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Forget one workspace's engine: this process just changed its configuration.
    pub fn invalidate_workspace(&self, workspace_id: i64) {
        let rebuild = super::watch::Rebuild { workspaces: [workspace_id].into(), ..Default::default() };
        self.invalidate(&rebuild);
    }

    /// A verified caller from the cache.
    pub fn cached_caller(&self, token_hash: &[u8; 32]) -> Option<Caller> {
        self.callers.lock().unwrap_or_else(|e| e.into_inner()).get(token_hash).cloned()
    }

    /// Remember a verified caller.
    pub fn cache_caller(&self, token_hash: [u8; 32], caller: Caller) {
        self.callers.lock().unwrap_or_else(|e| e.into_inner()).insert(token_hash, caller);
    }

    /// Whether the daemon takes new work (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Mark the daemon draining (or ready again).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether `token` is the operator's metrics token. Digests are
    /// compared, so timing tells nothing about the token's bytes.
    pub fn is_metrics_token(&self, token: &str) -> bool {
        self.metrics_token.is_some_and(|known| known == <[u8; 32]>::from(Sha256::digest(token.as_bytes())))
    }

    /// The caps and timeouts the daemon runs with.
    pub fn capacity(&self) -> &Capacity {
        &self.config.capacity
    }

    /// The permits behind the caps.
    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    /// Write every queued usage event, then wait (bounded) for alert webhooks.
    pub async fn close(&self) {
        self.engines.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let log = self.usage.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(log) = log {
            log.close().await;
        }
        let deliveries = self.deliveries.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(deliveries) = deliveries {
            deliveries.finish(DELIVERY_GRACE).await;
        }
    }
}

fn load_vault(config: &ServerConfig) -> Result<Vault, ApiError> {
    let vault = Vault::load(config.master_key_env.as_ref().map(|s| s.expose()), &config.data_dir)?;
    Ok(vault.with_next(config.next_master_key_env.as_ref().map(|s| s.expose()))?)
}

fn load_plugins(
    runtime: &PluginRuntime,
    config: &ServerConfig,
    rows: &[PluginRow],
) -> Result<PluginRegistry, ApiError> {
    PluginRegistry::load_with_installed(runtime, config.plugins_dir.as_deref(), rows)
        .map_err(|e| ApiError::Unavailable(format!("plugins could not be loaded: {e}")))
}
