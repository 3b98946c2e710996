//! Who is calling: a bearer token resolved to one user, one workspace and one
//! role. Verified tokens are cached by their SHA-256 (the token itself is never
//! kept); the cache is dropped whenever the audit log moves, so a revoked
//! token stops working within a second.

use super::error::ApiError;
use super::state::AppState;
use crate::principal::Principal;
use crate::store::users::{self, Role};
use crate::store::workspaces;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub token_id: i64,
    pub workspace_id: i64,
    pub workspace: String,
    pub role: Role,
    /// Who its runs are for: named in their usage, its token's limits applied.
    pub principal: Arc<Principal>,
}

impl Caller {
    /// Refuse unless the caller is an admin of its workspace.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Member => Err(ApiError::Forbidden(format!(
                "{what} needs the admin role; token {} of `{}` is a member of workspace `{}`",
                self.token_id, self.user, self.workspace
            ))),
        }
    }

    /// Refuse a workflow run when the caller's token is held to chat routes.
    pub fn require_workflows(&self) -> Result<(), ApiError> {
        match &self.principal.token {
            Some(t) => t.check_workflows().map_err(ApiError::Forbidden),
            None => Ok(()),
        }
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("api:{} (token {})", self.user, self.token_id)
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .ok_or_else(|| ApiError::Unauthorized("missing API token: send `Authorization: Bearer TOKEN`".into()))?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(caller) = state.cached_caller(&hash) {
            return Ok(caller);
        }
        let store = state.store()?;
        let grant = users::authenticate(store.db(), token)?
            .ok_or_else(|| ApiError::Unauthorized("the API token is unknown or revoked".into()))?;
        let workspace = workspaces::list(store.db())?
            .into_iter()
            .find(|w| w.id == grant.workspace_id)
            .map(|w| w.name)
            .ok_or_else(|| ApiError::Unauthorized("the API token's workspace no longer exists".into()))?;
        let principal = Principal::token(&grant.user, grant.workspace_id, grant.token_id, grant.policy);
        let caller = Caller {
            user: grant.user,
            token_id: grant.token_id,
            workspace_id: grant.workspace_id,
            workspace,
            role: grant.role,
            principal,
        };
        state.cache_caller(hash, caller.clone());
        Ok(caller)
    }
}

/// Who reads `/metrics`: the daemon's operator (the metrics token) reads
/// every series; an admin of a workspace reads that workspace's alone.
pub enum MetricsReader {
    Operator,
    Admin(Caller),
}

impl FromRequestParts<Arc<AppState>> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        if bearer(parts).is_some_and(|token| state.is_metrics_token(token)) {
            return Ok(MetricsReader::Operator);
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_admin("reading metrics")?;
        Ok(MetricsReader::Admin(caller))
    }
}

/// The token of an `Authorization: Bearer …` header (or `x-api-key`, which
/// some clients send instead).
fn bearer(parts: &Parts) -> Option<&str> {
    let auth = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth {
        Some(value) => {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
        }
        None => parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty()),
    }
}
