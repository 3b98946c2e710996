//! `llmnode workspaces …`: creating a workspace is its own explicit action;
//! every other command refuses a workspace that does not exist.

use super::table::{Align, Table};
use super::{Env, Failure};
use clap::Subcommand;
use llmnode::escape::Escaped;
use llmnode::store::workspaces;

#[derive(Subcommand)]
pub enum WorkspacesCommand {
    /// Create a workspace (its own data key; connections, keys, usage and limits apart from the others).
    Create {
        /// 1 to 128 printable characters, no `/`.
        name: String,
    },
    /// List the workspaces.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(env: &Env, command: WorkspacesCommand) -> Result<(), Failure> {
    match command {
        WorkspacesCommand::Create { name } => {
            env.admin()?.create_workspace(&name).map_err(Failure::input)?;
            println!("created workspace `{}`", Escaped(&name));
        }
        WorkspacesCommand::List { json } => {
            let store = env.store()?;
            let all = workspaces::list(store.db()).map_err(Failure::input)?;
            if json {
                let list: Vec<_> = all
                    .iter()
                    .map(|w| serde_json::json!({ "name": w.name, "created": super::report::at(w.created_ms) }))
                    .collect();
                super::print_json(&list);
                return Ok(());
            }
            let mut table = Table::new(&[("name", Align::Left), ("created", Align::Left)]);
            for w in &all {
                table.row(&[w.name.clone(), super::report::at(w.created_ms)]);
            }
            table.print();
        }
    }
    Ok(())
}
