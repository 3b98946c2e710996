//! Users and API tokens, audited. A token is generated here, shown once by the
//! caller and stored only as its hash.

use super::{Admin, AdminError};
use crate::names::{self, NameKind};
use crate::secret::Secret;
use crate::store::StoreError;
use crate::store::users::{self, Role, TokenPolicy};
use crate::store::{audit, workspaces};
use serde_json::json;

impl Admin {
    /// Create a user.
    pub fn add_user(&mut self, name: &str) -> Result<(), AdminError> {
        names::check(NameKind::User, name)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, StoreError> {
            users::create_user(tx, name)?;
            audit::append(tx, None, actor, "user.create", name, &json!({}))
        })?;
        Ok(())
    }

    /// A new token granting `role` in `workspace` to `user`, held to
    /// `policy` (its own limits and allow-lists): (token id, token).
    pub fn create_token(
        &mut self,
        user: &str,
        workspace: &str,
        role: Role,
        policy: &TokenPolicy,
    ) -> Result<(i64, Secret), AdminError> {
        policy.validate().map_err(AdminError::Invalid)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        let user_id = users::user_id(self.store.db(), user)?.ok_or_else(|| crate::store::StoreError::NotFound {
            what: "user",
            name: user.into(),
            scope: String::new(),
        })?;
        let token = Secret::new(format!("lln_{}", hex::encode(rand::random::<[u8; 32]>())));
        let actor = self.actor.as_str();
        let id = self.store.transaction(|tx| -> Result<_, StoreError> {
            let id = users::insert_token(tx, user_id, ws.id, role, token.expose(), policy)?;
            let detail = json!({ "token_id": id, "role": role, "limits": policy });
            audit::append(tx, Some(ws.id), actor, "token.create", user, &detail)?;
            Ok(id)
        })?;
        Ok((id, token))
    }

    /// Replace the limits and allow-lists of live token `id` of `workspace`
    /// with `policy` (what it leaves out is lifted). Daemons pick it up
    /// within a second, like a revocation.
    pub fn limit_token(&mut self, workspace: &str, id: i64, policy: &TokenPolicy) -> Result<(), AdminError> {
        policy.validate().map_err(AdminError::Invalid)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, StoreError> {
            if !users::set_policy(tx, ws.id, id, policy)? {
                return Err(StoreError::NotFound {
                    what: "live token",
                    name: id.to_string(),
                    scope: format!(" in workspace `{workspace}`"),
                });
            }
            audit::append(tx, Some(ws.id), actor, "token.limit", &id.to_string(), &json!({ "limits": policy }))
        })?;
        Ok(())
    }

    /// Revoke token `id` of `workspace`.
    pub fn revoke_token(&mut self, workspace: &str, id: i64) -> Result<(), AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, StoreError> {
            if !users::revoke_token(tx, ws.id, id)? {
                return Err(crate::store::StoreError::NotFound {
                    what: "live token",
                    name: id.to_string(),
                    scope: format!(" in workspace `{workspace}`"),
                });
            }
            audit::append(tx, Some(ws.id), actor, "token.revoke", &id.to_string(), &json!({}))
        })?;
        Ok(())
    }
}
