//! Connections resolved once per engine: each with its plugin, the settings the
//! plugin sees and the transport target, so the hot path only looks them up.

use crate::connections::{Connection, ConnectionSet};
use crate::limits::LimitKey;
use crate::runtime::bindings::types;
use crate::runtime::{LoadedPlugin, PluginRegistry};
use crate::transport::Target;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A connection ready to serve calls.
pub struct ResolvedConnection {
    pub connection: Connection,
    pub plugin: Arc<LoadedPlugin>,
    /// The public settings handed to the plugin.
    pub settings: types::ConnectionSettings,
    pub target: Target,
    /// Where this connection's limits and breaker are kept.
    pub key: LimitKey,
    /// How long cache entries are asked to live, unless a node says (the
    /// connection's `cache_ttl_secs`): which cache-write price applies.
    pub cache_ttl_secs: Option<u32>,
}

/// A connection's RPM or TPM: the operator's value (0: no limit), else the
/// one its plugin declares for the provider.
pub fn effective_limit(set: Option<u32>, plugin_default: Option<u32>) -> Option<u32> {
    match set {
        Some(0) => None,
        Some(n) => Some(n),
        None => plugin_default,
    }
}

/// A connection that cannot be used, with the reason (reported when a workflow
/// names it, so one bad connection does not stop the others).
#[derive(Debug, Clone)]
pub struct Unusable {
    pub provider: String,
    pub reason: String,
}

/// All connections of a run, resolved.
#[derive(Default)]
pub struct Routes {
    pub ready: BTreeMap<String, Arc<ResolvedConnection>>,
    pub unusable: BTreeMap<String, Unusable>,
}

impl Routes {
    /// Resolve every connection against the registry; limits are keyed under `scope`.
    pub fn resolve(connections: &ConnectionSet, plugins: &PluginRegistry, scope: i64) -> Self {
        let mut routes = Routes::default();
        for c in connections.iter() {
            let unusable = |reason: String| Unusable { provider: c.provider.clone(), reason };
            let Some(plugin) = plugins.get(&c.provider) else {
                let reason = format!("no plugin provides {:?} (installed: {})", c.provider, plugins.names().join(", "));
                routes.unusable.insert(c.name.clone(), unusable(reason));
                continue;
            };
            let base =
                c.base_url.as_deref().unwrap_or(&plugin.info().default_base_url).trim_end_matches('/').to_string();
            let base_url = match url::Url::parse(&base) {
                Ok(u) => u,
                Err(e) => {
                    routes.unusable.insert(c.name.clone(), unusable(format!("base URL {base:?} is not a URL: {e}")));
                    continue;
                }
            };
            let pairs = |m: &BTreeMap<String, String>| {
                m.iter().map(|(k, v)| types::Header { name: k.clone(), value: v.clone() }).collect::<Vec<_>>()
            };
            let settings = types::ConnectionSettings {
                base_url: base,
                organization: c.organization.clone(),
                headers: pairs(&c.headers),
                options: pairs(&c.options),
            };
            let mut connection = c.clone();
            let declared = plugin.details();
            connection.limits.rpm = effective_limit(c.limits.rpm, declared.default_rpm);
            connection.limits.tpm = effective_limit(c.limits.tpm, declared.default_tpm);
            let resolved = ResolvedConnection {
                target: c.target(&base_url, plugin.info().auth),
                key: LimitKey { scope, connection: c.name.as_str().into() },
                cache_ttl_secs: c.options.get("cache_ttl_secs").and_then(|v| v.trim().parse().ok()),
                connection,
                plugin: plugin.clone(),
                settings,
            };
            routes.ready.insert(c.name.clone(), Arc::new(resolved));
        }
        routes
    }

    /// True if the name is configured at all (usable or not).
    pub fn knows(&self, name: &str) -> bool {
        self.ready.contains_key(name) || self.unusable.contains_key(name)
    }
}
