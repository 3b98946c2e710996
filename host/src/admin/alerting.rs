//! Configuring a workspace's alerts, their channels, and price overrides.
//! Audit rows name what changed; a channel's secret (a webhook URL, an SMTP
//! password) is sealed like a key and never logged.

use super::{Admin, AdminError};
use crate::alerts::AlertSettings;
use crate::alerts::channel::{ChannelSettings, DEFAULT_WEBHOOK, WebhookSettings};
use crate::names::{self, NameKind};
use crate::secret::Secret;
use crate::store::alert_rows::{self, ChannelRow};
use crate::store::{Db, StoreError, audit, price_rows, workspaces};
use crate::usage::Prices;
use serde_json::json;

/// What to do with the workspace's `webhook` channel.
pub enum WebhookChange {
    Keep,
    Remove,
    Set(Secret),
}

impl Admin {
    /// Replace `workspace`'s alert thresholds and change its `webhook` channel.
    pub fn configure_alerts(
        &mut self,
        workspace: &str,
        settings: AlertSettings,
        webhook: WebhookChange,
    ) -> Result<(), AdminError> {
        settings.validate().map_err(AdminError::Refused)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        let (webhook_detail, staged) = match webhook {
            WebhookChange::Keep => ("kept", None),
            WebhookChange::Remove => ("removed", None),
            WebhookChange::Set(url) => {
                // A new URL keeps the channel's format.
                let current =
                    alert_rows::channels(self.store.db(), ws.id)?.into_iter().find(|c| c.name == DEFAULT_WEBHOOK);
                let settings = match current.map(|c| c.settings) {
                    Some(s @ ChannelSettings::Webhook(_)) => s,
                    _ => ChannelSettings::Webhook(WebhookSettings::default()),
                };
                (
                    "set",
                    Some(self.stage_channel(
                        ws.id,
                        &ws.wrapped_data_key,
                        DEFAULT_WEBHOOK,
                        settings,
                        Some(url),
                        None,
                    )?),
                )
            }
        };
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, AdminError> {
            alert_rows::put_settings(tx, ws.id, &settings)?;
            match &staged {
                Some(row) => alert_rows::put_channel(tx, ws.id, row)?,
                None if webhook_detail == "removed" => drop(alert_rows::remove_channel(tx, ws.id, DEFAULT_WEBHOOK)?),
                None => {}
            }
            let detail = json!({ "settings": settings, "webhook": webhook_detail });
            audit::append(tx, Some(ws.id), actor, "alerts.configure", workspace, &detail)?;
            Ok(())
        })
    }

    /// Add channel `name` to `workspace`, or replace it. `secret` is the
    /// webhook URL or the SMTP password; `None` keeps the one stored for a
    /// channel of that name and kind. The settings are audited, the secret
    /// only as set or kept.
    pub fn put_alert_channel(
        &mut self,
        workspace: &str,
        name: &str,
        settings: ChannelSettings,
        secret: Option<Secret>,
    ) -> Result<ChannelRow, AdminError> {
        names::check(NameKind::AlertChannel, name)?;
        let ws = workspaces::get(self.store.db(), workspace)?;
        let current = alert_rows::channels(self.store.db(), ws.id)?.into_iter().find(|c| c.name == name);
        let kept = current.filter(|c| c.settings.kind() == settings.kind() && secret.is_none());
        let secret_detail = match (&secret, &kept) {
            (Some(_), _) => "set",
            (None, Some(c)) if c.secret_sealed.is_some() => "kept",
            (None, _) => "none",
        };
        let row = self.stage_channel(ws.id, &ws.wrapped_data_key, name, settings, secret, kept)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx| -> Result<_, AdminError> {
            alert_rows::put_channel(tx, ws.id, &row)?;
            let detail = json!({ "channel": name, "settings": row.settings, "secret": secret_detail });
            audit::append(tx, Some(ws.id), actor, "alerts.channel.put", workspace, &detail)?;
            Ok(())
        })?;
        Ok(row)
    }

    /// Remove channel `name` of `workspace`.
    pub fn remove_alert_channel(&mut self, workspace: &str, name: &str) -> Result<(), AdminError> {
        let ws = workspaces::get(self.store.db(), workspace)?;
        let actor = self.actor.as_str();
        self.store.transaction(|tx: &Db| -> Result<_, AdminError> {
            if !alert_rows::remove_channel(tx, ws.id, name)? {
                let scope = format!(" in workspace `{}`", crate::escape::Escaped(workspace));
                return Err(StoreError::NotFound { what: "alert channel", name: name.to_string(), scope }.into());
            }
            audit::append(tx, Some(ws.id), actor, "alerts.channel.remove", workspace, &json!({ "channel": name }))?;
            Ok(())
        })
    }

    /// Check `settings` and seal `secret` (or keep `kept`'s) into the row to store.
    fn stage_channel(
        &self,
        workspace_id: i64,
        wrapped_data_key: &[u8],
        name: &str,
        settings: ChannelSettings,
        secret: Option<Secret>,
        kept: Option<ChannelRow>,
    ) -> Result<ChannelRow, AdminError> {
        let kept_secret = kept.as_ref().and_then(|c| c.secret_sealed.clone());
        settings.validate(secret.is_some() || kept_secret.is_some()).map_err(AdminError::Invalid)?;
        let hint = match (&settings, &secret) {
            (ChannelSettings::Webhook(_), Some(url)) => webhook_hint(url)?,
            (ChannelSettings::Webhook(_), None) => kept.map(|c| c.hint).unwrap_or_default(),
            (ChannelSettings::Email(e), _) => format!("smtp://{}:{} → {}", e.host, e.port, e.to.join(", ")),
        };
        let secret_sealed = match secret {
            Some(secret) => {
                let key = self.vault.data_key(workspace_id, wrapped_data_key)?;
                Some(self.vault.seal_secret(&key, workspace_id, 0, settings.secret_field(), secret.expose())?)
            }
            None => kept_secret,
        };
        Ok(ChannelRow { name: name.to_string(), settings, secret_sealed, hint })
    }

    /// Price `provider`'s `model` at `prices` in `workspace`.
    pub fn set_price(
        &mut self,
        workspace: &str,
        provider: &str,
        model: &str,
        prices: Prices,
    ) -> Result<(), AdminError> {
        let all = [
            Some(prices.input),
            Some(prices.output),
            prices.cache_read,
            prices.cache_write,
            prices.cache_write_long,
            prices.reasoning,
        ];
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

/// What operators see of a webhook URL: scheme, host and port (which server
/// gets the alerts), never the path or query that may carry a token.
fn webhook_hint(url: &Secret) -> Result<String, AdminError> {
    let parsed = url::Url::parse(url.expose())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| AdminError::Invalid("the webhook must be an http(s) URL".into()))?;
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{}://{}{port}/…", parsed.scheme(), parsed.host_str().unwrap_or("")))
}
