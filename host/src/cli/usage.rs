//! `llmnode usage`: what a workspace's runs did and cost, from its usage
//! events: requests per day as a terminal chart, cost by model, top workflows
//! by cost and per-connection totals (`--by user|token`: who caused it).
//! `--json` prints the same data; `usage export` writes every event of a
//! time range as CSV or JSON Lines.

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::{Args, Subcommand, ValueEnum};
use llmnode::escape::Escaped;
use llmnode::store::{now_ms, workspaces};
use llmnode::usage::export::{self, Encoder, Format};
use llmnode::usage::report::{self, Day, UsageReport};
use std::io::Write;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UsageArgs {
    #[command(subcommand)]
    export: Option<UsageCommand>,
    /// Which report (default: all of them).
    #[arg(value_enum, default_value_t = Which::All)]
    report: Which,
    /// Totals per user or per API token instead (who caused the usage).
    #[arg(long, value_enum, value_name = "GROUP")]
    by: Option<By>,
    /// The workspace to report on.
    #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    /// How many days back, today included (1 to 366).
    #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
    /// How many workflows to list by cost.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print JSON instead of tables and a chart.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum UsageCommand {
    /// Every usage event of a time range, one row per attempt (time,
    /// workspace, workflow, node, connection, provider, model, tokens, cost,
    /// latency, error class, user, token id), to stdout.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// From this UTC day (YYYY-MM-DD) or time (RFC 3339) on. Default: the first event.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Up to this UTC day, included (YYYY-MM-DD), or this time, excluded (RFC 3339). Default: now.
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// csv (RFC 4180, with a header; formula-like text cells get a leading ') or jsonl.
    #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
    format: String,
    /// The workspace to export.
    #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
    workspace: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum By {
    User,
    Token,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    All,
    Daily,
    Models,
    Workflows,
    Connections,
}

pub fn run(env: &Env, args: UsageArgs) -> Result<(), Failure> {
    if let Some(UsageCommand::Export(export)) = args.export {
        return run_export(env, export);
    }
    let store = env.store()?;
    let ws = workspaces::get(store.db(), &args.workspace).map_err(Failure::input)?;
    let r = report::build(store.db(), ws.id, &ws.name, args.days, args.top).map_err(Failure::input)?;
    if let Some(by) = args.by {
        let (lines, title, what) = match by {
            By::User => (&r.by_user, "usage by user", "user"),
            By::Token => (&r.by_token, "usage by API token", "token"),
        };
        match args.json {
            true => super::print_json(&serde_json::to_value(lines).unwrap_or_default()),
            false => print_named(title, what, lines),
        }
        return Ok(());
    }
    if args.json {
        let value = match args.report {
            Which::All => serde_json::to_value(&r),
            Which::Daily => serde_json::to_value(&r.daily),
            Which::Models => serde_json::to_value(&r.by_model),
            Which::Workflows => serde_json::to_value(&r.top_workflows),
            Which::Connections => serde_json::to_value(&r.by_connection),
        };
        super::print_json(&value.unwrap_or_default());
        return Ok(());
    }
    let all = args.report == Which::All;
    if all {
        println!(
            "workspace {}: {} requests, {} failed, ${:.4} over the last {} days\n",
            Escaped(&r.workspace),
            r.total.totals.requests,
            r.total.totals.errors,
            r.total.cost_usd,
            r.days
        );
    }
    if all || args.report == Which::Daily {
        print_chart(&r.daily);
    }
    if all || args.report == Which::Models {
        print_models(&r);
    }
    if all || args.report == Which::Workflows {
        print_named("top workflows by cost", "workflow", &r.top_workflows);
    }
    if all || args.report == Which::Connections {
        print_named("connections", "connection", &r.by_connection);
    }
    Ok(())
}

/// Write the export to stdout as it is read, page by page.
fn run_export(env: &Env, args: ExportArgs) -> Result<(), Failure> {
    let format: Format = args.format.parse().map_err(Failure::input)?;
    let from = args.from.as_deref().map(|t| export::parse_time(t, false)).transpose().map_err(Failure::input)?;
    let to = args.to.as_deref().map(|t| export::parse_time(t, true)).transpose().map_err(Failure::input)?;
    let (from, to) = (from.unwrap_or(0), to.unwrap_or_else(|| now_ms() + 1));
    if from >= to {
        return Err(Failure::input("--from must be before --to"));
    }
    let store = env.store()?;
    let ws = workspaces::get(store.db(), &args.workspace).map_err(Failure::input)?;
    let mut encoder = Encoder::new(format, &ws.name);
    let mut stdout = std::io::stdout().lock();
    let mut failed = None;
    export::export(store.db(), ws.id, &mut encoder, from, to, |bytes| match stdout.write_all(&bytes) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })
    .map_err(Failure::input)?;
    match failed.or_else(|| stdout.flush().err()) {
        Some(e) => Err(Failure::run(format!("the export could not be written: {e}"))),
        None => Ok(()),
    }
}

/// Bar width of the busiest day.
const BAR: usize = 40;

/// `value` of `max` as a bar of eighth blocks.
fn bar(value: u64, max: u64) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (value as u128 * (BAR as u128 * 8)).checked_div(max as u128).unwrap_or(0) as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8]);
    }
    s
}

fn print_chart(days: &[Day]) {
    println!("requests per day");
    let max = days.iter().map(|d| d.line.totals.requests).max().unwrap_or(0);
    for d in days {
        let t = &d.line.totals;
        let failed = if t.errors > 0 { format!(" ({} failed)", t.errors) } else { String::new() };
        println!("  {} │{:<BAR$} {}{failed}", d.date, bar(t.requests, max), t.requests);
    }
    println!();
}

fn print_models(r: &UsageReport) {
    println!("cost by model");
    if r.by_model.is_empty() {
        println!("  no requests\n");
        return;
    }
    let mut table = Table::new(&[
        ("model", Align::Left),
        ("provider", Align::Left),
        ("requests", Align::Right),
        ("input tokens", Align::Right),
        ("cached", Align::Right),
        ("output tokens", Align::Right),
        ("cost", Align::Right),
    ])
    .indent(2);
    for m in &r.by_model {
        let t = &m.line.totals;
        table.row(&[
            m.model.clone(),
            m.provider.clone(),
            t.requests.to_string(),
            t.prompt_tokens().to_string(),
            (t.cache_read_tokens + t.cache_write_tokens).to_string(),
            t.output_tokens.to_string(),
            format!("${:.4}{}", m.line.cost_usd, if t.unpriced > 0 { "*" } else { "" }),
        ]);
    }
    table.print();
    let unpriced: u64 = r.by_model.iter().map(|m| m.line.totals.unpriced).sum();
    if unpriced > 0 {
        println!(
            "  * {unpriced} request(s) of models with no price were counted at $0: price them with \
             `llmnode prices set PROVIDER MODEL --input USD --output USD`"
        );
    }
    println!();
}

fn print_named(title: &str, what: &str, lines: &[report::NamedLine]) {
    println!("{title}");
    if lines.is_empty() {
        println!("  none\n");
        return;
    }
    let mut table = Table::new(&[
        (what, Align::Left),
        ("requests", Align::Right),
        ("failed", Align::Right),
        ("input tokens", Align::Right),
        ("output tokens", Align::Right),
        ("cost", Align::Right),
    ])
    .indent(2);
    for l in lines {
        let t = &l.line.totals;
        table.row(&[
            l.name.clone(),
            t.requests.to_string(),
            t.errors.to_string(),
            t.prompt_tokens().to_string(),
            t.output_tokens.to_string(),
            format!("${:.4}", l.line.cost_usd),
        ]);
    }
    table.print();
    println!();
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn bars_scale_to_the_busiest_day() {
        assert_eq!(bar(0, 0), "");
        assert_eq!(bar(10, 10).chars().count(), 40);
        assert_eq!(bar(1, 80), "▌");
    }
}
