//! `llmnode init`: the data directory, the master key file and the store.

use super::operator::{DEFAULT_WORKSPACE, actor};
use super::{Env, Failure};
use llmnode::admin::Admin;
use llmnode::store::Store;
use llmnode::vault::{MASTER_KEY_ENV, MasterKey, Vault, key_file_path};

pub fn run(env: &Env) -> Result<(), Failure> {
    let dir = env.require_data_dir()?;
    create_private_dir(&dir)?;
    let key_file = key_file_path(&dir);
    let master = match std::env::var(MASTER_KEY_ENV).ok() {
        Some(value) => {
            println!("master key: from {MASTER_KEY_ENV} (no key file written)");
            MasterKey::load(Some(&value), &dir).map_err(Failure::input)?
        }
        None if key_file.exists() => {
            println!("master key: {} (exists)", key_file.display());
            MasterKey::read_file(&key_file).map_err(Failure::input)?
        }
        None => {
            let key = MasterKey::create_file(&key_file).map_err(Failure::input)?;
            println!(
                "master key: {} (created, mode 0600; back it up: without it no key can be read)",
                key_file.display()
            );
            key
        }
    };
    let location = env.location_named()?;
    let store = Store::open(&location).map_err(Failure::input)?;
    let mut admin = Admin::new(store, Vault::new(master), actor());
    admin.ensure_workspace(DEFAULT_WORKSPACE).map_err(Failure::input)?;
    // A store whose data keys this master key cannot open is refused now, not at the first run.
    admin.check_master_key().map_err(Failure::input)?;
    println!("store: {location}");
    println!("workspace: {DEFAULT_WORKSPACE}");
    println!("next: llmnode connections add openai --provider openai --api-key-env OPENAI_API_KEY");
    Ok(())
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Failure::input(format!("cannot create the data directory {}: {e}", dir.display())))
}
