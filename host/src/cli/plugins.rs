//! `llmnode plugins list|install|inspect|remove`: the operator's side of
//! plugins (`llmnode plugin …` is the integrator's).

use super::operator::actor;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::Subcommand;
use llmnode::escape::Escaped;
use llmnode::runtime::LoadedPlugin;
use llmnode::runtime::bindings::types::AuthScheme;
use llmnode::runtime::flag_names::{capability_names, modality_names};
use llmnode::store::{audit, plugin_rows};
use llmnode::usage::Prices;
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// List the bundled plugins and those in the plugin directory.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install a plugin whose sha256 you know: the file is checked against
    /// it first, then loaded in the sandbox, compiled once, copied into the
    /// data directory and recorded (a file changed later is refused).
    #[command(alias = "add")]
    Install {
        /// The plugin's `.wasm` file.
        file: PathBuf,
        /// The sha256 its author published (`llmnode plugin build` prints it).
        #[arg(long, value_name = "HEX")]
        sha256: String,
    },
    /// Uninstall a plugin by provider name.
    Remove {
        /// The plugin's provider name, as `plugins list` shows it.
        name: String,
    },
    /// Load a plugin file in the sandbox and show what it declares.
    Inspect {
        /// The plugin's `.wasm` file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(env: &Env, command: PluginsCommand) -> Result<(), Failure> {
    let runtime = env.runtime()?;
    match command {
        PluginsCommand::List { json } => {
            let registry = env.registry(&runtime)?;
            if json {
                let all: Vec<_> = registry.iter().map(|p| describe(p)).collect();
                super::print_json(&all);
            } else {
                let mut table = Table::new(&[
                    ("name", Align::Left),
                    ("version", Align::Left),
                    ("contract", Align::Left),
                    ("models", Align::Right),
                    ("origin", Align::Left),
                ]);
                for p in registry.iter() {
                    let i = p.info();
                    let models = i.models.len().to_string();
                    table.row(&[&i.name, &i.version, &i.contract_version, &models, p.origin()]);
                }
                table.print();
            }
        }
        PluginsCommand::Install { file, sha256 } => {
            let dir = env.require_data_dir()?.join("plugins");
            let mut store = env.store()?;
            let installed = llmnode::kit::install::install(&runtime, &mut store, &dir, &file, &sha256, &actor())
                .map_err(super::plugin::failure)?;
            println!(
                "installed plugin `{}` {} (contract {}, sha256 {})",
                Escaped(&installed.name),
                Escaped(&installed.version),
                installed.contract,
                installed.sha256
            );
        }
        PluginsCommand::Remove { name } => {
            let mut store = env.store()?;
            let removed = store
                .transaction(|tx| -> Result<_, llmnode::store::StoreError> {
                    let removed = plugin_rows::remove(tx, &name)?;
                    audit::append(tx, None, &actor(), "plugin.remove", &name, &serde_json::json!({}))?;
                    Ok(removed)
                })
                .map_err(Failure::input)?;
            for row in removed {
                let _ = std::fs::remove_file(&row.file);
            }
            println!("removed plugin `{}`", Escaped(&name));
        }
        PluginsCommand::Inspect { file, json } => {
            let plugin = runtime.load_file(&file).map_err(Failure::plugin)?;
            if json {
                super::print_json(&describe(&plugin));
            } else {
                print_details(&plugin);
            }
        }
    }
    Ok(())
}

fn auth_name(a: AuthScheme) -> &'static str {
    match a {
        AuthScheme::None => "none",
        AuthScheme::ApiKey => "api-key",
        AuthScheme::AwsSigv4 => "aws-sigv4",
        AuthScheme::GoogleServiceAccount => "google-service-account",
    }
}

fn describe(p: &LoadedPlugin) -> serde_json::Value {
    let i = p.info();
    json!({
        "name": i.name,
        "display_name": i.display_name,
        "version": i.version,
        "contract_version": i.contract_version,
        "origin": p.origin(),
        "sha256": p.sha256(),
        "auth": auth_name(i.auth),
        "default_base_url": i.default_base_url,
        "egress_hosts": i.egress_hosts,
        "capabilities": capability_names(i.capabilities),
        "models": i.models.iter().map(|m| json!({
            "id": m.id,
            "context_window": m.context_window,
            "max_output_tokens": m.max_output_tokens,
            "input_price_per_mtok": m.input_price,
            "output_price_per_mtok": m.output_price,
            "cached_input_price_per_mtok": m.cached_input_price,
            "cache_write_price_per_mtok": m.cache_write_price,
            "long_cache_write_price_per_mtok": Prices::of(m, p.details()).cache_write_long,
            "reasoning_price_per_mtok": m.reasoning_price,
            "input_modalities": modality_names(m.input_modalities),
            "output_modalities": modality_names(m.output_modalities),
            "capabilities": capability_names(m.capabilities),
        })).collect::<Vec<_>>(),
        "default_limits": { "rpm": p.details().default_rpm, "tpm": p.details().default_tpm },
    })
}

pub(super) fn print_details(p: &LoadedPlugin) {
    let i = p.info();
    println!("{} ({}) {}", Escaped(&i.display_name), Escaped(&i.name), Escaped(&i.version));
    println!("  contract      llmnode:provider@{}", Escaped(&i.contract_version));
    println!("  sha256        {}", p.sha256());
    println!("  auth          {}", auth_name(i.auth));
    println!("  base URL      {}", Escaped(&i.default_base_url));
    let egress = if i.egress_hosts.is_empty() { "(base URL only)".to_string() } else { i.egress_hosts.join(", ") };
    println!("  egress        {}", Escaped(&egress));
    println!("  capabilities  {}", capability_names(i.capabilities).join(", "));
    let limit = |v: Option<u32>| v.map_or("none".to_string(), |n| n.to_string());
    let d = p.details();
    println!("  default limits  rpm {}, tpm {}", limit(d.default_rpm), limit(d.default_tpm));
    println!("  models");
    let mut table = Table::new(&[
        ("id", Align::Left),
        ("context", Align::Right),
        ("in $/M", Align::Right),
        ("out $/M", Align::Right),
        ("cached $/M", Align::Right),
        ("cache write $/M", Align::Right),
        ("write >5m $/M", Align::Right),
    ])
    .indent(4);
    let price = |v: Option<f64>| v.map(|p| format!("{p:.3}")).unwrap_or_else(|| "-".into());
    for m in &i.models {
        table.row(&[
            m.id.clone(),
            m.context_window.to_string(),
            format!("{:.3}", m.input_price),
            format!("{:.3}", m.output_price),
            price(m.cached_input_price),
            price(m.cache_write_price),
            price(d.long_cache_write_price(&m.id)),
        ]);
    }
    table.print();
}
