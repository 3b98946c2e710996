//! The key vault: API keys at rest are sealed with AES-256-GCM under envelope encryption.
//!
//! A single [`MasterKey`] (from `LLMNODE_MASTER_KEY` or `<data_dir>/master.key`) wraps one
//! random [`DataKey`] per workspace; each data key seals that workspace's secrets. A stolen
//! database alone therefore reveals nothing, rotating the master key only rewraps the small
//! data keys ([`Vault::rewrap`]), and every ciphertext is bound by its associated data to the
//! record it belongs to, so a sealed value copied to another workspace, connection or field
//! fails to open instead of being silently accepted.

mod envelope;
mod master_key;
mod sealed;

use std::path::{Path, PathBuf};

pub use envelope::{DataKey, SEALED_VERSION, data_key_aad, open, seal, secret_aad, unwrap_data_key, wrap_data_key};
pub use master_key::{KEY_FILE_NAME, MASTER_KEY_ENV, MasterKey, key_file_path};

pub use sealed::SealedSecret;

use crate::secret::Secret;

/// Why a vault operation failed. Messages name the record or file concerned but never
/// contain key material, plaintext or the offending input.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key given in the environment or the key file is not usable; the value is
    /// deliberately not echoed.
    #[error("{origin} is not standard base64 of exactly 32 bytes")]
    MalformedMasterKey {
        /// Where the key came from, e.g. "environment variable LLMNODE_MASTER_KEY".
        origin: String,
    },
    /// Neither the environment variable nor the key file provides a master key.
    #[error("no master key: set {MASTER_KEY_ENV} or run `llmnode init` to create {}", path.display())]
    MissingKeyFile {
        /// The key file that was looked for.
        path: PathBuf,
    },
    /// The key file may be read or written by other users, so it is not trusted.
    #[error("key file {} has mode {mode:03o}, which allows group/other access; run `chmod 600` on it", path.display())]
    InsecureKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A new key file would overwrite an existing one, losing the key that wraps existing data.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    KeyFileExists {
        /// The existing key file.
        path: PathBuf,
    },
    /// Reading or writing the key file failed.
    #[error("cannot {action} key file {}", path.display())]
    KeyFileIo {
        /// What was attempted: "read", "create", "write".
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A wrapped data key did not authenticate: the master key is not the one it was wrapped
    /// with, or the wrapped key was altered or belongs to another workspace.
    #[error("cannot unwrap data key: wrong master key, or the wrapped key is corrupt or belongs to another workspace")]
    WrongMasterKey,
    /// A sealed value did not authenticate: wrong data key, altered bytes, or it was moved from
    /// another record.
    #[error("cannot decrypt {what}: wrong key, corrupt data, or it belongs to another record")]
    Decrypt {
        /// The record, e.g. "connection 3 field api_key".
        what: String,
    },
    /// A sealed value carries a format version this build does not know.
    #[error("cannot decrypt {what}: unsupported format version {version}")]
    UnsupportedVersion {
        /// The record.
        what: String,
        /// The version byte found.
        version: u8,
    },
    /// The value decrypted but is not what was sealed there (not UTF-8, wrong length).
    #[error("{what} decrypted to a malformed value")]
    Malformed {
        /// The record.
        what: String,
    },
    /// Encryption refused the input (only for inputs far beyond any API key's size).
    #[error("cannot encrypt {what}")]
    Encrypt {
        /// The record.
        what: String,
    },
}

/// Result of vault operations.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;

/// Holds the master key and seals and opens workspace secrets with it; the one entry point
/// the rest of the host needs.
pub struct Vault {
    master: MasterKey,
    /// The key a fleet is rolling to ([`NEXT_MASTER_KEY_ENV`]): data keys
    /// that the master key does not open are tried with it, so a daemon keeps
    /// working when another machine rotates the store before it restarts.
    next: Option<MasterKey>,
}

/// Environment variable holding the master key a fleet of daemons is rolling
/// to (standard base64 of 32 bytes), during a rotation only.
pub const NEXT_MASTER_KEY_ENV: &str = "LLMNODE_MASTER_KEY_NEXT";

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Vault");
        d.field("master", &self.master);
        if let Some(next) = &self.next {
            d.field("next", next);
        }
        d.finish()
    }
}

impl Vault {
    /// A vault over an already loaded master key.
    pub fn new(master: MasterKey) -> Self {
        Vault { master, next: None }
    }

    /// The same vault, also opening data keys wrapped by `next` (the value
    /// of [`NEXT_MASTER_KEY_ENV`], if set).
    pub fn with_next(mut self, next: Option<&str>) -> Result<Self> {
        self.next = next
            .map(|value| {
                MasterKey::load(Some(value), Path::new("")).map_err(|_| VaultError::MalformedMasterKey {
                    origin: format!("environment variable {NEXT_MASTER_KEY_ENV}"),
                })
            })
            .transpose()?;
        Ok(self)
    }

    /// Load the master key as [`MasterKey::load`] does (pass `std::env::var(MASTER_KEY_ENV).ok()`).
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<Self> {
        MasterKey::load(env_value, data_dir).map(Vault::new)
    }

    /// A fresh data key for a workspace, and its wrapped form to store with the workspace.
    pub fn new_data_key(&self, workspace_id: i64) -> Result<(DataKey, Vec<u8>)> {
        let key = DataKey::generate();
        let wrapped = wrap_data_key(&self.master, &key, &data_key_aad(workspace_id))?;
        Ok((key, wrapped))
    }

    /// Unwrap a workspace's stored data key.
    pub fn data_key(&self, workspace_id: i64, wrapped: &[u8]) -> Result<DataKey> {
        let aad = data_key_aad(workspace_id);
        match (unwrap_data_key(&self.master, wrapped, &aad), &self.next) {
            (Err(e), Some(next)) => unwrap_data_key(next, wrapped, &aad).map_err(|_| e),
            (opened, _) => opened,
        }
    }

    /// Seal one secret field of a connection, bound to that workspace, connection and field.
    pub fn seal_secret(
        &self,
        key: &DataKey,
        workspace_id: i64,
        connection_id: i64,
        field: &str,
        plaintext: &str,
    ) -> Result<Vec<u8>> {
        let aad = secret_aad(workspace_id, connection_id, field);
        seal(key, plaintext.as_bytes(), &aad, &secret_what(connection_id, field))
    }

    /// Open a sealed secret with its data key alone (no master key needed): a
    /// wrong record or tampered bytes fail with an error naming the record.
    pub fn open_with(
        key: &DataKey,
        workspace_id: i64,
        connection_id: i64,
        field: &str,
        sealed: &[u8],
    ) -> Result<Secret> {
        let what = secret_what(connection_id, field);
        let mut plain = open(key, sealed, &secret_aad(workspace_id, connection_id, field), &what)?;
        // Move the bytes out (no copy) so the `String` owns the only plaintext buffer.
        match String::from_utf8(std::mem::take(&mut *plain)) {
            Ok(s) => Ok(Secret::new(s)),
            Err(e) => {
                zeroize::Zeroize::zeroize(&mut e.into_bytes());
                Err(VaultError::Malformed { what })
            }
        }
    }

    /// Rewrap a workspace's data key under `new` (master key rotation): the sealed secrets
    /// themselves stay as they are.
    pub fn rewrap(&self, new: &MasterKey, workspace_id: i64, wrapped: &[u8]) -> Result<Vec<u8>> {
        let aad = data_key_aad(workspace_id);
        let key = unwrap_data_key(&self.master, wrapped, &aad)?;
        wrap_data_key(new, &key, &aad)
    }
}

/// How a secret field is named in errors.
fn secret_what(connection_id: i64, field: &str) -> String {
    format!("connection {connection_id} field {field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::new(MasterKey::generate())
    }

    #[test]
    fn secret_round_trips_through_a_wrapped_data_key() {
        let v = vault();
        let (key, wrapped) = v.new_data_key(7).unwrap();
        let sealed = v.seal_secret(&key, 7, 3, "api_key", "sk-live-abc").unwrap();
        let key_again = v.data_key(7, &wrapped).unwrap();
        assert_eq!(Vault::open_with(&key_again, 7, 3, "api_key", &sealed).unwrap().expose(), "sk-live-abc");
    }

    #[test]
    fn secret_moved_to_another_record_fails_with_its_name() {
        let v = vault();
        let (key, _) = v.new_data_key(1).unwrap();
        let sealed = v.seal_secret(&key, 1, 3, "api_key", "sk-live-abc").unwrap();
        for (ws, conn, field) in [(2, 3, "api_key"), (1, 4, "api_key"), (1, 3, "org_id")] {
            match Vault::open_with(&key, ws, conn, field, &sealed) {
                Err(VaultError::Decrypt { what }) => assert_eq!(what, format!("connection {conn} field {field}")),
                other => panic!("expected Decrypt, got {other:?}"),
            }
        }
    }

    #[test]
    fn data_key_of_another_workspace_or_master_fails() {
        let v = vault();
        let (_, wrapped) = v.new_data_key(1).unwrap();
        assert!(matches!(v.data_key(2, &wrapped), Err(VaultError::WrongMasterKey)));
        assert!(matches!(vault().data_key(1, &wrapped), Err(VaultError::WrongMasterKey)));
    }

    #[test]
    fn rewrap_moves_data_key_to_new_master_and_secrets_still_open() {
        let old = vault();
        let (key, wrapped) = old.new_data_key(5).unwrap();
        let sealed = old.seal_secret(&key, 5, 9, "api_key", "sk-rotate-me").unwrap();
        let new_master = MasterKey::generate();
        let rewrapped = old.rewrap(&new_master, 5, &wrapped).unwrap();
        let new = Vault::new(new_master);
        let key = new.data_key(5, &rewrapped).unwrap();
        assert_eq!(Vault::open_with(&key, 5, 9, "api_key", &sealed).unwrap().expose(), "sk-rotate-me");
        assert!(matches!(old.data_key(5, &rewrapped), Err(VaultError::WrongMasterKey)));
        assert!(matches!(new.rewrap(&MasterKey::generate(), 5, &wrapped), Err(VaultError::WrongMasterKey)));
    }

    /// A daemon still on the old key, told the next one, keeps opening data
    /// keys after another machine rotated the store; a malformed next key is
    /// refused naming the variable, never echoing it.
    #[test]
    fn a_vault_rolling_to_the_next_key_opens_both() {
        use base64::Engine as _;
        let old_text = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let new_text = base64::engine::general_purpose::STANDARD.encode([2u8; 32]);
        let old = Vault::new(MasterKey::load(Some(&old_text), Path::new("")).unwrap());
        let (_, wrapped) = old.new_data_key(5).unwrap();
        let rewrapped = old.rewrap(&MasterKey::load(Some(&new_text), Path::new("")).unwrap(), 5, &wrapped).unwrap();
        assert!(old.data_key(5, &rewrapped).is_err());
        let rolling =
            Vault::new(MasterKey::load(Some(&old_text), Path::new("")).unwrap()).with_next(Some(&new_text)).unwrap();
        assert!(rolling.data_key(5, &wrapped).is_ok(), "keys not yet rotated still open");
        assert!(rolling.data_key(5, &rewrapped).is_ok(), "rotated keys open with the next key");
        assert!(matches!(rolling.data_key(6, &rewrapped), Err(VaultError::WrongMasterKey)));
        let err = Vault::new(MasterKey::generate()).with_next(Some("sk-not-a-key")).unwrap_err().to_string();
        assert!(err.contains(NEXT_MASTER_KEY_ENV) && !err.contains("sk-not-a-key"), "{err}");
    }

    #[test]
    fn non_utf8_plaintext_is_malformed_not_a_panic() {
        let v = vault();
        let (key, _) = v.new_data_key(1).unwrap();
        let sealed = seal(&key, &[0xff, 0xfe], &secret_aad(1, 2, "api_key"), "x").unwrap();
        assert!(matches!(Vault::open_with(&key, 1, 2, "api_key", &sealed), Err(VaultError::Malformed { .. })));
    }

    #[test]
    fn vault_debug_shows_no_key() {
        assert_eq!(format!("{:?}", vault()), "Vault { master: MasterKey(***) }");
    }
}
