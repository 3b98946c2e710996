//! `llmnode models`: per connection, the models it serves with context
//! window, maximum output, modalities, capabilities and prices as calls are
//! charged (the workspace's overrides applied).

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::Args;
use llmnode::admin::catalogue::{ModelEntry, PriceSource};

#[derive(Args)]
pub struct ModelsArgs {
    /// Only this connection's models.
    #[arg(long, short = 'c', value_name = "NAME")]
    connection: Option<String>,
    /// The workspace whose connections to list. Default: `default`.
    #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(env: &Env, args: ModelsArgs) -> Result<(), Failure> {
    let runtime = env.runtime()?;
    let registry = env.registry(&runtime)?;
    let entries =
        env.admin()?.model_catalogue(&args.workspace, &registry, args.connection.as_deref()).map_err(Failure::input)?;
    if args.json {
        super::print_json(&entries);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("connection", Align::Left),
        ("model", Align::Left),
        ("window", Align::Right),
        ("max out", Align::Right),
        ("in", Align::Left),
        ("out", Align::Left),
        ("capabilities", Align::Left),
        ("$/M in", Align::Right),
        ("$/M out", Align::Right),
        ("cache read", Align::Right),
        ("cache write", Align::Right),
        ("write >5m", Align::Right),
        ("reasoning", Align::Right),
        ("", Align::Left),
    ]);
    for e in &entries {
        table.row(&row(e));
    }
    table.print();
    Ok(())
}

/// One table row; `-` where a value is unknown or the price falls back.
fn row(e: &ModelEntry) -> Vec<String> {
    let n = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let usd = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let p = e.prices.unwrap_or_default();
    let priced = e.prices.is_some();
    vec![
        e.connection.clone(),
        e.model.clone(),
        n(e.context_window),
        n(e.max_output_tokens),
        e.input_modalities.join(","),
        e.output_modalities.join(","),
        e.capabilities.join(","),
        usd(priced.then_some(p.input)),
        usd(priced.then_some(p.output)),
        usd(p.cache_read),
        usd(p.cache_write),
        usd(p.cache_write_long),
        usd(p.reasoning),
        match e.price_source {
            PriceSource::Override => "(override)",
            PriceSource::Plugin => "",
            PriceSource::Unpriced => "(unpriced)",
        }
        .to_string(),
    ]
}
