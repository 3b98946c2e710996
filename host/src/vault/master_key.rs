//! The master key: the one secret that unlocks every workspace's data key.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::{Result, VaultError};

/// Environment variable holding the master key (standard base64 of 32 bytes); it wins over
/// the key file so deployments can keep the key out of the data directory.
pub const MASTER_KEY_ENV: &str = "LLMNODE_MASTER_KEY";

/// Name of the key file inside the data directory.
pub const KEY_FILE_NAME: &str = "master.key";

const KEY_LEN: usize = 32;
/// Longest key file accepted: 44 base64 characters plus generous whitespace.
const MAX_KEY_FILE_LEN: usize = 128;

/// Where the key file lives for a data directory (what `llmnode init` creates).
pub fn key_file_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE_NAME)
}

/// The 32-byte AES-256 key that wraps data keys. Kept on the heap so moves do not leave
/// copies, wiped on drop, never printed, and deliberately not `Clone`.
pub struct MasterKey(Box<Zeroizing<[u8; KEY_LEN]>>);

impl MasterKey {
    /// A fresh random master key (from the thread-local CSPRNG, seeded by the OS).
    pub fn generate() -> Self {
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        rand::fill(&mut key[..]);
        MasterKey(key)
    }

    /// Load the master key: `env_value` (the value of [`MASTER_KEY_ENV`], passed in so callers
    /// and tests control the environment) if set, else `<data_dir>/master.key`, which must
    /// exist and, on unix, be accessible to its owner only.
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<Self> {
        match env_value {
            Some(value) => decode(value, || format!("environment variable {MASTER_KEY_ENV}")),
            None => Self::read_file(&key_file_path(data_dir)),
        }
    }

    /// Read a key file written by [`MasterKey::create_file`].
    pub fn read_file(path: &Path) -> Result<Self> {
        let io_err = |source| VaultError::KeyFileIo { action: "read", path: path.to_owned(), source };
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(VaultError::MissingKeyFile { path: path.to_owned() });
            }
            Err(e) => return Err(io_err(e)),
        };
        check_private(&file, path)?;
        let malformed = || VaultError::MalformedMasterKey { origin: format!("key file {}", path.display()) };
        // A fixed, wiped buffer: no reallocation can leave key text behind.
        let mut buf = Zeroizing::new([0u8; MAX_KEY_FILE_LEN]);
        let mut len = 0;
        loop {
            if len == buf.len() {
                return Err(malformed());
            }
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        let text = std::str::from_utf8(&buf[..len]).map_err(|_| malformed())?;
        decode(text, || format!("key file {}", path.display()))
    }

    /// Generate a key and write it to a new key file (base64, mode 0600 on unix). Never
    /// overwrites: an existing file is [`VaultError::KeyFileExists`], since replacing it
    /// would make every wrapped data key unreadable.
    pub fn create_file(path: &Path) -> Result<Self> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => VaultError::KeyFileExists { path: path.to_owned() },
            _ => VaultError::KeyFileIo { action: "create", path: path.to_owned(), source: e },
        })?;
        let key = Self::generate();
        let text = Zeroizing::new(STANDARD.encode(&key.0[..]));
        let written =
            file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).and_then(|()| file.sync_all());
        if let Err(source) = written {
            drop(file);
            // Leave no half-written key file that a later load would reject or trust.
            let _ = std::fs::remove_file(path);
            return Err(VaultError::KeyFileIo { action: "write", path: path.to_owned(), source });
        }
        Ok(key)
    }

    /// The raw key, for the envelope functions only.
    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Decode standard base64 of exactly 32 bytes (surrounding whitespace allowed) into a wiped
/// buffer; the error names `origin` but never the input or the decoder's message, which
/// could quote a character of the key.
fn decode(text: &str, origin: impl FnOnce() -> String) -> Result<MasterKey> {
    let mut out = Zeroizing::new([0u8; 48]);
    match STANDARD.decode_slice(text.trim().as_bytes(), &mut out[..]) {
        Ok(KEY_LEN) => {
            let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
            key.copy_from_slice(&out[..KEY_LEN]);
            Ok(MasterKey(key))
        }
        _ => Err(VaultError::MalformedMasterKey { origin: origin() }),
    }
}

/// Refuse a key file that group or others may access (checked on the open file, so the file
/// checked is the file read).
#[cfg(unix)]
fn check_private(file: &File, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        file.metadata().map_err(|source| VaultError::KeyFileIo { action: "read", path: path.to_owned(), source })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::InsecureKeyFile { path: path.to_owned(), mode });
    }
    Ok(())
}

/// Unix permission bits do not exist here; rely on the platform's ACLs.
#[cfg(not(unix))]
fn check_private(_file: &File, _path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn env_value_wins_and_needs_no_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load(Some(&format!(" {}\n", b64(&[7u8; 32]))), dir.path()).unwrap();
        assert_eq!(key.bytes(), &[7u8; 32]);
    }

    #[test]
    fn malformed_env_value_names_variable_not_value() {
        let dir = tempfile::tempdir().unwrap();
        for value in ["sk-not-base64!!-secretish", &b64(&[9u8; 31]), &b64(&[9u8; 33]), &b64(&[9u8; 64]), ""] {
            let err = MasterKey::load(Some(value), dir.path()).unwrap_err();
            assert!(matches!(err, VaultError::MalformedMasterKey { .. }));
            let msg = err.to_string();
            assert!(msg.contains(MASTER_KEY_ENV), "{msg}");
            assert!(value.is_empty() || !msg.contains(value), "{msg}");
            assert!(!msg.contains("secretish") && !msg.contains("CQkJ"), "{msg}");
        }
    }

    #[test]
    fn missing_key_file_says_run_init() {
        let dir = tempfile::tempdir().unwrap();
        let err = MasterKey::load(None, dir.path()).unwrap_err();
        assert!(matches!(err, VaultError::MissingKeyFile { .. }));
        assert!(err.to_string().contains("run `llmnode init`"), "{err}");
    }

    #[test]
    fn create_file_then_load_gives_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let created = MasterKey::create_file(&key_file_path(dir.path())).unwrap();
        let loaded = MasterKey::load(None, dir.path()).unwrap();
        assert_eq!(created.bytes(), loaded.bytes());
    }

    #[cfg(unix)]
    #[test]
    fn create_file_uses_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = key_file_path(dir.path());
        MasterKey::create_file(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn create_file_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file_path(dir.path());
        let first = MasterKey::create_file(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(MasterKey::create_file(&path), Err(VaultError::KeyFileExists { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(MasterKey::read_file(&path).unwrap().bytes(), first.bytes());
    }

    #[cfg(unix)]
    #[test]
    fn group_readable_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = key_file_path(dir.path());
        MasterKey::create_file(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = MasterKey::load(None, dir.path()).unwrap_err();
        assert!(matches!(err, VaultError::InsecureKeyFile { mode: 0o640, .. }));
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()) && msg.contains("640"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn malformed_key_file_names_path_not_content() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = key_file_path(dir.path());
        for content in ["c2stbm90LWEta2V5", &"A".repeat(500)] {
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let msg = MasterKey::load(None, dir.path()).unwrap_err().to_string();
            assert!(msg.contains("master.key") && !msg.contains("c2stbm90") && !msg.contains("AAAA"), "{msg}");
        }
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let key = MasterKey::generate();
        let debug = format!("{key:?}");
        assert_eq!(debug, "MasterKey(***)");
        assert!(!debug.contains(&hex::encode(key.bytes())));
        assert!(!debug.contains(&b64(key.bytes())));
    }
}
