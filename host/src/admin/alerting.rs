//! Configuring a workspace's alerts and price overrides. Audit rows name what
//! changed; the webhook URL is sealed like a key and never logged.

use super::{Admin, AdminError};
use crate::alerts::AlertSettings;
use crate::secret::Secret;
use crate::store::alert_rows::{self, WEBHOOK_FIELD};
use crate::store::{audit, price_rows, workspaces};
use crate::usage::Prices;
use serde_json::json;

/// What to do with the alert webhook.
pub enum WebhookChange {
    Keep,
    Remove,
    Set(Secret),
}

impl Admin {
    /// Replace `workspace`'s alert thresholds and change its webhook.
    pub fn configure_alerts(
        &mut self,
        workspace: &str,
        settings: AlertSettings,
        webhook: WebhookChange,
    ) -> Result<(), AdminError> {
        settings.validate().map_err(AdminError::Refused)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        let mut stored = alert_rows::settings(self.store.db(), ws.id)?;
        let webhook_detail = match webhook {
            WebhookChange::Keep => "kept",
            WebhookChange::Remove => {
                stored.webhook_sealed = None;
                stored.webhook_hint = None;
                "removed"
            }
            WebhookChange::Set(url) => {
                let parsed = url::Url::parse(url.expose())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                    .ok_or_else(|| AdminError::Refused("the webhook must be an http(s) URL".into()))?;
                let key = self.vault.data_key(ws.id, &ws.wrapped_data_key)?;
                stored.webhook_sealed = Some(self.vault.seal_secret(&key, ws.id, 0, WEBHOOK_FIELD, url.expose())?);
                // Scheme, host and port: which server gets the alerts, never
                // the path or query that may carry a token.
                let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
                let host = parsed.host_str().unwrap_or("");
                stored.webhook_hint = Some(format!("{}://{host}{port}/…", parsed.scheme()));
                "set"
            }
        };
        stored.settings = settings;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, AdminError> {
            alert_rows::put_settings(tx, ws.id, &stored)?;
            let detail = json!({ "settings": settings, "webhook": webhook_detail });
            audit::append(tx, Some(ws.id), actor, "alerts.configure", workspace, &detail)?;
            Ok(())
        })
    }

    /// Price `provider`'s `model` at `prices` in `workspace`.
    pub fn set_price(
        &mut self,
        workspace: &str,
        provider: &str,
        model: &str,
        prices: Prices,
    ) -> Result<(), AdminError> {
        let all =
            [Some(prices.input), Some(prices.output), prices.cache_read, prices.cache_write, prices.cache_write_long];
        if all.iter().flatten().any(|p| !(p.is_finite() && *p >= 0.0)) {
            return Err(AdminError::Refused("prices must be non-negative dollars per million tokens".into()));
        }
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, AdminError> {
            price_rows::set(tx, ws.id, provider, model, &prices)?;
            audit::append(tx, Some(ws.id), actor, "price.set", &format!("{provider}/{model}"), &json!(prices))?;
            Ok(())
        })
    }

    /// Go back to the plugin's prices for `provider`'s `model` in `workspace`.
    pub fn unset_price(&mut self, workspace: &str, provider: &str, model: &str) -> Result<(), AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, AdminError> {
            price_rows::unset(tx, ws.id, provider, model)?;
            audit::append(tx, Some(ws.id), actor, "price.unset", &format!("{provider}/{model}"), &json!({}))?;
            Ok(())
        })
    }
}
