//! Who a run is for: named in every usage event it records (the API token's
//! user and id, or `cli:ACCOUNT` for a CLI run), and, for an API token, the
//! token's own limits and allow-lists (the peers' "virtual keys"), enforced
//! beside the connections' by the same limits service.

use crate::escape::{Escaped, quoted_list};
use crate::limits::{LimitKey, Limits};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A token's own limits and allow-lists, stored with it. Empty lists allow all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenPolicy {
    /// Spend allowed per UTC day through this token, over every connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_budget_usd: Option<f64>,
    /// Requests (attempts) per minute through this token, over every connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// The chat routes it may call (`model` on `/v1/chat/completions`); a
    /// token with routes runs nothing else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// The models it may use, on any connection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

impl TokenPolicy {
    /// Refuse values that cannot be enforced.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(usd) = self.daily_budget_usd
            && !(usd.is_finite() && usd >= 0.0)
        {
            return Err(format!("a token's daily budget must be a number of dollars, 0 or more, not {usd}"));
        }
        if self.rpm == Some(0) {
            return Err("a token's RPM must be at least 1 (leave it out for no limit)".into());
        }
        for (what, list) in [("route", &self.routes), ("model", &self.models)] {
            if let Some(bad) = list.iter().find(|n| n.trim().is_empty() || n.contains(crate::escape::is_unsafe)) {
                return Err(format!("{what} {bad:?} in a token's allow-list is empty or unprintable"));
            }
        }
        Ok(())
    }

    /// The limits the limits service enforces for this token.
    pub fn limits(&self) -> Limits {
        Limits { rpm: self.rpm, tpm: None, daily_budget_usd: self.daily_budget_usd, queue_for: Default::default() }
    }

    /// True when nothing is limited or restricted.
    pub fn is_empty(&self) -> bool {
        *self == TokenPolicy::default()
    }
}

/// An API token acting in a run: its id, policy and limit key.
#[derive(Debug)]
pub struct TokenGrant {
    pub id: i64,
    pub policy: TokenPolicy,
    /// `token/ID` in the token's workspace: a namespace no connection name
    /// can enter (names hold no `/`).
    pub key: LimitKey,
    pub limits: Limits,
}

impl TokenGrant {
    /// Refuse `model` unless the token allows it.
    pub fn check_model(&self, model: &str) -> Result<(), String> {
        let allowed = &self.policy.models;
        if allowed.is_empty() || allowed.iter().any(|m| m == model) {
            return Ok(());
        }
        Err(format!("token {} may not use model `{}` (its models: {})", self.id, Escaped(model), quoted_list(allowed)))
    }

    /// Refuse chat route `route` unless the token allows it.
    pub fn check_route(&self, route: &str) -> Result<(), String> {
        let allowed = &self.policy.routes;
        if allowed.is_empty() || allowed.iter().any(|r| r == route) {
            return Ok(());
        }
        Err(format!(
            "token {} may not use `{}`: it may use the route(s) {} only",
            self.id,
            Escaped(route),
            quoted_list(allowed)
        ))
    }

    /// Refuse a workflow run when the token is held to chat routes.
    pub fn check_workflows(&self) -> Result<(), String> {
        if self.policy.routes.is_empty() {
            return Ok(());
        }
        Err(format!(
            "token {} may not run workflows: it may use the chat route(s) {} only (POST /v1/chat/completions)",
            self.id,
            quoted_list(&self.policy.routes)
        ))
    }
}

/// Who a run is for. Built once per caller and shared by its runs.
#[derive(Debug)]
pub struct Principal {
    /// The token's user, or `cli:ACCOUNT`.
    pub user: Arc<str>,
    pub token: Option<TokenGrant>,
}

impl Principal {
    /// A CLI run by `actor` (as the audit log names it, `cli:ACCOUNT`).
    pub fn cli(actor: &str) -> Arc<Self> {
        Arc::new(Principal { user: actor.into(), token: None })
    }

    /// A run through API token `id` of `user` in workspace `workspace_id`.
    pub fn token(user: &str, workspace_id: i64, id: i64, policy: TokenPolicy) -> Arc<Self> {
        let grant = TokenGrant { id, key: LimitKey::token(workspace_id, id), limits: policy.limits(), policy };
        Arc::new(Principal { user: user.into(), token: Some(grant) })
    }

    /// The token's id, if a token acts.
    pub fn token_id(&self) -> Option<i64> {
        self.token.as_ref().map(|t| t.id)
    }
}
