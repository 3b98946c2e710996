//! Precompiled plugin artifacts on disk, so a plugin is compiled by Cranelift once
//! and afterwards loads in microseconds.
//!
//! Deserializing an artifact runs native code the engine trusts, so the cache
//! never loads bytes it did not write itself: every file ends with an
//! HMAC-SHA256 tag under a random key kept beside the cache (0600). A file that
//! was tampered with, truncated, or written by another host fails the check and
//! is recompiled from the plugin's wasm.
//!
//! Entries are keyed by the plugin's sha256 and the engine's compatibility hash,
//! so a different wasmtime version or configuration never sees a stale entry.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

const TAG_LEN: usize = 32;
const KEY_FILE: &str = "artifact.key";

/// A directory of tagged, precompiled components.
pub struct ArtifactCache {
    dir: PathBuf,
    key: [u8; 32],
    engine_hash: String,
}

/// Why a cache entry was not used (the caller recompiles and logs it).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache I/O on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cache entry {path} failed its integrity check (tampered or foreign); it will be replaced")]
    Tampered { path: PathBuf },
}

impl ArtifactCache {
    /// Open (creating if needed) the cache in `dir` for `engine`.
    pub fn open(dir: &Path, engine: &wasmtime::Engine) -> Result<Self, CacheError> {
        let io = |source| CacheError::Io { path: dir.to_path_buf(), source };
        fs::create_dir_all(dir).map_err(io)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache { dir: dir.to_path_buf(), key, engine_hash: format!("{:016x}", hasher.finish()) })
    }

    fn path_for(&self, plugin_sha256: &str) -> PathBuf {
        self.dir.join(format!("{plugin_sha256}-{}.cwasm", self.engine_hash))
    }

    /// The verified artifact for a plugin, or `None` when there is no usable entry.
    pub fn get(&self, plugin_sha256: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.path_for(plugin_sha256);
        let mut bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        if bytes.len() < TAG_LEN {
            return Err(CacheError::Tampered { path });
        }
        let tag = bytes.split_off(bytes.len() - TAG_LEN);
        if self.mac(plugin_sha256, &bytes).verify_slice(&tag).is_err() {
            return Err(CacheError::Tampered { path });
        }
        Ok(Some(bytes))
    }

    /// Store an artifact the engine just produced (atomically: temp file + rename).
    pub fn put(&self, plugin_sha256: &str, artifact: &[u8]) -> Result<(), CacheError> {
        let path = self.path_for(plugin_sha256);
        let tag = self.mac(plugin_sha256, artifact).finalize().into_bytes();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let io = |source| CacheError::Io { path: tmp.clone(), source };
        let mut file = private_file(&tmp).map_err(io)?;
        file.write_all(artifact).map_err(io)?;
        file.write_all(&tag).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(|source| CacheError::Io { path, source })
    }

    fn mac(&self, plugin_sha256: &str, artifact: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        // Binding the tag to the name stops one valid entry being renamed into another.
        mac.update(plugin_sha256.as_bytes());
        mac.update(self.engine_hash.as_bytes());
        mac.update(artifact);
        mac
    }
}

fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn load_or_create_key(path: &Path) -> Result<[u8; 32], CacheError> {
    let io = |source| CacheError::Io { path: path.to_path_buf(), source };
    match fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => {
            let mut key = [0u8; 32];
            key.copy_from_slice(&bytes);
            return Ok(key);
        }
        Ok(_) => {} // a damaged key only invalidates the cache: make a new one
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let key: [u8; 32] = rand::random();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = private_file(&tmp).map_err(io)?;
    file.write_all(&key).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(key)
}
