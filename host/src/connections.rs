//! Connections as the operator declares them in a file (JSON or TOML). Keys come
//! from environment variables named in the file, never from the file itself.

use crate::engine::{Limits, RetryPolicy};
use crate::escape::Escaped;
use crate::names::{self, NameKind};
use crate::runtime::bindings::types::AuthScheme;
use crate::secret::Secret;
use crate::transport::auth::KeyMaterial;
use crate::transport::{Credentials, EgressPolicy, OperatorPlacement, Placement, Target};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Default time allowed for an upstream's answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default longest silence between a stream's events.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection option naming one more header the API key may be sent in
/// (besides `authorization`, `x-api-key`, `api-key` and `x-goog-api-key`).
pub const AUTH_HEADER_OPTION: &str = "auth_header";

/// The connection option naming the one query parameter the API key may be
/// sent in; without it, a key never goes into a URL.
pub const AUTH_QUERY_OPTION: &str = "auth_query";

/// One configured provider account.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The name workflows refer to.
    pub name: String,
    /// The plugin that speaks this provider's API.
    pub provider: String,
    /// Overrides the plugin's default base URL.
    pub base_url: Option<String>,
    /// Organization or project id.
    pub organization: Option<String>,
    /// Non-secret custom headers.
    pub headers: BTreeMap<String, String>,
    /// Provider-specific settings handed to the plugin.
    pub options: BTreeMap<String, String>,
    /// Extra hosts (beyond the base URL's) requests may reach.
    pub allowed_hosts: Vec<String>,
    /// The models runs may use through this connection; empty allows all.
    pub models: Vec<String>,
    /// Model used when a node names none for this connection.
    pub default_model: Option<String>,
    /// `false`: a node that streams is served by one whole call here and
    /// gets its answer as a single chunk.
    pub streaming: bool,
    /// Time allowed for the upstream's answer.
    pub timeout: Duration,
    /// Longest silence inside a stream before it counts as stalled.
    pub stream_idle_timeout: Duration,
    /// Disabled connections are refused by new runs.
    pub enabled: bool,
    /// Why it cannot serve yet: the approval it awaits (a new connection,
    /// or its plugin's install), named for the refusal.
    pub pending: Option<String>,
    /// The connection's secrets.
    pub credentials: Credentials,
    /// How transient failures are retried here before the node gives up.
    pub retry: RetryPolicy,
    /// Requests and tokens per minute, daily budget.
    pub limits: Limits,
}

impl Connection {
    /// An enabled connection to `base_url` with only a key and a default model:
    /// what the demo, tests and benchmarks need, everything else at its default.
    pub fn with_key(name: &str, provider: &str, base_url: String, default_model: &str, key: Secret) -> Self {
        Connection {
            name: name.into(),
            provider: provider.into(),
            base_url: Some(base_url),
            organization: None,
            headers: BTreeMap::new(),
            options: BTreeMap::new(),
            allowed_hosts: Vec::new(),
            models: Vec::new(),
            default_model: Some(default_model.into()),
            streaming: true,
            timeout: DEFAULT_TIMEOUT,
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
            enabled: true,
            pending: None,
            credentials: Credentials::plain(Some(key)),
            retry: RetryPolicy::default(),
            limits: Limits::default(),
        }
    }

    /// The transport target for requests built against `base_url`.
    /// `declared` is the auth scheme the connection's plugin declared.
    pub fn target(&self, base_url: &url::Url, declared: AuthScheme) -> Target {
        let operator = OperatorPlacement {
            header: self.options.get(AUTH_HEADER_OPTION).cloned(),
            query: self.options.get(AUTH_QUERY_OPTION).cloned(),
        };
        Target {
            egress: EgressPolicy::new(base_url, &self.allowed_hosts),
            placement: Placement::new(declared, &self.credentials, operator),
            credentials: self.credentials.clone(),
            timeout: self.timeout,
            idle_timeout: self.stream_idle_timeout,
        }
    }
}

/// A connections file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionsError {
    #[error("cannot read connections file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("connections file {path} is not valid {format}: {detail}")]
    Parse { path: String, format: &'static str, detail: String },
    #[error("connections file {path}: connection \"{}\": {detail}", Escaped(name))]
    Invalid { path: String, name: String, detail: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(alias = "connection", default)]
    connections: Vec<FileConnection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConnection {
    name: String,
    provider: String,
    base_url: Option<String>,
    organization: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    /// Models runs may use (empty: all).
    #[serde(default)]
    models: Vec<String>,
    default_model: Option<String>,
    /// `false`: streamed nodes get one whole call here (default true).
    #[serde(default = "yes")]
    streaming: bool,
    timeout_secs: Option<f64>,
    /// Retries of a transient failure on this connection (default 2).
    max_retries: Option<u32>,
    /// Longest silence inside a stream, in seconds (default 30).
    stream_idle_timeout_secs: Option<f64>,
    /// Requests per minute.
    rpm: Option<u32>,
    /// Tokens per minute.
    tpm: Option<u32>,
    /// Spend per UTC day.
    daily_budget_usd: Option<f64>,
    /// Seconds to wait for RPM/TPM capacity before failing over (default 0).
    queue_secs: Option<f64>,
    #[serde(default = "yes")]
    enabled: bool,
    /// Name of the environment variable holding the API key.
    api_key_env: Option<String>,
    /// Other secrets by field (`aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_session_token`, `header:NAME`), each naming its environment variable.
    #[serde(default)]
    secret_env: BTreeMap<String, String>,
    /// Refused: present only to give a clear error.
    api_key: Option<serde::de::IgnoredAny>,
}

fn yes() -> bool {
    true
}

/// Connections by name.
#[derive(Debug, Clone, Default)]
pub struct ConnectionSet {
    by_name: BTreeMap<String, Connection>,
}

impl ConnectionSet {
    /// Read a `.json` or `.toml` file; `env` looks up environment variables.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConnectionsError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConnectionsError::Read { path: shown.clone(), source })?;
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        Self::parse(&text, is_toml, &shown, env)
    }

    /// Parse file contents; `origin` names the file in errors.
    pub fn parse(
        text: &str,
        is_toml: bool,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConnectionsError> {
        let parse_error = |format, detail: String| ConnectionsError::Parse { path: origin.into(), format, detail };
        let shape: FileShape = if is_toml {
            toml::from_str(text).map_err(|e| parse_error("TOML", e.to_string()))?
        } else {
            serde_json::from_str(text).map_err(|e| parse_error("JSON", e.to_string()))?
        };
        let mut set = ConnectionSet::default();
        for c in shape.connections {
            let invalid =
                |detail: String| ConnectionsError::Invalid { path: origin.into(), name: c.name.clone(), detail };
            if c.api_key.is_some() {
                return Err(invalid(
                    "keys may not be written in a connections file; put the key in an environment variable and name it with `api_key_env`".into(),
                ));
            }
            names::check(NameKind::Connection, &c.name).map_err(|e| invalid(format!("name: {e}")))?;
            if set.by_name.contains_key(&c.name) {
                return Err(invalid("names must be unique".into()));
            }
            if let Some(url) = &c.base_url {
                url::Url::parse(url).map_err(|e| invalid(format!("base_url {url:?} is not a URL: {e}")))?;
            }
            let timeout = match c.timeout_secs {
                None => DEFAULT_TIMEOUT,
                Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
                Some(s) => return Err(invalid(format!("timeout_secs {s} must be between 0 and 3600"))),
            };
            let api_key = match &c.api_key_env {
                None => None,
                Some(var) => match env(var) {
                    Some(v) if !v.is_empty() => Some(Secret::new(v)),
                    _ => return Err(invalid(format!("environment variable {var} (api_key_env) is not set"))),
                },
            };
            let mut credentials = Credentials::plain(api_key);
            for (field, var) in &c.secret_env {
                let value = env(var)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| invalid(format!("environment variable {var} (secret_env.{field}) is not set")))?;
                credentials.set(field, KeyMaterial::Plain(Secret::new(value))).map_err(&invalid)?;
            }
            let conn = Connection {
                name: c.name.clone(),
                provider: c.provider,
                base_url: c.base_url,
                organization: c.organization,
                headers: c.headers,
                options: c.options,
                allowed_hosts: c.allowed_hosts,
                models: c.models,
                default_model: c.default_model,
                streaming: c.streaming,
                timeout,
                stream_idle_timeout: match c.stream_idle_timeout_secs {
                    None => DEFAULT_STREAM_IDLE_TIMEOUT,
                    Some(s) if s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
                    Some(s) => return Err(invalid(format!("stream_idle_timeout_secs {s} must be between 0 and 3600"))),
                },
                enabled: c.enabled,
                pending: None,
                credentials,
                retry: RetryPolicy { max_retries: c.max_retries.unwrap_or(2).min(10), ..RetryPolicy::default() },
                limits: Limits {
                    rpm: c.rpm,
                    tpm: c.tpm,
                    daily_budget_usd: c.daily_budget_usd.filter(|b| b.is_finite() && *b >= 0.0),
                    queue_for: c
                        .queue_secs
                        .filter(|q| q.is_finite() && *q > 0.0)
                        .map(Duration::from_secs_f64)
                        .unwrap_or_default(),
                },
            };
            set.by_name.insert(c.name, conn);
        }
        Ok(set)
    }

    /// Add or replace a connection.
    pub fn insert(&mut self, connection: Connection) {
        self.by_name.insert(connection.name.clone(), connection);
    }

    /// A connection by name.
    pub fn get(&self, name: &str) -> Option<&Connection> {
        self.by_name.get(name)
    }

    /// All connections, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_environment_only() {
        let toml = r#"
            [[connection]]
            name = "main"
            provider = "openai"
            api_key_env = "TEST_KEY"
            timeout_secs = 5
        "#;
        let set = ConnectionSet::parse(toml, true, "c.toml", |v| (v == "TEST_KEY").then(|| "sk-abc".into())).unwrap();
        let c = set.get("main").unwrap();
        assert_eq!(c.credentials.api_key().unwrap().unwrap().expose(), "sk-abc");
        assert_eq!(c.timeout, Duration::from_secs(5));

        let err = ConnectionSet::parse(toml, true, "c.toml", |_| None).unwrap_err().to_string();
        assert!(err.contains("TEST_KEY") && err.contains("not set"), "{err}");

        let inline = r#"{"connections":[{"name":"x","provider":"openai","api_key":"sk-secret-value"}]}"#;
        let err = ConnectionSet::parse(inline, false, "c.json", |_| None).unwrap_err().to_string();
        assert!(err.contains("api_key_env") && !err.contains("sk-secret-value"), "{err}");
    }

    #[test]
    fn names_follow_the_one_rule_and_are_shown_escaped() {
        for (name, says) in [
            ("", "connection name \"\" must not be empty"),
            ("a\r\nb", "connection name \"a\\r\\nb\" must not contain control"),
            ("a/b", "must not contain `/`"),
            ("\u{1b}[31m", "\"\\x1b[31m\""),
        ] {
            let text = serde_json::json!({ "connections": [{ "name": name, "provider": "openai" }] }).to_string();
            let err = ConnectionSet::parse(&text, false, "c.json", |_| None).unwrap_err().to_string();
            assert!(err.starts_with("connections file c.json: connection \"") && err.contains(says), "{err}");
            assert!(!err.contains(['\n', '\r', '\u{1b}']), "{err:?}");
        }
        let twice = r#"{"connections":[{"name":"a","provider":"openai"},{"name":"a","provider":"openai"}]}"#;
        let err = ConnectionSet::parse(twice, false, "c.json", |_| None).unwrap_err().to_string();
        assert!(err.contains("names must be unique"), "{err}");
    }
}
