//! `llmnode connections …`: manage a workspace's connections. Keys are read
//! from an environment variable or standard input, never from an argument
//! (arguments show up in `ps` and shell history), and are shown only as hints.

use super::operator::DEFAULT_WORKSPACE;
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::admin::connections::{Edit, NewConnection};
use llmnode::engine::Routes;
use llmnode::secret::Secret;
use llmnode::status::{self, ConnectionStatus, Status};
use llmnode::store::connection_rows::{ConnectionRow, StoredSettings};
use llmnode::store::usage_rows::{self, Totals};
use llmnode::store::{alert_rows, connection_rows, now_ms, workspaces};
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Args)]
pub struct ConnectionsArgs {
    /// The workspace the connections belong to.
    #[arg(long, short = 'w', global = true, default_value = DEFAULT_WORKSPACE)]
    workspace: String,

    #[command(subcommand)]
    command: ConnectionsCommand,
}

#[derive(Subcommand)]
enum ConnectionsCommand {
    /// Add a connection.
    Add {
        name: String,
        /// The plugin that speaks this provider (see `llmnode plugins list`).
        #[arg(long)]
        provider: String,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List connections: provider, models, status and the key's hint.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one connection's settings (secrets as hints only).
    Show { name: String },
    /// Change settings or replace the key; unnamed settings keep their values.
    Edit {
        name: String,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Check the key, reachability and model access with the plugin's test request.
    Test {
        name: String,
        /// The model to check (default: the connection's default model).
        #[arg(long)]
        model: Option<String>,
    },
    /// Refuse new runs through this connection.
    Disable { name: String },
    /// Allow runs through this connection again.
    Enable { name: String },
    /// Delete the connection and its keys.
    Delete {
        name: String,
        /// Delete even if workflows have run against it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
struct KeyArgs {
    /// Read the API key from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "api_key_stdin")]
    api_key_env: Option<String>,
    /// Read the API key from standard input.
    #[arg(long)]
    api_key_stdin: bool,
    /// Another secret, FIELD=VAR, read from environment variable VAR (e.g.
    /// `aws_secret_access_key=AWS_SECRET_ACCESS_KEY`, `header:x-api-token=TOKEN`).
    #[arg(long = "secret-env", value_name = "FIELD=VAR")]
    secret_env: Vec<String>,
}

#[derive(Args)]
struct SettingsArgs {
    /// Override the plugin's default base URL (e.g. an OpenAI-compatible server).
    #[arg(long)]
    base_url: Option<String>,
    #[arg(long)]
    organization: Option<String>,
    /// A non-secret header, NAME=VALUE (repeat for more).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// A provider-specific setting for the plugin, NAME=VALUE (repeat for
    /// more), e.g. `api_version=2024-10-21` for Azure OpenAI.
    #[arg(long = "option", value_name = "NAME=VALUE")]
    options: Vec<String>,
    /// A model runs may use (repeat for more); none listed allows all.
    #[arg(long = "model", value_name = "MODEL")]
    models: Vec<String>,
    #[arg(long)]
    default_model: Option<String>,
    /// Requests per minute.
    #[arg(long)]
    rpm: Option<u32>,
    /// Tokens per minute.
    #[arg(long)]
    tpm: Option<u32>,
    #[arg(long, value_name = "USD")]
    daily_budget_usd: Option<f64>,
    #[arg(long, value_name = "SECONDS")]
    timeout_secs: Option<f64>,
    /// Seconds to wait for RPM/TPM capacity before failing over (0: at once).
    #[arg(long, value_name = "SECONDS")]
    queue_secs: Option<f64>,
    /// Longest silence inside a stream before it counts as stalled.
    #[arg(long, value_name = "SECONDS")]
    stream_idle_timeout_secs: Option<f64>,
    /// Retries of a transient failure before giving up on this connection.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    max_retries: Option<u32>,
    /// Ask the provider to cache prompt prefixes (true/false).
    #[arg(long, value_name = "BOOL")]
    prompt_caching: Option<bool>,
    #[arg(long, value_name = "SECONDS")]
    cache_ttl_secs: Option<u32>,
    /// Allow streaming through this connection (true/false).
    #[arg(long, value_name = "BOOL")]
    streaming: Option<bool>,
}

impl KeyArgs {
    /// Every secret named on the command line, by field.
    fn secrets(&self) -> Result<BTreeMap<String, Secret>, Failure> {
        let mut secrets = BTreeMap::new();
        if let Some(k) = self.read()? {
            secrets.insert("api_key".to_string(), k);
        }
        for pair in &self.secret_env {
            let (field, var) = pair
                .split_once('=')
                .filter(|(f, v)| !f.is_empty() && !v.is_empty())
                .ok_or_else(|| Failure::input(format!("--secret-env {pair:?} must be FIELD=VAR")))?;
            let value =
                std::env::var(var).map_err(|_| Failure::input(format!("environment variable {var} is not set")))?;
            secrets.insert(field.to_string(), Secret::new(value));
        }
        Ok(secrets)
    }

    fn read(&self) -> Result<Option<Secret>, Failure> {
        if let Some(var) = &self.api_key_env {
            let value =
                std::env::var(var).map_err(|_| Failure::input(format!("environment variable {var} is not set")))?;
            return Ok(Some(Secret::new(value.trim())));
        }
        if self.api_key_stdin {
            let mut value = String::new();
            std::io::stdin()
                .read_to_string(&mut value)
                .map_err(|e| Failure::input(format!("cannot read the key: {e}")))?;
            let key = Secret::new(value.trim());
            value.clear();
            return Ok(Some(key));
        }
        Ok(None)
    }
}

impl SettingsArgs {
    /// `base` with every setting named on the command line applied.
    fn apply(&self, mut s: StoredSettings) -> Result<StoredSettings, Failure> {
        if let Some(u) = &self.base_url {
            url::Url::parse(u).map_err(|e| Failure::input(format!("--base-url {u:?} is not a URL: {e}")))?;
            s.base_url = Some(u.clone());
        }
        for h in &self.headers {
            let (k, v) =
                h.split_once('=').ok_or_else(|| Failure::input(format!("--header {h:?} must be NAME=VALUE")))?;
            s.headers.insert(k.trim().to_string(), v.trim().to_string());
        }
        for o in &self.options {
            let (k, v) =
                o.split_once('=').ok_or_else(|| Failure::input(format!("--option {o:?} must be NAME=VALUE")))?;
            s.options.insert(k.trim().to_string(), v.trim().to_string());
        }
        if !self.models.is_empty() {
            s.models = self.models.clone();
        }
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(Failure::input(format!("{what} must be a positive number")))
            }
        };
        s.organization = self.organization.clone().or(s.organization);
        s.default_model = self.default_model.clone().or(s.default_model);
        s.rpm = self.rpm.or(s.rpm);
        s.tpm = self.tpm.or(s.tpm);
        s.daily_budget_usd =
            self.daily_budget_usd.map(|v| positive("--daily-budget-usd", v)).transpose()?.or(s.daily_budget_usd);
        s.timeout_secs = self.timeout_secs.map(|v| positive("--timeout-secs", v)).transpose()?.or(s.timeout_secs);
        s.max_retries = self.max_retries.or(s.max_retries);
        s.queue_secs = self.queue_secs.map(|v| positive("--queue-secs", v)).transpose()?.or(s.queue_secs);
        s.stream_idle_timeout_secs = self
            .stream_idle_timeout_secs
            .map(|v| positive("--stream-idle-timeout-secs", v))
            .transpose()?
            .or(s.stream_idle_timeout_secs);
        s.prompt_caching = self.prompt_caching.unwrap_or(s.prompt_caching);
        s.cache_ttl_secs = self.cache_ttl_secs.or(s.cache_ttl_secs);
        s.streaming = self.streaming.unwrap_or(s.streaming);
        Ok(s)
    }
}

pub async fn run(env: &Env, args: ConnectionsArgs) -> Result<(), Failure> {
    let mut admin = env.admin()?;
    let ws = args.workspace.as_str();
    match args.command {
        ConnectionsCommand::Add { name, provider, key, settings } => {
            let runtime = env.runtime()?;
            let registry = env.registry(&runtime)?;
            if registry.get(&provider).is_none() {
                return Err(Failure::input(format!(
                    "no plugin provides {provider:?} (installed: {})",
                    registry.names().join(", ")
                )));
            }
            let settings = settings.apply(StoredSettings { streaming: true, ..Default::default() })?;
            let secrets = key.secrets()?;
            let row = admin
                .add_connection(ws, NewConnection { name, provider, settings, secrets })
                .map_err(Failure::input)?;
            println!("added connection `{}` ({}) to workspace `{ws}`", row.name, row.provider);
        }
        ConnectionsCommand::List { json } => {
            let w = workspaces::get(admin.store.db(), ws).map_err(Failure::input)?;
            let rows = connection_rows::list(admin.store.db(), w.id).map_err(Failure::input)?;
            let overviews = overview(&admin, ws, &rows)?;
            if json {
                let list: Vec<_> = rows.iter().zip(&overviews).map(|(r, o)| summary(r, o)).collect();
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
            } else {
                print_table(&rows, &overviews);
            }
        }
        ConnectionsCommand::Show { name } => {
            let w = workspaces::get(admin.store.db(), ws).map_err(Failure::input)?;
            let row = connection_rows::get(admin.store.db(), w.id, &name).map_err(Failure::input)?;
            let o = overview(&admin, ws, std::slice::from_ref(&row))?;
            println!("{}", serde_json::to_string_pretty(&summary(&row, &o[0])).unwrap_or_default());
        }
        ConnectionsCommand::Edit { name, key, settings } => {
            let w = workspaces::get(admin.store.db(), ws).map_err(Failure::input)?;
            let current = connection_rows::get(admin.store.db(), w.id, &name).map_err(Failure::input)?;
            let edit = Edit {
                settings: Some(settings.apply(current.settings)?),
                set_secrets: key.secrets()?,
                ..Default::default()
            };
            admin.edit_connection(ws, &name, edit).map_err(Failure::input)?;
            println!("updated connection `{name}`");
        }
        ConnectionsCommand::Test { name, model } => test(env, &mut admin, ws, &name, model).await?,
        ConnectionsCommand::Disable { name } => {
            admin.set_connection_enabled(ws, &name, false).map_err(Failure::input)?;
            println!("disabled `{name}`: new runs naming it are refused");
        }
        ConnectionsCommand::Enable { name } => {
            admin.set_connection_enabled(ws, &name, true).map_err(Failure::input)?;
            println!("enabled `{name}`");
        }
        ConnectionsCommand::Delete { name, force } => {
            let w = workspaces::get(admin.store.db(), ws).map_err(Failure::input)?;
            connection_rows::get(admin.store.db(), w.id, &name).map_err(Failure::input)?;
            let used_by = usage_rows::workflows_using(admin.store.db(), w.id, &name).map_err(Failure::input)?;
            if !used_by.is_empty() && !force {
                return Err(Failure::input(format!(
                    "connection `{name}` is used by workflow(s) {}; deleting it breaks them. Pass --force to delete it anyway",
                    used_by.join(", ")
                )));
            }
            admin.delete_connection(ws, &name).map_err(Failure::input)?;
            println!("deleted `{name}` and its keys");
        }
    }
    Ok(())
}

/// What the list shows beside a connection's settings: its status and its last 30 days.
struct Overview {
    status: ConnectionStatus,
    usage: Totals,
}

/// Days of usage the list shows.
const USAGE_DAYS: u32 = 30;

fn overview(admin: &llmnode::admin::Admin, ws: &str, rows: &[ConnectionRow]) -> Result<Vec<Overview>, Failure> {
    let db = admin.store.db();
    let tests = status::last_tests(db, ws).map_err(Failure::input)?;
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let settings = alert_rows::settings(db, first.workspace_id).map_err(Failure::input)?.settings;
    let now = now_ms();
    let since_ms = llmnode::usage::report::range_start(USAGE_DAYS, now);
    rows.iter()
        .map(|r| {
            let status = status::of(db, r, tests.get(&r.name).copied(), &settings, now).map_err(Failure::input)?;
            let scope = usage_rows::Scope { workspace_id: r.workspace_id, since_ms, connection: Some(&r.name) };
            let usage = usage_rows::totals(db, scope).map_err(Failure::input)?;
            Ok(Overview { status, usage })
        })
        .collect()
}

/// A connection as shown to operators: settings and secret hints, never a key.
fn summary(row: &ConnectionRow, o: &Overview) -> serde_json::Value {
    serde_json::json!({
        "name": row.name,
        "provider": row.provider,
        "status": o.status.status.as_str().to_lowercase(),
        "status_reasons": o.status.reasons,
        "usage_30d": { "requests": o.usage.requests, "errors": o.usage.errors, "cost_usd": o.usage.cost_usd() },
        "settings": row.settings,
        "secrets": row.secret_hints.iter().map(|(f, h)| serde_json::json!({ "field": f, "hint": h })).collect::<Vec<_>>(),
    })
}

fn print_table(rows: &[ConnectionRow], overviews: &[Overview]) {
    if rows.is_empty() {
        println!("no connections; add one with `llmnode connections add NAME --provider PROVIDER --api-key-env VAR`");
        return;
    }
    println!("{:<16} {:<10} {:<28} {:<9} {:>22}  key", "name", "provider", "models", "status", "usage (30 days)");
    for (r, o) in rows.iter().zip(overviews) {
        let models = if r.settings.models.is_empty() {
            r.settings.default_model.clone().map(|m| format!("{m} (default)")).unwrap_or_else(|| "all".into())
        } else {
            r.settings.models.join(", ")
        };
        let key = r.secret_hints.iter().find(|(f, _)| f == "api_key").map(|(_, h)| h.as_str()).unwrap_or("none");
        let usage = format!("{} req, ${:.2}", o.usage.requests, o.usage.cost_usd());
        println!("{:<16} {:<10} {:<28} {:<9} {usage:>22}  {key}", r.name, r.provider, models, o.status.status.as_str());
    }
    for (r, o) in rows.iter().zip(overviews).filter(|(_, o)| o.status.status != Status::Active) {
        for reason in &o.status.reasons {
            println!("  {}: {reason}", r.name);
        }
    }
}

/// The plugin's test request through the real transport; key validity,
/// reachability and model access reported separately.
async fn test(
    env: &Env,
    admin: &mut llmnode::admin::Admin,
    ws: &str,
    name: &str,
    model: Option<String>,
) -> Result<(), Failure> {
    let set = admin.connection_set(ws).map_err(Failure::input)?;
    let runtime = env.runtime()?;
    let registry = env.registry(&runtime)?;
    let routes = Routes::resolve(&set, &registry);
    let route = match (routes.ready.get(name), routes.unusable.get(name)) {
        (Some(r), _) => r.clone(),
        (None, Some(u)) => return Err(Failure::input(format!("connection `{name}` cannot be used: {}", u.reason))),
        (None, None) => return Err(Failure::input(format!("connection `{name}` not found in workspace `{ws}`"))),
    };
    let model = model.or_else(|| route.connection.default_model.clone()).unwrap_or_default();
    let prepared = route
        .plugin
        .call()
        .and_then(|mut c| c.test_request(&route.settings, &model))
        .map_err(Failure::plugin)?
        .map_err(|e| Failure::input(format!("the plugin refused the test request: {}", e.message)))?;
    let transport = llmnode::transport::Transport::new().map_err(Failure::run)?;
    let (reachable, key_valid, model_ok, detail) = match transport.send(prepared, &route.target).await {
        Err(e) => (false, None, None, e.to_string()),
        Ok(response) => {
            let status = response.status;
            match status {
                200..=299 => (true, Some(true), Some(true), format!("HTTP {status}")),
                401 | 403 => (true, Some(false), None, format!("HTTP {status}: the key was refused")),
                404 => (true, Some(true), Some(false), format!("HTTP {status}: model {model:?} not available")),
                _ => (true, None, None, format!("HTTP {status}")),
            }
        }
    };
    let show = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "unknown",
    };
    println!("connection   {name} ({})", route.connection.provider);
    println!("reachable    {}", if reachable { "yes" } else { "NO" });
    println!("key valid    {}", show(key_valid));
    println!("model access {} ({model})", show(model_ok));
    println!("detail       {detail}");
    let outcome =
        serde_json::json!({ "reachable": reachable, "key_valid": key_valid, "model_access": model_ok, "model": model });
    admin.record_test(ws, name, &outcome).map_err(Failure::input)?;
    if reachable && key_valid == Some(true) && model_ok == Some(true) {
        Ok(())
    } else {
        Err(Failure::run(format!("connection `{name}` failed its test")))
    }
}
