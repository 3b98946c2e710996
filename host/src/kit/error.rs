//! What can go wrong in the plugin kit. Each variant names the file,
//! directory or plugin at fault, and none leaves anything half done.

use crate::runtime::PluginError;
use crate::store::StoreError;
use std::path::PathBuf;

/// A kit command could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// `plugin new` was given a name a plugin cannot have.
    #[error("plugin name \"{}\" is not usable: it {reason}", crate::escape::Escaped(name))]
    BadName { name: String, reason: String },
    /// `plugin new` would overwrite something.
    #[error("{path} already exists and is not empty; choose another --dir")]
    Exists { path: PathBuf },
    /// The SDK the scaffold should depend on is not where it was looked for.
    #[error("the llmnode SDK was not found at {path}; pass --sdk PATH (the `sdk` directory of an llmnode checkout)")]
    NoSdk { path: PathBuf },
    /// `cargo` could not be started or failed.
    #[error("building {dir} failed: {detail}")]
    Build { dir: PathBuf, detail: String },
    /// A fixture file is not in the documented format.
    #[error("fixture {file}: {detail}")]
    Fixture { file: PathBuf, detail: String },
    /// A fixtures directory holds no fixture.
    #[error("no fixtures (*.json) in {dir}")]
    NoFixtures { dir: PathBuf },
    /// `--sha256` is not a sha256 digest.
    #[error("--sha256 {given:?} is not a sha256 digest (64 hexadecimal characters)")]
    BadDigest { given: String },
    /// The file is not the one the operator meant to install.
    #[error("{file} has sha256 {found}, not the {expected} you passed; nothing was installed")]
    DigestMismatch { file: PathBuf, expected: String, found: String },
    /// The plugin could not be loaded or called.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The registry could not be updated.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl KitError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> KitError {
        let path = path.into();
        move |source| KitError::Io { path, source }
    }
}
