//! `llmnode users …` and `llmnode tokens …`: who may use the daemon's API, with
//! which role in which workspace.

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::{Args, Subcommand, ValueEnum};
use llmnode::escape::Escaped;
use llmnode::store::users::TokenPolicy;
use llmnode::store::{users, workspaces};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user.
    Add {
        /// 1 to 128 printable characters.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// The user the token acts as (see `llmnode users add`).
        #[arg(long)]
        user: String,
        /// The one workspace the token reaches. Default: `default`.
        #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
        workspace: String,
        /// member: runs, stored workflows, reads; admin: also connections, routes, alerts, audit, metrics.
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
        #[command(flatten)]
        limits: TokenLimitArgs,
    },
    /// Set a token's own limits and allow-lists, replacing the ones it had
    /// (a flag left out lifts that limit).
    Limit {
        /// The token's id, as `tokens list` shows it.
        id: i64,
        /// The workspace the token belongs to. Default: `default`.
        #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
        workspace: String,
        #[command(flatten)]
        limits: TokenLimitArgs,
    },
    /// List a workspace's tokens (ids, users, roles; never the tokens).
    List {
        /// The workspace. Default: `default`.
        #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
        workspace: String,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id, as `tokens list` shows it.
        id: i64,
        /// The workspace the token belongs to. Default: `default`.
        #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
        workspace: String,
    },
}

/// A token's own limits, enforced beside its connections' (the call must
/// fit both).
#[derive(Args)]
pub struct TokenLimitArgs {
    /// Spend allowed per UTC day through this token, over all connections.
    #[arg(long, value_name = "USD")]
    daily_budget_usd: Option<f64>,
    /// Requests (attempts) per minute through this token, over all connections.
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// The only chat routes it may call (comma-separated); it then runs no workflows.
    #[arg(long, value_name = "ROUTE,...", value_delimiter = ',')]
    routes: Vec<String>,
    /// The only models it may use, on any connection (comma-separated).
    #[arg(long, value_name = "MODEL,...", value_delimiter = ',')]
    models: Vec<String>,
}

impl TokenLimitArgs {
    fn policy(self) -> TokenPolicy {
        let list = |v: Vec<String>| v.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        TokenPolicy {
            daily_budget_usd: self.daily_budget_usd,
            rpm: self.rpm,
            routes: list(self.routes),
            models: list(self.models),
        }
    }
}

/// A token's limits in a table cell.
fn describe(p: &TokenPolicy) -> String {
    let mut parts = Vec::new();
    if let Some(usd) = p.daily_budget_usd {
        parts.push(format!("${usd:.2}/day"));
    }
    if let Some(rpm) = p.rpm {
        parts.push(format!("{rpm} rpm"));
    }
    if !p.routes.is_empty() {
        parts.push(format!("routes {}", p.routes.join(",")));
    }
    if !p.models.is_empty() {
        parts.push(format!("models {}", p.models.join(",")));
    }
    if parts.is_empty() { "none".into() } else { parts.join("; ") }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
}

pub fn users(env: &Env, command: UsersCommand) -> Result<(), Failure> {
    let UsersCommand::Add { name } = command;
    env.admin()?.add_user(&name).map_err(Failure::input)?;
    println!("added user `{}`", Escaped(&name));
    Ok(())
}

pub fn tokens(env: &Env, command: TokensCommand) -> Result<(), Failure> {
    let mut admin = env.admin()?;
    match command {
        TokensCommand::Create { user, workspace, role, limits } => {
            let role = match role {
                RoleArg::Admin => users::Role::Admin,
                RoleArg::Member => users::Role::Member,
            };
            let (id, token) = admin.create_token(&user, &workspace, role, &limits.policy()).map_err(Failure::input)?;
            let (user, workspace) = (Escaped(&user), Escaped(&workspace));
            eprintln!("token {id} for `{user}` ({}) in `{workspace}`; it is shown only now:", role.as_str());
            println!("{}", token.expose());
        }
        TokensCommand::List { workspace } => {
            let ws = workspaces::get(admin.store.db(), &workspace).map_err(Failure::input)?;
            let mut table = Table::new(&[
                ("id", Align::Right),
                ("user", Align::Left),
                ("role", Align::Left),
                ("status", Align::Left),
                ("limits", Align::Left),
            ]);
            for t in users::list_tokens(admin.store.db(), ws.id).map_err(Failure::input)? {
                let status = if t.revoked_ms.is_some() { "revoked" } else { "live" };
                let role = t.role.as_str().to_string();
                table.row(&[t.id.to_string(), t.user, role, status.to_string(), describe(&t.policy)]);
            }
            table.print();
        }
        TokensCommand::Limit { id, workspace, limits } => {
            let policy = limits.policy();
            admin.limit_token(&workspace, id, &policy).map_err(Failure::input)?;
            println!("token {id} limits: {}", Escaped(&describe(&policy)));
        }
        TokensCommand::Revoke { id, workspace } => {
            admin.revoke_token(&workspace, id).map_err(Failure::input)?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
