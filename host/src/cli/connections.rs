//! `llmnode connections …`: manage a workspace's connections. Keys are read
//! from an environment variable or standard input, never from an argument
//! (arguments show up in `ps` and shell history), and are shown only as hints.

use super::operator::DEFAULT_WORKSPACE;
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::admin::connections::{Edit, NewConnection};
use llmnode::admin::overview::Overview;
use llmnode::admin::probe::ProbeOutcome;
use llmnode::escape::Escaped;
use llmnode::secret::Secret;
use llmnode::status::Status;
use llmnode::store::connection_rows::{self, StoredSettings};
use llmnode::store::workspaces;
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
        /// 1 to 128 printable characters, no `/` (workflows and model ids use it).
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
        /// The exact name, even one stored before names were checked.
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
    /// A provider option for the plugin, KEY=VALUE (e.g. `api_version=2024-10-21`; repeat for more).
    #[arg(long = "option", value_name = "KEY=VALUE")]
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
            llmnode::transport::Credentials::check_field(field).map_err(Failure::input)?;
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

/// `NAME=VALUE` arguments of `flag`, trimmed.
fn pairs(flag: &str, raw: &[String]) -> Result<Vec<(String, String)>, Failure> {
    raw.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => Err(Failure::input(format!("{flag} {kv:?} must be NAME=VALUE"))),
        })
        .collect()
}

impl SettingsArgs {
    /// `base` with every setting named on the command line applied.
    fn apply(&self, mut s: StoredSettings) -> Result<StoredSettings, Failure> {
        if let Some(u) = &self.base_url {
            url::Url::parse(u).map_err(|e| Failure::input(format!("--base-url {u:?} is not a URL: {e}")))?;
            s.base_url = Some(u.clone());
        }
        s.headers.extend(pairs("--header", &self.headers)?);
        s.options.extend(pairs("--option", &self.options)?);
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
            println!(
                "added connection `{}` ({}) to workspace `{}`",
                Escaped(&row.name),
                Escaped(&row.provider),
                Escaped(ws)
            );
        }
        ConnectionsCommand::List { json } => {
            let overviews = admin.overview(ws, None).map_err(Failure::input)?;
            if json {
                let list: Vec<_> = overviews.iter().map(Overview::to_json).collect();
                super::print_json(&list);
            } else {
                print_table(&overviews);
            }
        }
        ConnectionsCommand::Show { name } => {
            let o = admin.overview(ws, Some(&name)).map_err(Failure::input)?;
            super::print_json(&o[0].to_json());
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
            println!("updated connection `{}`", Escaped(&name));
        }
        ConnectionsCommand::Test { name, model } => {
            let runtime = env.runtime()?;
            let registry = env.registry(&runtime)?;
            let outcome = admin.probe_connection(ws, &name, model, &registry).await.map_err(Failure::input)?;
            print_probe(&outcome);
            if !outcome.passed() {
                return Err(Failure::run(format!("connection `{}` failed its test", Escaped(&name))));
            }
        }
        ConnectionsCommand::Disable { name } => {
            admin.set_connection_enabled(ws, &name, false).map_err(Failure::input)?;
            println!("disabled `{}`: new runs naming it are refused", Escaped(&name));
        }
        ConnectionsCommand::Enable { name } => {
            admin.set_connection_enabled(ws, &name, true).map_err(Failure::input)?;
            println!("enabled `{}`", Escaped(&name));
        }
        ConnectionsCommand::Delete { name, force } => {
            admin.delete_connection_checked(ws, &name, force).map_err(Failure::input)?;
            println!("deleted `{}` and its keys", Escaped(&name));
        }
    }
    Ok(())
}

fn print_table(overviews: &[Overview]) {
    if overviews.is_empty() {
        println!("no connections; add one with `llmnode connections add NAME --provider PROVIDER --api-key-env VAR`");
        return;
    }
    println!("{:<16} {:<10} {:<28} {:<9} {:>22}  key", "name", "provider", "models", "status", "usage (30 days)");
    for o in overviews {
        let r = &o.row;
        let models = if r.settings.models.is_empty() {
            r.settings.default_model.clone().map(|m| format!("{m} (default)")).unwrap_or_else(|| "all".into())
        } else {
            r.settings.models.join(", ")
        };
        let key = r.secret_hints.iter().find(|(f, _)| f == "api_key").map(|(_, h)| h.as_str()).unwrap_or("none");
        let usage = format!("{} req, ${:.2}", o.usage.requests, o.usage.cost_usd());
        println!(
            "{:<16} {:<10} {:<28} {:<9} {usage:>22}  {}",
            Escaped(&r.name),
            Escaped(&r.provider),
            Escaped(&models),
            o.status.status.as_str(),
            Escaped(key)
        );
    }
    for o in overviews.iter().filter(|o| o.status.status != Status::Active) {
        for reason in &o.status.reasons {
            println!("  {}: {}", Escaped(&o.row.name), Escaped(reason));
        }
    }
}

fn print_probe(o: &ProbeOutcome) {
    let show = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "unknown",
    };
    println!("connection   {} ({})", Escaped(&o.connection), Escaped(&o.provider));
    println!("reachable    {}", if o.reachable { "yes" } else { "NO" });
    println!("key valid    {}", show(o.key_valid));
    println!("model access {} ({})", show(o.model_access), Escaped(&o.model));
    println!("detail       {}", Escaped(&o.detail));
}
