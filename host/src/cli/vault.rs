//! `llmnode vault rotate`: a new master key, every data key re-wrapped.
//!
//! With a key file the new key is written beside the old one first, the store
//! is re-wrapped in one transaction, and only then is the new file renamed over
//! the old: at every moment one of the two files opens the store.

use super::{Env, Failure};
use clap::Subcommand;
use llmnode::vault::{MASTER_KEY_ENV, MasterKey, key_file_path};

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Re-wrap every workspace's data key under a new master key.
    Rotate {
        /// With LLMNODE_MASTER_KEY: the variable holding the new key (base64 of 32 bytes).
        #[arg(long, value_name = "VAR")]
        new_key_env: Option<String>,
    },
}

pub fn run(env: &Env, command: VaultCommand) -> Result<(), Failure> {
    let VaultCommand::Rotate { new_key_env } = command;
    let mut admin = env.admin()?;
    let dir = env.require_data_dir()?;
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        let var = new_key_env.ok_or_else(|| {
            Failure::input(format!(
                "the master key comes from {MASTER_KEY_ENV}; pass --new-key-env VAR naming the variable with the new key"
            ))
        })?;
        let value =
            std::env::var(&var).map_err(|_| Failure::input(format!("environment variable {var} is not set")))?;
        let new = MasterKey::load(Some(&value), &dir).map_err(Failure::input)?;
        let n = admin.rotate_master_key(new).map_err(Failure::input)?;
        println!("re-wrapped {n} workspace key(s); set {MASTER_KEY_ENV} to the value of {var} from now on");
        return Ok(());
    }
    let current = key_file_path(&dir);
    let staged = current.with_extension("key.new");
    if staged.exists() {
        return Err(Failure::input(format!(
            "{} exists from an interrupted rotation; if `llmnode audit --action vault.rotate` shows it completed, \
             move it over {}, otherwise delete it, then run again",
            staged.display(),
            current.display()
        )));
    }
    // Check the current key opens everything before writing anything.
    admin.check_master_key().map_err(Failure::input)?;
    let new = MasterKey::create_file(&staged).map_err(Failure::input)?;
    if let Err(e) = admin.rotate_master_key(new) {
        let _ = std::fs::remove_file(&staged);
        return Err(Failure::input(e));
    }
    std::fs::rename(&staged, &current).map_err(|e| {
        Failure::run(format!(
            "the store now uses the key in {}, but moving it over {} failed: {e}; move it by hand",
            staged.display(),
            current.display()
        ))
    })?;
    println!("rotated the master key ({}); back up the new file", current.display());
    Ok(())
}
