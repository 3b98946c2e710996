//! `llmnode users …` and `llmnode tokens …`: who may use the daemon's API, with
//! which role in which workspace.

use super::operator::DEFAULT_WORKSPACE;
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
        #[arg(long)]
        user: String,
        #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
        workspace: String,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
    },
    /// List a workspace's tokens (ids, users, roles; never the tokens).
    List {
        #[arg(long, short = 'w', default_value = DEFAULT_WORKSPACE)]
        workspace: String,
    },
    /// Revoke a token by id.
    Revoke {
        id: i64,
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
            println!("{:<6} {:<16} {:<7} status", "id", "user", "role");
            for t in users::list_tokens(admin.store.db(), ws.id).map_err(Failure::input)? {
                let status = if t.revoked_ms.is_some() { "revoked" } else { "live" };
                println!("{:<6} {:<16} {:<7} {status}", t.id, Escaped(&t.user), t.role.as_str());
            }
        }
        TokensCommand::Revoke { id, workspace } => {
            admin.revoke_token(&workspace, id).map_err(Failure::input)?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
