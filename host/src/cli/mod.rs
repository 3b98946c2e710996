//! The `llmnode` command line. Errors reach the user as one clear message and a
//! meaningful exit code: 0 success, 1 a run that failed, 2 bad input
//! (workflow, connections, arguments), 3 a plugin that cannot be loaded.

mod access;
mod alerts;
mod approvals;
mod audit;
mod connections;
mod demo;
mod init;
mod log_fields;
mod logging;
mod models;
mod operator;
mod plugin;
mod plugins;
mod prices;
mod progress;
mod recording;
mod report;
mod run;
mod serve;
mod table;
mod usage;
mod vault;
mod workspaces;

use clap::{Parser, Subcommand};
use llmnode::escape::{escape_json, escape_lines};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run the llm nodes of JSON workflows against many LLM providers, each a
/// sandboxed WebAssembly plugin.
#[derive(Parser)]
#[command(name = "llmnode", version, about, propagate_version = true)]
pub struct Cli {
    /// Where llmnode keeps its state: the store, the master key file, the plugin cache.
    #[arg(long, env = "LLMNODE_DATA_DIR", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// The store, when it is not the data directory's SQLite file: a
    /// PostgreSQL URL (`postgres://user:password@host:5432/db`) that several
    /// daemons share. The master key and plugin cache stay in the data directory.
    #[arg(long, env = "LLMNODE_STORE_URL", global = true, value_name = "URL", hide_env_values = true)]
    store: Option<String>,

    /// A directory of extra provider plugins (`*.wasm`).
    #[arg(long, env = "LLMNODE_PLUGINS_DIR", global = true, value_name = "DIR")]
    plugins_dir: Option<PathBuf>,

    /// Log filter, e.g. `info` or `llmnode=debug` (logs go to stderr).
    #[arg(long, env = "LLMNODE_LOG", global = true, default_value = "warn", value_name = "FILTER")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workflow.
    Run(run::RunArgs),
    /// List, install, inspect or remove provider plugins.
    Plugins {
        #[command(subcommand)]
        command: plugins::PluginsCommand,
    },
    /// Make a provider plugin: scaffold, build, and test it against recorded fixtures.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// A self-contained tour: a simulated provider on loopback, the real OpenAI
    /// plugin, a failover, a streamed answer and a usage table. No keys, no network.
    Demo(demo::DemoArgs),
    /// Create the data directory, the master key file, the store and the `default` workspace.
    Init,
    /// Create, list, show or govern workspaces (other commands refuse one that does not exist).
    Workspaces {
        #[command(subcommand)]
        command: workspaces::WorkspacesCommand,
    },
    /// Add, list, show, edit, test, disable, enable or delete connections.
    Connections(Box<connections::ConnectionsArgs>),
    /// Changes awaiting a second admin's approval: list, approve or reject them.
    Approvals(approvals::ApprovalsArgs),
    /// The audit log of every change to connections and keys.
    Audit(audit::AuditArgs),
    /// Requests per day, cost by model, top workflows and per-connection usage.
    Usage(usage::UsageArgs),
    /// Alerts that fired, and their thresholds and webhook.
    Alerts(alerts::AlertsArgs),
    /// Model prices: the plugins' tables and the workspace's overrides.
    Prices(prices::PricesArgs),
    /// The models each connection serves: window, max output, modalities, capabilities, prices.
    Models(models::ModelsArgs),
    /// Users of the daemon's API.
    Users {
        #[command(subcommand)]
        command: access::UsersCommand,
    },
    /// API tokens: a role in a workspace for a user.
    Tokens {
        #[command(subcommand)]
        command: access::TokensCommand,
    },
    /// The daemon: HTTP API, OpenAI-compatible endpoint, metrics and dashboard.
    Serve(serve::ServeArgs),
    /// Master key operations.
    Vault {
        #[command(subcommand)]
        command: vault::VaultCommand,
    },
}

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Bad input from the user (exit 2).
    pub fn input(message: impl std::fmt::Display) -> Self {
        Failure { code: 2, message: message.to_string() }
    }

    /// A plugin could not be loaded (exit 3).
    pub fn plugin(message: impl std::fmt::Display) -> Self {
        Failure { code: 3, message: message.to_string() }
    }

    /// The run itself failed (exit 1).
    pub fn run(message: impl std::fmt::Display) -> Self {
        Failure { code: 1, message: message.to_string() }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure { code: 1, message: format!("{e:#}") }
    }
}

/// Parse arguments, run, and turn the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_on_closed_pipe();
    }
    let telemetry = logging::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // Out of the runtime: the exporters' own threads send what is buffered.
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("error: {}", escape_lines(&f.message));
            }
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let env =
        Env { data_dir: cli.data_dir.or_else(default_data_dir), plugins_dir: cli.plugins_dir, store_url: cli.store };
    match cli.command {
        Command::Run(args) => run::run(&env, args).await,
        Command::Plugins { command } => plugins::run(&env, command),
        Command::Plugin { command } => plugin::run(&env, command),
        Command::Demo(args) => demo::run(&env, args).await,
        Command::Init => init::run(&env),
        Command::Workspaces { command } => workspaces::run(&env, command),
        Command::Connections(args) => connections::run(&env, *args).await,
        Command::Approvals(args) => approvals::run(&env, args),
        Command::Audit(args) => audit::run(&env, args),
        Command::Usage(args) => usage::run(&env, args),
        Command::Alerts(args) => alerts::run(&env, args),
        Command::Prices(args) => prices::run(&env, args),
        Command::Models(args) => models::run(&env, args),
        Command::Serve(args) => serve::run(&env, args).await,
        Command::Vault { command } => vault::run(&env, command),
        Command::Users { command } => access::users(&env, command),
        Command::Tokens { command } => access::tokens(&env, command),
    }
}

/// Settings every command shares.
pub struct Env {
    data_dir: Option<PathBuf>,
    plugins_dir: Option<PathBuf>,
    /// `--store`: a PostgreSQL URL, if the store is not the data directory's file.
    store_url: Option<String>,
}

impl Env {
    /// The plugin runtime, with the compiled-artifact cache under the data dir.
    fn runtime(&self) -> Result<llmnode::runtime::PluginRuntime, Failure> {
        let cache = self.data_dir.as_ref().map(|d| d.join("cache").join("plugins"));
        llmnode::runtime::PluginRuntime::new(Default::default(), cache.as_deref()).map_err(Failure::plugin)
    }

    /// Bundled plugins, the plugin directory's, then the installed ones.
    fn registry(&self, runtime: &llmnode::runtime::PluginRuntime) -> Result<llmnode::runtime::PluginRegistry, Failure> {
        let installed = self.installed_plugins()?;
        llmnode::runtime::PluginRegistry::load_with_installed(runtime, self.plugins_dir.as_deref(), &installed)
            .map_err(Failure::plugin)
    }
}

/// Let a command whose output goes to a reader that stops early (`llmnode
/// usage | head`) end quietly, as other command-line tools do, instead of
/// panicking on the broken pipe: writing to a closed pipe ends the process.
/// Not for the daemon, whose sockets report a closed peer as an error.
#[cfg(unix)]
fn quiet_on_closed_pipe() {
    // SAFETY: restores the default disposition of one signal before any
    // thread starts; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn quiet_on_closed_pipe() {}

/// Print `value` as pretty JSON on standard output, with what a terminal
/// would act on written as `\u` escapes (still the same JSON).
fn print_json(value: &impl serde::Serialize) {
    println!("{}", escape_json(serde_json::to_string_pretty(value).unwrap_or_default()));
}

fn default_data_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("llmnode"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/share/llmnode"))
}
