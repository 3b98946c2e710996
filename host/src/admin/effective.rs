//! Every setting of a connection as it takes effect, and where its value
//! comes from: the operator set it, its plugin declares it for the provider,
//! or the host's built-in default applies. One definition for `connections
//! show` and the API.

use crate::connections::{DEFAULT_STREAM_IDLE_TIMEOUT, DEFAULT_TIMEOUT};
use crate::engine::{RetryPolicy, effective_limit};
use crate::runtime::LoadedPlugin;
use crate::store::connection_rows::StoredSettings;
use serde::Serialize;
use serde_json::{Value, json};

/// Where an effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The operator set it on the connection.
    Set,
    /// The connection's plugin declares it for its provider.
    PluginDefault,
    /// The host's own default.
    BuiltInDefault,
}

impl Source {
    /// As `connections show` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Set => "set",
            Source::PluginDefault => "plugin default",
            Source::BuiltInDefault => "built-in default",
        }
    }
}

/// One setting as it takes effect.
#[derive(Debug, Clone, Serialize)]
pub struct Effective {
    pub setting: &'static str,
    pub value: Value,
    pub source: Source,
}

/// Every setting of `s` as it takes effect through `plugin` (`None`: its
/// plugin is not installed, so plugin defaults are unknown).
pub fn settings(s: &StoredSettings, plugin: Option<&LoadedPlugin>) -> Vec<Effective> {
    let mut out = Vec::with_capacity(18);
    let mut put = |setting: &'static str, value: Value, source: Source| out.push(Effective { setting, value, source });
    let or_builtin = |set: Option<Value>, default: Value| match set {
        Some(v) => (v, Source::Set),
        None => (default, Source::BuiltInDefault),
    };

    let (base, source) = match (&s.base_url, plugin) {
        (Some(u), _) => (json!(u), Source::Set),
        (None, Some(p)) => (json!(p.info().default_base_url), Source::PluginDefault),
        (None, None) => (json!("unknown (the plugin is not installed)"), Source::PluginDefault),
    };
    put("base_url", base, source);
    let (v, src) = or_builtin(s.organization.as_ref().map(|o| json!(o)), json!("none"));
    put("organization", v, src);
    let (v, src) = or_builtin(s.default_model.as_ref().map(|m| json!(m)), json!("none (nodes must name a model)"));
    put("default_model", v, src);
    let models = (!s.models.is_empty()).then(|| json!(s.models));
    let (v, src) = or_builtin(models, json!("all"));
    put("models", v, src);

    let declared = plugin.map(|p| p.details());
    for (setting, set, default) in
        [("rpm", s.rpm, declared.and_then(|d| d.default_rpm)), ("tpm", s.tpm, declared.and_then(|d| d.default_tpm))]
    {
        let source = match (set, default) {
            (Some(_), _) => Source::Set,
            (None, Some(_)) => Source::PluginDefault,
            (None, None) => Source::BuiltInDefault,
        };
        let value = effective_limit(set, default).map_or(json!("no limit"), |n| json!(n));
        put(setting, value, source);
    }
    let (v, src) = or_builtin(s.daily_budget_usd.map(|b| json!(b)), json!("no limit"));
    put("daily_budget_usd", v, src);
    let (v, src) = or_builtin(s.timeout_secs.map(|t| json!(t)), json!(DEFAULT_TIMEOUT.as_secs()));
    put("timeout_secs", v, src);
    let (v, src) = or_builtin(s.queue_secs.map(|q| json!(q)), json!(0));
    put("queue_secs", v, src);
    let idle = DEFAULT_STREAM_IDLE_TIMEOUT.as_secs();
    let (v, src) = or_builtin(s.stream_idle_timeout_secs.map(|t| json!(t)), json!(idle));
    put("stream_idle_timeout_secs", v, src);
    let retries = RetryPolicy::default().max_retries;
    let (v, src) = or_builtin(s.max_retries.map(|n| json!(n)), json!(retries));
    put("max_retries", v, src);
    let (v, src) = or_builtin(s.prompt_caching.map(|c| json!(c)), json!("where a node asks"));
    put("prompt_caching", v, src);
    let (v, src) = or_builtin(s.cache_ttl_secs.map(|t| json!(t)), json!("the provider's default (5 minutes)"));
    put("cache_ttl_secs", v, src);
    let streaming = (!s.streaming).then_some(json!(false));
    let (v, src) = or_builtin(streaming, json!(true));
    put("streaming", v, src);
    let headers = (!s.headers.is_empty()).then(|| json!(s.headers));
    let (v, src) = or_builtin(headers, json!("none"));
    put("headers", v, src);
    let options = (!s.options.is_empty()).then(|| json!(s.options));
    let (v, src) = or_builtin(options, json!("none"));
    put("options", v, src);
    out
}

/// [`settings`] as one JSON object: setting → `{ "value", "source" }`.
pub fn to_json(effective: &[Effective]) -> Value {
    let map = effective.iter().map(|e| (e.setting.to_string(), json!({ "value": e.value, "source": e.source })));
    Value::Object(map.collect())
}
