//! A secret still sealed, with what it takes to open it: handed to the
//! transport so a key is decrypted only at the moment a request is signed,
//! and the plaintext dropped (zeroized) right after.

use super::{DataKey, Result, Vault, VaultError};
use crate::secret::Secret;
use std::fmt;

/// A sealed secret bound to its record; cheap to clone.
#[derive(Clone)]
pub struct SealedSecret {
    key: DataKey,
    workspace_id: i64,
    connection_id: i64,
    field: String,
    sealed: Vec<u8>,
}

impl SealedSecret {
    /// Keep `sealed` (of `field` of a connection) for opening later with `key`.
    pub fn new(key: DataKey, workspace_id: i64, connection_id: i64, field: &str, sealed: Vec<u8>) -> Self {
        SealedSecret { key, workspace_id, connection_id, field: field.to_string(), sealed }
    }

    /// The plaintext, for as long as the caller holds it.
    pub fn open(&self) -> Result<Secret> {
        Vault::open_with(&self.key, self.workspace_id, self.connection_id, &self.field, &self.sealed)
    }

    /// Open once now, to fail early (e.g. when a run starts) rather than at the first request.
    pub fn verify(&self) -> Result<()> {
        self.open().map(drop)
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret(connection {} field {})", self.connection_id, self.field)
    }
}

impl From<VaultError> for crate::transport::TransportError {
    fn from(e: VaultError) -> Self {
        crate::transport::TransportError::Credential { detail: e.to_string() }
    }
}
