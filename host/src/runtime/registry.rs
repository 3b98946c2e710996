//! Plugins by provider name: the bundled ones plus any found in a plugin directory.

use super::{LoadedPlugin, PluginError, PluginRuntime, bundled};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The plugins a run may use, keyed by the name in their `info`.
#[derive(Default, Clone)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
}

impl PluginRegistry {
    /// Load every bundled plugin, then every `*.wasm` in `dir` (a plugin in the
    /// directory replaces a bundled one of the same name, with a warning).
    pub fn load(runtime: &PluginRuntime, dir: Option<&Path>) -> Result<Self, PluginError> {
        let mut registry = PluginRegistry::default();
        for (name, wasm) in bundled::BUNDLED {
            registry.insert(runtime.load(wasm, format!("bundled:{name}"))?);
        }
        if let Some(dir) = dir {
            let read = |source| PluginError::Read { path: dir.to_path_buf(), source };
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .map_err(read)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect();
            files.sort();
            for file in files {
                registry.insert(runtime.load_file(&file)?);
            }
        }
        Ok(registry)
    }

    /// Load an installed plugin, refusing it if its file no longer has the
    /// sha256 recorded when the operator installed it.
    pub fn load_installed(&mut self, runtime: &PluginRuntime, file: &Path, sha256: &str) -> Result<(), PluginError> {
        let bytes = std::fs::read(file).map_err(|source| PluginError::Read { path: file.to_path_buf(), source })?;
        let found = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        if found != sha256 {
            return Err(PluginError::Tampered { path: file.to_path_buf(), found, recorded: sha256.to_string() });
        }
        self.insert(runtime.load(&bytes, file.display().to_string())?);
        Ok(())
    }

    /// [`PluginRegistry::load`], then every installed plugin (each checked
    /// against its recorded sha256): what the CLI and the daemon both run with.
    pub fn load_with_installed(
        runtime: &PluginRuntime,
        dir: Option<&Path>,
        installed: &[crate::store::plugin_rows::PluginRow],
    ) -> Result<Self, PluginError> {
        let mut registry = Self::load(runtime, dir)?;
        for row in installed {
            registry.load_installed(runtime, Path::new(&row.file), &row.sha256)?;
        }
        Ok(registry)
    }

    /// Add a plugin, replacing any with the same name.
    pub fn insert(&mut self, plugin: LoadedPlugin) {
        let name = plugin.name().to_string();
        if let Some(old) = self.plugins.get(&name) {
            tracing::warn!(plugin = %name, replaced = old.origin(), by = plugin.origin(), "plugin replaced");
        }
        self.plugins.insert(name, Arc::new(plugin));
    }

    /// The plugin for a provider name.
    pub fn get(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.get(name)
    }

    /// All plugins, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.plugins.values()
    }

    /// Provider names, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }
}
