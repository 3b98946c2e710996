//! `llmnode prices`: what each model costs. The plugins' tables are the
//! default; an operator's override (negotiated rates, a new model) wins for
//! its workspace from the next run on.

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::escape::Escaped;
use llmnode::store::{price_rows, workspaces};
use llmnode::usage::Prices;

#[derive(Args)]
pub struct PricesArgs {
    /// The workspace whose overrides to show or change. Default: `default`.
    #[arg(long, short = 'w', global = true, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    #[command(subcommand)]
    command: PricesCommand,
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Every model's prices (USD per million tokens): the plugins' tables and the overrides.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Override a model's prices (USD per million tokens).
    Set {
        /// The plugin's provider name (e.g. `openai`).
        provider: String,
        /// The model id, as nodes name it.
        model: String,
        /// USD per million input tokens billed at the full price.
        #[arg(long, value_name = "USD")]
        input: f64,
        /// USD per million output tokens.
        #[arg(long, value_name = "USD")]
        output: f64,
        /// USD per million tokens read from the provider's cache. Default: the input price.
        #[arg(long, value_name = "USD")]
        cache_read: Option<f64>,
        /// USD per million tokens written to the provider's cache. Default: the input price.
        #[arg(long, value_name = "USD")]
        cache_write: Option<f64>,
        /// USD per million cache-write tokens of entries asked to live over 5 minutes (Anthropic's
        /// 1-hour cache). Default: the --cache-write price.
        #[arg(long, value_name = "USD")]
        cache_write_long: Option<f64>,
        /// USD per million reasoning (thinking) tokens, where they cost other than output tokens.
        /// Default: the output price.
        #[arg(long, value_name = "USD")]
        reasoning: Option<f64>,
    },
    /// Drop an override and go back to the plugin's price.
    Unset {
        /// The plugin's provider name.
        provider: String,
        /// The model id.
        model: String,
    },
}

pub fn run(env: &Env, args: PricesArgs) -> Result<(), Failure> {
    match args.command {
        PricesCommand::List { json } => list(env, &args.workspace, json),
        PricesCommand::Set { provider, model, input, output, cache_read, cache_write, cache_write_long, reasoning } => {
            let prices = Prices { input, output, cache_read, cache_write, cache_write_long, reasoning };
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
            let prices = overridden.unwrap_or_else(|| Prices::of(m, plugin.details()));
            rows.push((name.to_string(), m.id.clone(), prices, overridden.is_some()));
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
    let mut table = Table::new(&[
        ("provider", Align::Left),
        ("model", Align::Left),
        ("input", Align::Right),
        ("output", Align::Right),
        ("cache read", Align::Right),
        ("cache write", Align::Right),
        ("cache write >5m", Align::Right),
        ("reasoning", Align::Right),
        ("", Align::Left),
    ]);
    let opt = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_else(|| "-".into());
    for (provider, model, p, overridden) in rows {
        let mark = if overridden { "(override)" } else { "" };
        table.row(&[
            provider,
            model,
            p.input.to_string(),
            p.output.to_string(),
            opt(p.cache_read),
            opt(p.cache_write),
            opt(p.cache_write_long),
            opt(p.reasoning),
            mark.to_string(),
        ]);
    }
    table.print();
    Ok(())
}
