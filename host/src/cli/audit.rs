//! `llmnode audit`: the append-only record of changes, newest first.

use super::{Env, Failure};
use clap::Args;
use llmnode::escape::Escaped;
use llmnode::store::audit::{self, AuditFilter};

#[derive(Args)]
pub struct AuditArgs {
    /// Only this workspace.
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
    /// At most this many entries.
    #[arg(long, default_value_t = 50)]
    limit: u32,
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
    for e in entries {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.at_ms.max(0) as u64);
        println!(
            "{}  {:<10} {:<14} {:<20} {:<16} {}",
            humantime::format_rfc3339_seconds(at),
            Escaped(e.workspace.as_deref().unwrap_or("-")),
            Escaped(&e.actor),
            Escaped(&e.action),
            Escaped(&e.target),
            Escaped(&e.detail.to_string())
        );
    }
    Ok(())
}
