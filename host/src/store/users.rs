//! Users and their API tokens. A token grants one role in one workspace; only
//! its SHA-256 is stored, so the store cannot leak a usable token. Its own
//! limits and allow-lists are stored beside it as JSON ([`TokenPolicy`]).

use super::sql::Db;
use super::{StoreError, now_ms};
use crate::args;
pub use crate::principal::TokenPolicy;
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
    pub policy: TokenPolicy,
}

/// Who a presented token belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub token_id: i64,
    pub user: String,
    pub workspace_id: i64,
    pub role: Role,
    pub policy: TokenPolicy,
}

fn policy_of(json: &str) -> Result<TokenPolicy, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Malformed { what: "token limits", detail: e.to_string() })
}

fn policy_json(policy: &TokenPolicy) -> String {
    serde_json::to_string(policy).unwrap_or_else(|_| "{}".into())
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

/// Store a new token for `user_id` in `workspace_id` with `policy` and
/// return its id. The caller generates `token` and shows it once.
pub fn insert_token(
    db: &Db,
    user_id: i64,
    workspace_id: i64,
    role: Role,
    token: &str,
    policy: &TokenPolicy,
) -> Result<i64, StoreError> {
    db.query_one(
        "INSERT INTO api_tokens (user_id, workspace_id, role, token_hash, created_ms, limits) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        args![user_id, workspace_id, role.as_str(), hash(token), now_ms(), policy_json(policy)],
        |r| r.get(0),
    )
}

/// Replace the limits and allow-lists of live token `id` of `workspace_id`;
/// false if there is no such live token.
pub fn set_policy(db: &Db, workspace_id: i64, id: i64, policy: &TokenPolicy) -> Result<bool, StoreError> {
    let n = db.execute(
        "UPDATE api_tokens SET limits = ?1 WHERE id = ?2 AND workspace_id = ?3 AND revoked_ms IS NULL",
        args![policy_json(policy), id, workspace_id],
    )?;
    Ok(n == 1)
}

/// The live grant of `token`, or `None` if unknown or revoked.
pub fn authenticate(db: &Db, token: &str) -> Result<Option<Grant>, StoreError> {
    let row = db.query_opt(
        "SELECT t.id, u.name, t.workspace_id, t.role, t.limits FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = ?1 AND t.revoked_ms IS NULL",
        args![hash(token)],
        |r| {
            let role: String = r.get(3)?;
            let policy: String = r.get(4)?;
            Ok(Grant {
                token_id: r.get(0)?,
                user: r.get(1)?,
                workspace_id: r.get(2)?,
                role: Role::parse(&role)?,
                policy: policy_of(&policy)?,
            })
        },
    )?;
    Ok(row)
}

/// Every token of a workspace, newest first.
pub fn list_tokens(db: &Db, workspace_id: i64) -> Result<Vec<TokenRow>, StoreError> {
    db.query(
        "SELECT t.id, u.name, w.name, t.role, t.created_ms, t.revoked_ms, t.limits FROM api_tokens t \
         JOIN users u ON u.id = t.user_id JOIN workspaces w ON w.id = t.workspace_id \
         WHERE t.workspace_id = ?1 ORDER BY t.id DESC",
        args![workspace_id],
        |r| {
            let role: String = r.get(3)?;
            let policy: String = r.get(6)?;
            Ok(TokenRow {
                id: r.get(0)?,
                user: r.get(1)?,
                workspace: r.get(2)?,
                role: Role::parse(&role)?,
                created_ms: r.get(4)?,
                revoked_ms: r.get(5)?,
                policy: policy_of(&policy)?,
            })
        },
    )
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
