//! What the operator commands share: the data directory, the store and the
//! vault opened from it, and who is acting.

use super::{Env, Failure};
use llmnode::admin::Admin;
use llmnode::store::{Location, Store, StoreError, workspaces};
use llmnode::vault::{MASTER_KEY_ENV, NEXT_MASTER_KEY_ENV, Vault};
use std::path::{Path, PathBuf};

/// The workspace used when `--workspace` is not given.
pub const DEFAULT_WORKSPACE: &str = "default";

impl Env {
    /// The data directory, or a clear error when none can be determined.
    pub fn require_data_dir(&self) -> Result<PathBuf, Failure> {
        self.data_dir
            .clone()
            .ok_or_else(|| Failure::input("no data directory: pass --data-dir or set LLMNODE_DATA_DIR"))
    }

    /// Where the store is: `--store` (a PostgreSQL URL) or the data
    /// directory's SQLite file, which `llmnode init` must have created.
    pub fn store_location(&self) -> Result<Location, Failure> {
        let location = self.location_named()?;
        if !location.exists() {
            return Err(Failure::input(format!("no store at {location}: run `llmnode init` first")));
        }
        Ok(location)
    }

    /// The store's location, whether or not it exists yet.
    pub fn location_named(&self) -> Result<Location, Failure> {
        match self.store_url.as_deref() {
            Some(url) => Ok(Location::resolve(Some(url), Path::new(""))),
            None => Ok(Location::resolve(None, &self.require_data_dir()?)),
        }
    }

    /// True once `llmnode init` has created a store (a PostgreSQL store
    /// always counts: it is created on first use).
    pub fn has_store(&self) -> bool {
        self.location_named().is_ok_and(|l| l.exists())
    }

    /// The store alone (no keys needed).
    pub fn store(&self) -> Result<Store, Failure> {
        Store::open(self.store_location()?).map_err(Failure::input)
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
        let next_key = std::env::var(NEXT_MASTER_KEY_ENV).ok();
        let vault = Vault::load(env_key.as_deref(), &dir)
            .and_then(|v| v.with_next(next_key.as_deref()))
            .map_err(Failure::input)?;
        Ok(Admin::new(self.store()?, vault, actor()))
    }
}

/// Refuse a workspace that does not exist, naming the ones that do and how
/// to create it: a mistyped `-w` never becomes a new, empty workspace.
pub fn require_workspace(admin: &Admin, name: &str) -> Result<(), Failure> {
    match workspaces::get(admin.store.db(), name) {
        Ok(_) => Ok(()),
        Err(e @ StoreError::NotFound { .. }) => Err(Failure::input(format!(
            "{e}; create it with `llmnode workspaces create {}`",
            llmnode::escape::Escaped(name)
        ))),
        Err(e) => Err(Failure::input(e)),
    }
}

/// Who the audit log records: `cli:` and the name of the account the process
/// runs as, from its uid (not `$USER`, which any caller can set), or
/// `cli:uid:N` for a uid with no account name.
pub fn actor() -> String {
    format!("cli:{}", os_user())
}

#[cfg(unix)]
fn os_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes only into `pwd` and `buf`,
    // whose sizes it is given, and `pw_name` points into `buf` while it lives.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc == 0 && !found.is_null() && !pwd.pw_name.is_null() {
            let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
            if !name.is_empty() {
                return name;
            }
        }
        format!("uid:{uid}")
    }
}

#[cfg(not(unix))]
fn os_user() -> String {
    std::env::var("USERNAME").unwrap_or_else(|_| "unknown".into())
}
