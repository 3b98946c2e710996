//! `llmnode connections …`: manage a workspace's connections. Keys are read
//! from an environment variable or standard input, never from an argument
//! (arguments show up in `ps` and shell history), and are shown only as hints.

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::admin::connections::{Edit, NewConnection};
use llmnode::admin::effective;
use llmnode::admin::overview::Overview;
use llmnode::admin::probe::ProbeOutcome;
use llmnode::escape::Escaped;
use llmnode::runtime::LoadedPlugin;
use llmnode::secret::Secret;
use llmnode::status::Status;
use llmnode::store::connection_rows::{self, StoredSettings};
use llmnode::store::workspaces;
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Args)]
pub struct ConnectionsArgs {
    /// The workspace the connections belong to; it must exist (see `llmnode workspaces`).
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
        /// The server takes no credentials (e.g. a local OpenAI-compatible one): add the
        /// connection without a key although its plugin declares an auth scheme.
        #[arg(long, conflicts_with_all = ["api_key_env", "api_key_stdin"])]
        no_key: bool,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List connections: provider, models, status and the key's hint.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show every setting of one connection as it takes effect, and where each
    /// value comes from (set, plugin default, built-in default); secrets as hints only.
    Show {
        /// The connection.
        name: String,
        /// Print JSON (stored settings, secret hints, status and the effective values).
        #[arg(long)]
        json: bool,
    },
    /// Change settings or replace the key; unnamed settings keep their values.
    Edit {
        /// The connection.
        name: String,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Check the key, reachability and model access with the plugin's test request.
    Test {
        /// The connection.
        name: String,
        /// The model to check (default: the connection's default model).
        #[arg(long)]
        model: Option<String>,
    },
    /// Refuse new runs through this connection.
    Disable {
        /// The connection.
        name: String,
    },
    /// Allow runs through this connection again.
    Enable {
        /// The connection.
        name: String,
    },
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
    /// Read the API key from standard input (until end of input, trimmed).
    #[arg(long)]
    api_key_stdin: bool,
    /// Another secret, FIELD=VAR, read from environment variable VAR (e.g.
    /// `aws_secret_access_key=AWS_SECRET_ACCESS_KEY`, `header:x-api-token=TOKEN`); repeat for more.
    #[arg(long = "secret-env", value_name = "FIELD=VAR")]
    secret_env: Vec<String>,
}

#[derive(Args)]
struct SettingsArgs {
    /// Override the plugin's default base URL (e.g. an OpenAI-compatible server). Default: the plugin's.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Organization or project id sent to providers that take one (OpenAI's `OpenAI-Organization`). Default: none.
    #[arg(long, value_name = "ID")]
    organization: Option<String>,
    /// A non-secret header, NAME=VALUE, sent on every request (repeat for more). Credentials are
    /// refused here: seal them with --secret-env header:NAME=VAR.
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// A provider option for the plugin, KEY=VALUE (e.g. `api_version=2024-10-21`; repeat for more).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// A model runs may use through this connection (repeat for more); others are refused. Default: all.
    #[arg(long = "model", value_name = "MODEL")]
    models: Vec<String>,
    /// The model used when a node names none for this connection. Default: none.
    #[arg(long, value_name = "MODEL")]
    default_model: Option<String>,
    /// Requests per minute; 0 for no limit. Default: the plugin's declared limit (OpenAI: 10000), else none.
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// Tokens (prompt and answer) per minute; 0 for no limit. Default: the plugin's declared limit, else none.
    #[arg(long, value_name = "N")]
    tpm: Option<u32>,
    /// Spend allowed per UTC day, in US dollars. Default: no limit.
    #[arg(long, value_name = "USD")]
    daily_budget_usd: Option<f64>,
    /// Seconds allowed for an upstream's whole answer (up to 3600). Default: 60.
    #[arg(long, value_name = "SECONDS")]
    timeout_secs: Option<f64>,
    /// Seconds to wait for RPM/TPM capacity before failing over (up to 3600). Default: 0, at once.
    #[arg(long, value_name = "SECONDS")]
    queue_secs: Option<f64>,
    /// Longest silence inside a stream before it counts as stalled, in seconds (up to 3600). Default: 30.
    #[arg(long, value_name = "SECONDS")]
    stream_idle_timeout_secs: Option<f64>,
    /// Retries of a transient failure before giving up on this connection (0 to 10). Default: 2.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    max_retries: Option<u32>,
    /// true: mark prompt prefixes for the provider's cache on every call; false: never, even where a
    /// node asks. Default: only where a node asks.
    #[arg(long, value_name = "BOOL")]
    prompt_caching: Option<bool>,
    /// How long cached prefixes live, in seconds, where the provider lets one choose (over 300 asks
    /// Anthropic for its 1-hour cache). Default: the provider's (5 minutes).
    #[arg(long, value_name = "SECONDS")]
    cache_ttl_secs: Option<u32>,
    /// false: a node that streams is served here by one whole call, its answer delivered as a
    /// single chunk. Default: true.
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
    /// `base` with every setting named on the command line applied; the
    /// admin layer checks the result.
    fn apply(&self, mut s: StoredSettings) -> Result<StoredSettings, Failure> {
        s.base_url = self.base_url.clone().or(s.base_url);
        s.headers.extend(pairs("--header", &self.headers)?);
        s.options.extend(pairs("--option", &self.options)?);
        if !self.models.is_empty() {
            s.models = self.models.clone();
        }
        s.organization = self.organization.clone().or(s.organization);
        s.default_model = self.default_model.clone().or(s.default_model);
        s.rpm = self.rpm.or(s.rpm);
        s.tpm = self.tpm.or(s.tpm);
        s.daily_budget_usd = self.daily_budget_usd.or(s.daily_budget_usd);
        s.timeout_secs = self.timeout_secs.or(s.timeout_secs);
        s.max_retries = self.max_retries.or(s.max_retries);
        s.queue_secs = self.queue_secs.or(s.queue_secs);
        s.stream_idle_timeout_secs = self.stream_idle_timeout_secs.or(s.stream_idle_timeout_secs);
        s.prompt_caching = self.prompt_caching.or(s.prompt_caching);
        s.cache_ttl_secs = self.cache_ttl_secs.or(s.cache_ttl_secs);
        s.streaming = self.streaming.unwrap_or(s.streaming);
        Ok(s)
    }
}

pub async fn run(env: &Env, args: ConnectionsArgs) -> Result<(), Failure> {
    let mut admin = env.admin()?;
    let ws = args.workspace.as_str();
    super::operator::require_workspace(&admin, ws)?;
    match args.command {
        ConnectionsCommand::Add { name, provider, key, no_key, settings } => {
            let runtime = env.runtime()?;
            let registry = env.registry(&runtime)?;
            let Some(plugin) = registry.get(&provider) else {
                return Err(Failure::input(format!(
                    "no plugin provides {provider:?} (installed: {})",
                    registry.names().join(", ")
                )));
            };
            let auth = plugin.info().auth;
            let settings = settings.apply(StoredSettings::default())?;
            let secrets = key.secrets()?;
            let new = NewConnection { name, provider, settings, secrets, auth, no_key };
            let row = admin.add_connection(ws, new).map_err(Failure::input)?;
            println!(
                "added connection `{}` ({}) to workspace `{}`",
                Escaped(&row.name),
                Escaped(&row.provider),
                Escaped(ws)
            );
            pending_note(&row);
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
        ConnectionsCommand::Show { name, json } => {
            let o = admin.overview(ws, Some(&name)).map_err(Failure::input)?.remove(0);
            let runtime = env.runtime()?;
            let registry = env.registry(&runtime)?;
            let plugin = registry.get(&o.row.provider);
            if json {
                super::print_json(&o.to_json_effective(plugin.map(|p| &**p)));
            } else {
                print_show(&o, plugin.map(|p| &**p));
            }
        }
        ConnectionsCommand::Edit { name, key, settings } => {
            let w = workspaces::get(admin.store.db(), ws).map_err(Failure::input)?;
            let current = connection_rows::get(admin.store.db(), w.id, &name).map_err(Failure::input)?;
            let edit = Edit {
                settings: Some(settings.apply(current.settings)?),
                set_secrets: key.secrets()?,
                ..Default::default()
            };
            let row = admin.edit_connection(ws, &name, edit).map_err(Failure::input)?;
            println!("updated connection `{}`", Escaped(&name));
            pending_note(&row);
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

/// Say that a change awaits approval, and how it is decided.
fn pending_note(row: &llmnode::store::connection_rows::ConnectionRow) {
    if let Some(id) = row.pending_approval {
        println!(
            "the change awaits approval #{id}: another admin runs `llmnode approvals approve {id}`; until then the \
             approved version serves (a new connection serves nothing)"
        );
    }
}

fn print_table(overviews: &[Overview]) {
    if overviews.is_empty() {
        println!("no connections; add one with `llmnode connections add NAME --provider PROVIDER --api-key-env VAR`");
        return;
    }
    let mut table = Table::new(&[
        ("name", Align::Left),
        ("provider", Align::Left),
        ("models", Align::Left),
        ("status", Align::Left),
        ("usage (30 days)", Align::Right),
        ("key", Align::Left),
        ("key age", Align::Right),
    ]);
    let now = llmnode::store::now_ms();
    for o in overviews {
        let r = &o.row;
        let models = if r.settings.models.is_empty() {
            r.settings.default_model.clone().map(|m| format!("{m} (default)")).unwrap_or_else(|| "all".into())
        } else {
            r.settings.models.join(", ")
        };
        let key = r.secret_hints.iter().find(|s| s.field == "api_key");
        let age = key.map_or(String::new(), |s| format!("{} d", s.age_days(now)));
        let key = key.map_or("none", |s| s.hint.as_str());
        let usage = format!("{} req, ${:.2}", o.usage.requests, o.usage.cost_usd());
        table.row(&[r.name.as_str(), &r.provider, &models, o.status.status.as_str(), &usage, key, &age]);
    }
    table.print();
    for o in overviews.iter().filter(|o| o.status.status != Status::Active) {
        for reason in &o.status.reasons {
            println!("  {}: {}", Escaped(&o.row.name), Escaped(reason));
        }
    }
}

/// One connection: every setting as it takes effect and where it comes from.
fn print_show(o: &Overview, plugin: Option<&LoadedPlugin>) {
    let r = &o.row;
    println!("connection  {} ({})", Escaped(&r.name), Escaped(&r.provider));
    println!("enabled     {}", if r.enabled { "yes" } else { "no" });
    println!("status      {}", o.status.status.as_str());
    for reason in &o.status.reasons {
        println!("            {}", Escaped(reason));
    }
    let now = llmnode::store::now_ms();
    let hints: Vec<String> =
        r.secret_hints.iter().map(|s| format!("{} {} (set {} days ago)", s.field, s.hint, s.age_days(now))).collect();
    println!("secrets     {}", Escaped(&if hints.is_empty() { "none".to_string() } else { hints.join(", ") }));
    println!();
    let mut table = Table::new(&[("setting", Align::Left), ("value", Align::Left), ("from", Align::Left)]);
    for e in effective::settings(&r.settings, plugin) {
        let value = match &e.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        table.row(&[e.setting, &value, e.source.as_str()]);
    }
    table.print();
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
    if let Some(m) = &o.answered_model {
        println!("answered by  {}", Escaped(m));
    }
    if let Some(a) = &o.answer {
        println!("answer       {:?}", Escaped(a).to_string());
    }
    println!("detail       {}", Escaped(&o.detail));
}
