//! `llmnode plugins install`: take a plugin into the data directory only if it
//! is the file the operator vouched for (its sha256), loads in the sandbox and
//! compiles; record it, with its contract version, in the registry.

use super::KitError;
use crate::runtime::{ContractVersion, PluginRuntime};
use crate::store::approval_rows::{self, ApprovalKind};
use crate::store::{Store, StoreError, audit, plugin_rows, workspaces};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A plugin now installed.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The provider name connections refer to.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The contract version it was built against.
    pub contract: ContractVersion,
    /// The digest that was checked and recorded.
    pub sha256: String,
    /// The copy the host loads from now on.
    pub file: PathBuf,
}

/// Install `file` into `plugins_dir` if its sha256 is `expected`. The digest is
/// checked before anything else; the plugin is then loaded (which compiles it
/// once into the runtime's artifact cache), copied and recorded, with an audit
/// entry by `actor`. Every workspace that requires approval gets a pending
/// approval of it: its connections through this plugin serve nothing until
/// another admin approves. On any error nothing is left behind.
pub fn install(
    runtime: &PluginRuntime,
    store: &mut Store,
    plugins_dir: &Path,
    file: &Path,
    expected: &str,
    actor: &str,
) -> Result<Installed, KitError> {
    let expected = parse_digest(expected)?;
    let bytes = std::fs::read(file).map_err(KitError::io(file))?;
    let found = hex::encode(Sha256::digest(&bytes));
    if found != expected {
        return Err(KitError::DigestMismatch { file: file.to_path_buf(), expected, found });
    }
    let plugin = runtime.load(&bytes, file.display().to_string())?;
    let info = plugin.info();
    std::fs::create_dir_all(plugins_dir).map_err(KitError::io(plugins_dir))?;
    let dest = plugins_dir.join(format!("{}-{}.wasm", info.name, info.version));
    let staged = dest.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&staged, &bytes).map_err(KitError::io(&staged))?;
    std::fs::rename(&staged, &dest).map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        KitError::Io { path: dest.clone(), source: e }
    })?;
    let installed = Installed {
        name: info.name.clone(),
        version: info.version.clone(),
        contract: plugin.contract(),
        sha256: found,
        file: dest,
    };
    let recorded = store.transaction(|tx| -> Result<(), StoreError> {
        let file = installed.file.display().to_string();
        plugin_rows::upsert(
            tx,
            plugin_rows::NewPlugin {
                name: &installed.name,
                version: &installed.version,
                contract_version: installed.contract.as_str(),
                sha256: &installed.sha256,
                file: &file,
            },
        )?;
        let detail = serde_json::json!({
            "version": installed.version,
            "sha256": installed.sha256,
            "contract_version": installed.contract.as_str(),
        });
        for ws in workspaces::list(tx)?.into_iter().filter(|w| w.settings.require_approval) {
            approval_rows::insert(tx, ws.id, ApprovalKind::PluginInstall, &installed.name, &detail, actor)?;
        }
        audit::append(tx, None, actor, "plugin.install", &installed.name, &detail)
    });
    if let Err(e) = recorded {
        let _ = std::fs::remove_file(&installed.file);
        return Err(e.into());
    }
    Ok(installed)
}

/// A sha256 digest as 64 lowercase hex characters.
fn parse_digest(given: &str) -> Result<String, KitError> {
    let digest = given.trim().to_ascii_lowercase();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KitError::BadDigest { given: given.to_string() });
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_64_hex_characters_in_any_case() {
        let hex = "AB".repeat(32);
        assert_eq!(parse_digest(&hex).unwrap(), "ab".repeat(32));
        for bad in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            assert!(matches!(parse_digest(bad), Err(KitError::BadDigest { .. })), "{bad}");
        }
    }
}
