//! `llmnode audit`: the append-only record of changes, newest first.

use super::table::{Align, Table};
use super::{Env, Failure};
use clap::Args;
use llmnode::store::audit::{self, AuditFilter};

#[derive(Args)]
pub struct AuditArgs {
    /// Only this workspace. Default: every workspace.
    #[arg(long, short = 'w')]
    workspace: Option<String>,
    /// Only this action, e.g. `connection.edit`.
    #[arg(long)]
    action: Option<String>,
    /// Only entries about this connection (or other target).
    #[arg(long)]
    target: Option<String>,
    /// Only this actor, e.g. `cli:alice`.
    #[arg(long)]
    actor: Option<String>,
    /// At most this many entries, newest first.
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(env: &Env, args: AuditArgs) -> Result<(), Failure> {
    let admin = env.admin()?;
    let filter = AuditFilter {
        workspace: args.workspace,
        action: args.action,
        target: args.target,
        actor: args.actor,
        since_ms: None,
        limit: Some(args.limit),
    };
    let entries = audit::list(admin.store.db(), &filter).map_err(Failure::input)?;
    if args.json {
        super::print_json(&entries);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("at", Align::Left),
        ("workspace", Align::Left),
        ("actor", Align::Left),
        ("action", Align::Left),
        ("target", Align::Left),
        ("detail", Align::Left),
    ]);
    for e in entries {
        table.row(&[
            super::report::at(e.at_ms),
            e.workspace.clone().unwrap_or_else(|| "-".into()),
            e.actor,
            e.action,
            e.target,
            e.detail.to_string(),
        ]);
    }
    table.print();
    Ok(())
}
