//! `llmnode prices`: what each model costs. The plugins' tables are the
//! default; an operator's override (negotiated rates, a new model) wins for
//! its workspace from the next run on.

use super::operator::DEFAULT_WORKSPACE;
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::escape::Escaped;
use llmnode::store::{price_rows, workspaces};
use llmnode::usage::Prices;

#[derive(Args)]
pub struct PricesArgs {
    /// The workspace.
    #[arg(long, short = 'w', global = true, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    #[command(subcommand)]
    command: PricesCommand,
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Every model's prices (USD per million tokens): the plugins' tables and the overrides.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Override a model's prices (USD per million tokens).
    Set {
        provider: String,
        model: String,
        #[arg(long)]
        input: f64,
        #[arg(long)]
        output: f64,
        /// Price of cache reads (default: the input price).
        #[arg(long)]
        cache_read: Option<f64>,
        /// Price of cache writes (default: the input price).
        #[arg(long)]
        cache_write: Option<f64>,
    },
    /// Drop an override and go back to the plugin's price.
    Unset { provider: String, model: String },
}

pub fn run(env: &Env, args: PricesArgs) -> Result<(), Failure> {
    match args.command {
        PricesCommand::List { json } => list(env, &args.workspace, json),
        PricesCommand::Set { provider, model, input, output, cache_read, cache_write } => {
            let prices = Prices { input, output, cache_read, cache_write };
            env.admin()?.set_price(&args.workspace, &provider, &model, prices).map_err(Failure::input)?;
            let (provider, model, ws) = (Escaped(&provider), Escaped(&model), Escaped(&args.workspace));
            println!("{provider}/{model} now costs ${input}/M input, ${output}/M output in {ws}");
            Ok(())
        }
        PricesCommand::Unset { provider, model } => {
            env.admin()?.unset_price(&args.workspace, &provider, &model).map_err(Failure::input)?;
            let (provider, model, ws) = (Escaped(&provider), Escaped(&model), Escaped(&args.workspace));
            println!("{provider}/{model} is priced by its plugin again in {ws}");
            Ok(())
        }
    }
}

fn list(env: &Env, workspace: &str, json: bool) -> Result<(), Failure> {
    let store = env.store()?;
    let ws = workspaces::get(store.db(), workspace).map_err(Failure::input)?;
    let book = price_rows::book(store.db(), ws.id).map_err(Failure::input)?;
    let runtime = env.runtime()?;
    let registry = env.registry(&runtime)?;
    let mut rows = Vec::new();
    for name in registry.names() {
        let Some(plugin) = registry.get(name) else { continue };
        for m in &plugin.info().models {
            let overridden = book.get(name, &m.id);
            rows.push((name.to_string(), m.id.clone(), overridden.unwrap_or(Prices::of(m)), overridden.is_some()));
        }
    }
    for o in price_rows::list(store.db(), ws.id).map_err(Failure::input)? {
        if !rows.iter().any(|(p, m, _, _)| *p == o.provider && *m == o.model) {
            rows.push((o.provider, o.model, o.prices, true));
        }
    }
    if json {
        let value: Vec<_> = rows
            .iter()
            .map(|(provider, model, prices, overridden)| {
                serde_json::json!({ "provider": provider, "model": model, "prices": prices, "override": overridden })
            })
            .collect();
        super::print_json(&value);
        return Ok(());
    }
    println!(
        "{:<10} {:<28} {:>9} {:>9} {:>11} {:>12}",
        "provider", "model", "input", "output", "cache read", "cache write"
    );
    for (provider, model, p, overridden) in rows {
        let opt = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_else(|| "-".into());
        let mark = if overridden { "  (override)" } else { "" };
        let (provider, model) = (Escaped(&provider), Escaped(&model));
        println!(
            "{provider:<10} {model:<28} {:>9} {:>9} {:>11} {:>12}{mark}",
            p.input,
            p.output,
            opt(p.cache_read),
            opt(p.cache_write)
        );
    }
    Ok(())
}
