//! `llmnode users …` and `llmnode tokens …`: who may use the daemon's API, with
//! which role in which workspace.

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::{Subcommand, ValueEnum};
use llmnode::escape::Escaped;
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
        TokensCommand::Create { user, workspace, role } => {
            let role = match role {
                RoleArg::Admin => users::Role::Admin,
                RoleArg::Member => users::Role::Member,
            };
            let (id, token) = admin.create_token(&user, &workspace, role).map_err(Failure::input)?;
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
            ]);
            for t in users::list_tokens(admin.store.db(), ws.id).map_err(Failure::input)? {
                let status = if t.revoked_ms.is_some() { "revoked" } else { "live" };
                table.row(&[t.id.to_string(), t.user, t.role.as_str().to_string(), status.to_string()]);
            }
            table.print();
        }
        TokensCommand::Revoke { id, workspace } => {
            admin.revoke_token(&workspace, id).map_err(Failure::input)?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
