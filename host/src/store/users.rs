//! Users and their API tokens. A token grants one role in one workspace; only
//! its SHA-256 is stored, so the store cannot leak a usable token.

use super::sql::Db;
use super::{StoreError, now_ms};
use crate::args;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a token lets its holder do in its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manage connections, keys and tokens.
    Admin,
    /// Run workflows and read usage.
    Member,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The role a stored (or requested) name stands for.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(StoreError::Malformed { what: "role", detail: other.to_string() }),
        }
    }
}

/// A token's record (never the token itself).
#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub user: String,
    pub workspace: String,
    pub role: Role,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// Who a presented token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token_id: i64,
    pub user: String,
    pub workspace_id: i64,
    pub role: Role,
}

/// Create a user; names are unique.
pub fn create_user(db: &Db, name: &str) -> Result<i64, StoreError> {
    if user_id(db, name)?.is_some() {
        return Err(StoreError::Exists { what: "user", name: name.into(), scope: String::new() });
    }
    db.query_one("INSERT INTO users (name, created_ms) VALUES (?1, ?2) RETURNING id", args![name, now_ms()], |r| {
        r.get(0)
    })
}

/// The id of user `name`, if any.
pub fn user_id(db: &Db, name: &str) -> Result<Option<i64>, StoreError> {
    db.query_opt("SELECT id FROM users WHERE name = ?1", args![name], |r| r.get(0))
}

/// Store a new token for `user_id` in `workspace_id` and return its id. The
/// caller generates `token` and shows it once.
pub fn insert_token(db: &Db, user_id: i64, workspace_id: i64, role: Role, token: &str) -> Result<i64, StoreError> {
    db.query_one(
        "INSERT INTO api_tokens (user_id, workspace_id, role, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
         RETURNING id",
        args![user_id, workspace_id, role.as_str(), hash(token), now_ms()],
        |r| r.get(0),
    )
}

/// The live grant of `token`, or `None` if unknown or revoked.
pub fn authenticate(db: &Db, token: &str) -> Result<Option<Grant>, StoreError> {
    let row = db.query_opt(
        "SELECT t.id, u.name, t.workspace_id, t.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = ?1 AND t.revoked_ms IS NULL",
        args![hash(token)],
        |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?, r.get::<String>(3)?)),
    )?;
    row.map(|(token_id, user, workspace_id, role)| {
        Ok(Grant { token_id, user, workspace_id, role: Role::parse(&role)? })
    })
    .transpose()
}

/// Every token of a workspace, newest first.
pub fn list_tokens(db: &Db, workspace_id: i64) -> Result<Vec<TokenRow>, StoreError> {
    let rows: Vec<(i64, String, String, String, i64, Option<i64>)> = db.query(
        "SELECT t.id, u.name, w.name, t.role, t.created_ms, t.revoked_ms FROM api_tokens t \
         JOIN users u ON u.id = t.user_id JOIN workspaces w ON w.id = t.workspace_id \
         WHERE t.workspace_id = ?1 ORDER BY t.id DESC",
        args![workspace_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
    )?;
    rows.into_iter()
        .map(|(id, user, workspace, role, created_ms, revoked_ms)| {
            Ok(TokenRow { id, user, workspace, role: Role::parse(&role)?, created_ms, revoked_ms })
        })
        .collect()
}

/// Revoke a token of `workspace_id`; false if there is no such live token.
pub fn revoke_token(db: &Db, workspace_id: i64, id: i64) -> Result<bool, StoreError> {
    let n = db.execute(
        "UPDATE api_tokens SET revoked_ms = ?1 WHERE id = ?2 AND workspace_id = ?3 AND revoked_ms IS NULL",
        args![now_ms(), id, workspace_id],
    )?;
    Ok(n == 1)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
