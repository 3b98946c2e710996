//! What the operator commands share: the data directory, the store and the
//! vault opened from it, and who is acting.

use super::{Env, Failure};
use llmnode::admin::Admin;
use llmnode::store::{FILE_NAME, Store};
use llmnode::vault::{MASTER_KEY_ENV, Vault};
use std::path::PathBuf;

/// The workspace used when `--workspace` is not given.
pub const DEFAULT_WORKSPACE: &str = "default";

impl Env {
    /// The data directory, or a clear error when none can be determined.
    pub fn require_data_dir(&self) -> Result<PathBuf, Failure> {
        self.data_dir
            .clone()
            .ok_or_else(|| Failure::input("no data directory: pass --data-dir or set LLMNODE_DATA_DIR"))
    }

    /// Where the store file is, which `llmnode init` must have created.
    pub fn store_path(&self) -> Result<PathBuf, Failure> {
        let path = self.require_data_dir()?.join(FILE_NAME);
        if !path.exists() {
            return Err(Failure::input(format!("no store at {}: run `llmnode init` first", path.display())));
        }
        Ok(path)
    }

    /// True once `llmnode init` has created a store in the data directory.
    pub fn has_store(&self) -> bool {
        self.data_dir.as_ref().is_some_and(|d| d.join(FILE_NAME).exists())
    }

    /// The store alone (no keys needed).
    pub fn store(&self) -> Result<Store, Failure> {
        Store::open(&self.store_path()?).map_err(Failure::input)
    }

    /// Plugins the operator installed, if there is a store.
    pub fn installed_plugins(&self) -> Result<Vec<llmnode::store::plugin_rows::PluginRow>, Failure> {
        match self.has_store() {
            false => Ok(Vec::new()),
            true => llmnode::store::plugin_rows::list(self.store()?.db()).map_err(Failure::input),
        }
    }

    /// The store and vault of the data directory, acting as the current user.
    pub fn admin(&self) -> Result<Admin, Failure> {
        let dir = self.require_data_dir()?;
        let env_key = std::env::var(MASTER_KEY_ENV).ok();
        let vault = Vault::load(env_key.as_deref(), &dir).map_err(Failure::input)?;
        Ok(Admin::new(self.store()?, vault, actor()))
    }
}

/// Who the audit log records: `cli:` and the login name.
pub fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
