//! `llmnode approvals list|approve ID|reject ID`: changes awaiting a second
//! admin. The CLI acts as `cli:ACCOUNT`, so the account that asked for a
//! change cannot approve it here either.

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::{Args, Subcommand};
use llmnode::escape::Escaped;

#[derive(Args)]
pub struct ApprovalsArgs {
    /// The workspace whose approvals to list or decide.
    #[arg(long, short = 'w', global = true, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// Changes awaiting approval, newest first.
    List {
        /// Decided ones too (approved, rejected, cancelled).
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve a change (not one you asked for): it applies and serves at once.
    Approve {
        /// The approval's number, as `approvals list` shows it.
        id: i64,
    },
    /// Reject a change: a new connection is deleted, an edit dropped.
    Reject {
        /// The approval's number, as `approvals list` shows it.
        id: i64,
    },
}

pub fn run(env: &Env, args: ApprovalsArgs) -> Result<(), Failure> {
    let mut admin = env.admin()?;
    let ws = args.workspace.as_str();
    super::operator::require_workspace(&admin, ws)?;
    match args.command {
        ApprovalsCommand::List { all, json } => {
            let rows = admin.approvals(ws, !all).map_err(Failure::input)?;
            if json {
                super::print_json(&rows);
                return Ok(());
            }
            let mut table = Table::new(&[
                ("id", Align::Right),
                ("change", Align::Left),
                ("target", Align::Left),
                ("requested by", Align::Left),
                ("at", Align::Left),
                ("state", Align::Left),
                ("decided by", Align::Left),
            ]);
            for r in rows {
                table.row(&[
                    r.id.to_string(),
                    r.kind,
                    r.target,
                    r.requested_by,
                    super::report::at(r.requested_ms),
                    r.state,
                    r.decided_by.unwrap_or_else(|| "-".into()),
                ]);
            }
            table.print();
        }
        ApprovalsCommand::Approve { id } | ApprovalsCommand::Reject { id } => {
            let approve = matches!(args.command, ApprovalsCommand::Approve { .. });
            let row = admin.decide_approval(ws, id, approve).map_err(Failure::input)?;
            println!("{} #{id}: {} of `{}`", row.state, row.kind, Escaped(&row.target));
        }
    }
    Ok(())
}
