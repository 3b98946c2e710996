//! `llmnode workspaces …`: creating a workspace is its own explicit action;
//! every other command refuses a workspace that does not exist. `set` and
//! `show` govern one: the approval workflow and the prompt monitor's policy.

use super::operator::DEFAULT_WORKSPACE;
use super::table::{Align, Table};
use super::{Env, Failure};
use clap::Subcommand;
use llmnode::escape::Escaped;
use llmnode::monitor::Action;
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
    /// Change how a workspace is governed; only the settings named change.
    Set {
        /// The workspace. Default: `default`.
        #[arg(default_value = DEFAULT_WORKSPACE)]
        name: String,
        /// New connections, changed base URLs or keys, and installed plugins
        /// wait for another admin's approval (`true` if given alone). Default: false.
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        require_approval: Option<bool>,
        /// What a secret (AWS, GitHub, Slack, Google, OpenAI, Stripe keys, private keys, JWTs) in a prompt does: off, alert, redact or block. Default: alert.
        #[arg(long, value_name = "ACTION")]
        secrets: Option<Action>,
        /// What a Luhn-valid payment card number in a prompt does: off, alert, redact or block. Default: alert.
        #[arg(long, value_name = "ACTION")]
        cards: Option<Action>,
        /// What prompt bytes per hour over 1 MiB and 10x their sender's trailing average do: off, alert or block. Default: alert.
        #[arg(long, value_name = "ACTION")]
        volume: Option<Action>,
    },
    /// Show how a workspace is governed.
    Show {
        /// The workspace. Default: `default`.
        #[arg(default_value = DEFAULT_WORKSPACE)]
        name: String,
        /// Print JSON.
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
        WorkspacesCommand::Set { name, require_approval, secrets, cards, volume } => {
            let mut admin = env.admin()?;
            super::operator::require_workspace(&admin, &name)?;
            let mut settings = workspaces::get(admin.store.db(), &name).map_err(Failure::input)?.settings;
            settings.require_approval = require_approval.unwrap_or(settings.require_approval);
            settings.monitor.secrets = secrets.unwrap_or(settings.monitor.secrets);
            settings.monitor.cards = cards.unwrap_or(settings.monitor.cards);
            settings.monitor.volume = volume.unwrap_or(settings.monitor.volume);
            admin.set_workspace_settings(&name, settings).map_err(Failure::input)?;
            println!("updated workspace `{}`", Escaped(&name));
        }
        WorkspacesCommand::Show { name, json } => {
            let store = env.store()?;
            let ws = workspaces::get(store.db(), &name).map_err(Failure::input)?;
            if json {
                super::print_json(&serde_json::json!({ "name": ws.name, "settings": ws.settings }));
                return Ok(());
            }
            let m = ws.settings.monitor;
            println!("workspace         {}", Escaped(&ws.name));
            println!("require approval  {}", ws.settings.require_approval);
            println!("monitor secrets   {}", m.secrets.as_str());
            println!("monitor cards     {}", m.cards.as_str());
            println!("monitor volume    {}", m.volume.as_str());
        }
    }
    Ok(())
}
