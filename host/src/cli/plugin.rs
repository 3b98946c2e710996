//! `llmnode plugin new|build|test`: the integrator's side of the plugin kit
//! (`llmnode plugins …` is the operator's).

use super::plugins::print_details;
use super::{Env, Failure};
use clap::Subcommand;
use llmnode::escape::Escaped;
use llmnode::kit::{self, KitError};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Scaffold a plugin crate on the SDK: source, a first test, a fixture, a README.
    New {
        /// The plugin's name (a-z, 0-9, - and _), also its crate's name.
        name: String,
        /// Where to create it (default: ./NAME); must be empty or absent.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The SDK to depend on (default: the `sdk` of the checkout llmnode was built from).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin crate for wasm32-wasip2; print its sha256, size and info.
    Build {
        /// The plugin crate (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Replay recorded fixtures through a built plugin and report every mismatch.
    Test {
        /// The plugin's `.wasm` file.
        plugin: PathBuf,
        /// A directory of fixture files (`*.json`), or one fixture file.
        #[arg(long, value_name = "PATH")]
        fixtures: PathBuf,
    },
}

pub fn run(env: &Env, command: PluginCommand) -> Result<(), Failure> {
    match command {
        PluginCommand::New { name, dir, sdk } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let sdk = sdk.unwrap_or_else(kit::scaffold::default_sdk);
            let files = kit::scaffold::create(&name, &dir, &sdk).map_err(failure)?;
            println!("created plugin `{name}` in {}:", dir.display());
            for f in files {
                println!("  {}", f.display());
            }
            println!("next: cd {} && llmnode plugin build", dir.display());
        }
        PluginCommand::Build { dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let wasm = kit::compile::build(&dir).map_err(failure)?;
            let plugin = env.runtime()?.load_file(&wasm).map_err(Failure::plugin)?;
            let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
            println!("built {}", wasm.display());
            println!("  size          {size} bytes");
            print_details(&plugin);
            println!("install with: llmnode plugins install {} --sha256 {}", wasm.display(), plugin.sha256());
        }
        PluginCommand::Test { plugin, fixtures } => {
            let plugin = env.runtime()?.load_file(&plugin).map_err(Failure::plugin)?;
            let outcomes = kit::check::run_all(&plugin, &fixtures).map_err(failure)?;
            let failed = outcomes.iter().filter(|o| !o.passed()).count();
            for o in &outcomes {
                let about = o.description.as_deref().map(|d| format!("  ({})", Escaped(d))).unwrap_or_default();
                println!("{} {}{about}", if o.passed() { "ok  " } else { "FAIL" }, o.file.display());
                for m in &o.mismatches {
                    println!("       {}", Escaped(&m.to_string()));
                }
            }
            println!("{} passed, {failed} failed", outcomes.len() - failed);
            if failed > 0 {
                return Err(Failure::run(format!(
                    "{failed} of {} fixtures failed against plugin `{}`",
                    outcomes.len(),
                    plugin.name()
                )));
            }
        }
    }
    Ok(())
}

/// The exit code a kit error deserves: 3 for a plugin that cannot be loaded,
/// 1 for a build that failed, 2 for bad input.
pub(super) fn failure(e: KitError) -> Failure {
    match e {
        KitError::Plugin(_) => Failure::plugin(e),
        KitError::Build { .. } => Failure::run(e),
        _ => Failure::input(e),
    }
}
