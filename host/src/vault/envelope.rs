//! AES-256-GCM sealing: data keys wrapped under the master key, secrets sealed under data keys.
//!
//! Sealed format: `version (1 byte) | nonce (12 random bytes) | ciphertext | tag (16 bytes)`.
//! Every call takes associated data naming the record, so a value only opens where it was sealed.

use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use zeroize::Zeroizing;

use super::{MasterKey, Result, VaultError};

/// The sealed-format version written by this build; bumped if the layout or algorithm changes.
pub const SEALED_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
const KEY_LEN: usize = 32;

/// A per-workspace key that seals that workspace's secrets; kept on the heap and wiped on
/// drop, and stored only wrapped under the master key.
#[derive(Clone)]
pub struct DataKey(Box<Zeroizing<[u8; KEY_LEN]>>);

impl DataKey {
    /// A fresh random data key (from the thread-local CSPRNG, seeded by the OS).
    pub fn generate() -> Self {
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        rand::fill(&mut key[..]);
        DataKey(key)
    }

    fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

/// Associated data binding a wrapped data key to its workspace.
pub fn data_key_aad(workspace_id: i64) -> Vec<u8> {
    format!("llmnode/data-key/v1/ws:{workspace_id}").into_bytes()
}

/// Associated data binding a sealed secret to its workspace, connection and field.
pub fn secret_aad(workspace_id: i64, connection_id: i64, field: &str) -> Vec<u8> {
    format!("llmnode/secret/v1/ws:{workspace_id}/conn:{connection_id}/{field}").into_bytes()
}

/// Wrap (seal) a data key under the master key, bound to `aad` (see [`data_key_aad`]).
pub fn wrap_data_key(master: &MasterKey, key: &DataKey, aad: &[u8]) -> Result<Vec<u8>> {
    seal_bytes(master.bytes(), key.bytes(), aad).ok_or_else(|| VaultError::Encrypt { what: "data key".into() })
}

/// Unwrap a data key sealed by [`wrap_data_key`]; any authentication failure is
/// [`VaultError::WrongMasterKey`], the usual cause being a different master key.
pub fn unwrap_data_key(master: &MasterKey, wrapped: &[u8], aad: &[u8]) -> Result<DataKey> {
    let plain = open_bytes(master.bytes(), wrapped, aad).map_err(|e| match e {
        OpenFailure::Version(version) => VaultError::UnsupportedVersion { what: "wrapped data key".into(), version },
        OpenFailure::Auth => VaultError::WrongMasterKey,
    })?;
    let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
    if plain.len() != KEY_LEN {
        return Err(VaultError::Malformed { what: "wrapped data key".into() });
    }
    key.copy_from_slice(&plain);
    Ok(DataKey(key))
}

/// Seal `plaintext` under a data key, bound to `aad` (see [`secret_aad`]); `what` names the
/// record in errors.
pub fn seal(key: &DataKey, plaintext: &[u8], aad: &[u8], what: &str) -> Result<Vec<u8>> {
    seal_bytes(key.bytes(), plaintext, aad).ok_or_else(|| VaultError::Encrypt { what: what.into() })
}

/// Open a value sealed by [`seal`] with the same key and `aad`; the plaintext is wiped on drop.
pub fn open(key: &DataKey, sealed: &[u8], aad: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>> {
    open_bytes(key.bytes(), sealed, aad).map_err(|e| match e {
        OpenFailure::Version(version) => VaultError::UnsupportedVersion { what: what.into(), version },
        OpenFailure::Auth => VaultError::Decrypt { what: what.into() },
    })
}

/// Why [`open_bytes`] failed, before the caller names the record.
enum OpenFailure {
    Version(u8),
    Auth,
}

/// Encrypt in place inside the output buffer, sized up front so the plaintext is never left
/// behind in a reallocated buffer. `None` only if AES-GCM refuses the length.
fn seal_bytes(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(SEALED_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    match cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[HEADER_LEN..]) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Some(out)
        }
        Err(_) => {
            zeroize::Zeroize::zeroize(&mut out);
            None
        }
    }
}

/// Check the header, then authenticate and decrypt into a buffer that is wiped on drop.
fn open_bytes(key: &[u8; KEY_LEN], sealed: &[u8], aad: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, OpenFailure> {
    match sealed.first() {
        Some(&SEALED_VERSION) => {}
        Some(&other) => return Err(OpenFailure::Version(other)),
        None => return Err(OpenFailure::Auth),
    }
    if sealed.len() < HEADER_LEN + TAG_LEN {
        return Err(OpenFailure::Auth);
    }
    let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
    let (ciphertext, tag) = body.split_at(body.len() - TAG_LEN);
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    Aes256Gcm::new(key.into())
        .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buf, Tag::from_slice(tag))
        .map_err(|_| OpenFailure::Auth)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const AAD: &[u8] = b"llmnode/secret/v1/ws:1/conn:2/api_key";

    #[test]
    fn aad_strings_are_stable() {
        assert_eq!(data_key_aad(42), b"llmnode/data-key/v1/ws:42");
        assert_eq!(secret_aad(1, 3, "api_key"), b"llmnode/secret/v1/ws:1/conn:3/api_key");
    }

    #[test]
    fn seal_open_round_trip_and_format() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"sk-secret-value", AAD, "t").unwrap();
        assert_eq!(sealed[0], SEALED_VERSION);
        assert_eq!(sealed.len(), 1 + 12 + b"sk-secret-value".len() + 16);
        assert_eq!(&*open(&key, &sealed, AAD, "t").unwrap(), b"sk-secret-value");
        let empty = seal(&key, b"", AAD, "t").unwrap();
        assert!(open(&key, &empty, AAD, "t").unwrap().is_empty());
    }

    #[test]
    fn wrong_aad_or_wrong_key_is_a_decrypt_error() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"sk-secret-value", AAD, "t").unwrap();
        let moved = [secret_aad(1, 2, "org_id"), secret_aad(1, 9, "api_key"), secret_aad(5, 2, "api_key")];
        for aad in moved {
            assert!(matches!(open(&key, &sealed, &aad, "c"), Err(VaultError::Decrypt { what }) if what == "c"));
        }
        assert!(matches!(open(&DataKey::generate(), &sealed, AAD, "c"), Err(VaultError::Decrypt { .. })));
    }

    #[test]
    fn any_tampered_byte_fails() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"sk-secret-value", AAD, "t").unwrap();
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(matches!(open(&key, &bad, AAD, "t"), Err(VaultError::Decrypt { .. })), "byte {i}");
        }
        let mut bad_version = sealed.clone();
        bad_version[0] = 2;
        assert!(matches!(open(&key, &bad_version, AAD, "t"), Err(VaultError::UnsupportedVersion { version: 2, .. })));
    }

    #[test]
    fn truncated_input_fails_without_panic() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"sk", AAD, "t").unwrap();
        for len in 0..sealed.len() {
            assert!(open(&key, &sealed[..len], AAD, "t").is_err(), "len {len}");
        }
    }

    #[test]
    fn nonces_differ_and_plaintext_is_absent() {
        let key = DataKey::generate();
        let plain = b"sk-very-recognisable-plaintext";
        let a = seal(&key, plain, AAD, "t").unwrap();
        let b = seal(&key, plain, AAD, "t").unwrap();
        assert_ne!(a[1..13], b[1..13]);
        assert_ne!(a, b);
        assert!(!a.windows(plain.len()).any(|w| w == plain));
    }

    #[test]
    fn data_key_wrap_round_trip_and_wrong_master() {
        let master = MasterKey::generate();
        let key = DataKey::generate();
        let wrapped = wrap_data_key(&master, &key, &data_key_aad(1)).unwrap();
        assert!(!wrapped.windows(KEY_LEN).any(|w| w == key.bytes()));
        assert_eq!(unwrap_data_key(&master, &wrapped, &data_key_aad(1)).unwrap().bytes(), key.bytes());
        let other = MasterKey::generate();
        assert!(matches!(unwrap_data_key(&other, &wrapped, &data_key_aad(1)), Err(VaultError::WrongMasterKey)));
        assert!(matches!(unwrap_data_key(&master, &wrapped, &data_key_aad(2)), Err(VaultError::WrongMasterKey)));
    }

    #[test]
    fn data_key_debug_shows_no_key_bytes() {
        let key = DataKey::generate();
        let debug = format!("{key:?}");
        assert_eq!(debug, "DataKey(***)");
        assert!(!debug.contains(&hex::encode(key.bytes())));
        assert!(!debug.contains(&base64::engine::general_purpose::STANDARD.encode(key.bytes())));
    }
}
