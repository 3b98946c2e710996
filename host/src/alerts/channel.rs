//! Where a workspace's alerts go besides the log: named channels, each a
//! webhook (our JSON, or the shape Slack's incoming webhooks take) or email
//! over SMTP. A channel's public settings are stored as JSON; its secret
//! (the webhook URL, which often carries a token, or the SMTP password) is
//! sealed in the vault and opened only to deliver.

use crate::vault::SealedSecret;
use serde::{Deserialize, Serialize};

/// The vault field a webhook URL is sealed as (bound to the workspace).
pub const WEBHOOK_FIELD: &str = "alerts.webhook_url";
/// The vault field an SMTP password is sealed as (bound to the workspace).
pub const SMTP_PASSWORD_FIELD: &str = "alerts.smtp_password";
/// The channel `llmnode alerts set --webhook-url-env` and the settings API's
/// `webhook_url` change.
pub const DEFAULT_WEBHOOK: &str = "webhook";

/// A channel's public settings: what it is and where it delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelSettings {
    /// An HTTP POST to a URL (the channel's secret).
    Webhook(WebhookSettings),
    /// A mail through an SMTP server.
    Email(EmailSettings),
}

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Our own JSON: every field of the alert.
    #[default]
    Json,
    /// `{"text", "blocks"}`, as Slack's (and compatible) incoming webhooks take it.
    Slack,
}

/// A webhook channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    #[serde(default)]
    pub format: WebhookFormat,
}

/// Whether the SMTP session is encrypted before anything else is said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartTls {
    /// STARTTLS or no delivery.
    #[default]
    Required,
    /// STARTTLS when the server offers it, plain text otherwise.
    Opportunistic,
    /// Plain text (a relay on this machine).
    None,
}

/// How the SMTP login is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpAuth {
    Plain,
    Login,
}

/// An email channel's settings; the password, if any, is the channel's secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP server's host name (also the name its certificate must carry).
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub starttls: StartTls,
    /// Log in with this mechanism (needs `username` and a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<SmtpAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The sender address.
    pub from: String,
    /// The recipients; at least one.
    pub to: Vec<String>,
    /// A PEM certificate to trust besides the public roots: a private CA or
    /// a self-signed server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

fn default_port() -> u16 {
    587
}

impl ChannelSettings {
    /// `webhook` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSettings::Webhook(_) => "webhook",
            ChannelSettings::Email(_) => "email",
        }
    }

    /// The vault field the channel's secret is sealed as.
    pub fn secret_field(&self) -> &'static str {
        match self {
            ChannelSettings::Webhook(_) => WEBHOOK_FIELD,
            ChannelSettings::Email(_) => SMTP_PASSWORD_FIELD,
        }
    }

    /// Refuse settings that could never deliver, or would send a password
    /// in plain text off this machine; `has_secret` says whether the channel
    /// has one (new or kept).
    pub fn validate(&self, has_secret: bool) -> Result<(), String> {
        match self {
            ChannelSettings::Webhook(_) if !has_secret => Err("a webhook channel needs its URL".into()),
            ChannelSettings::Webhook(_) => Ok(()),
            ChannelSettings::Email(e) => e.validate(has_secret),
        }
    }
}

impl EmailSettings {
    fn validate(&self, has_password: bool) -> Result<(), String> {
        if self.host.trim().is_empty() || self.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("the SMTP host {:?} is not a host name", self.host));
        }
        if self.port == 0 {
            return Err("the SMTP port must be 1 to 65535".into());
        }
        address(&self.from).map_err(|e| format!("the sender address {:?} is not an address: {e}", self.from))?;
        if self.to.is_empty() {
            return Err("an email channel needs at least one recipient".into());
        }
        for to in &self.to {
            address(to).map_err(|e| format!("the recipient {to:?} is not an address: {e}"))?;
        }
        match (self.auth, self.username.as_deref(), has_password) {
            (None, None, false) => {}
            (None, _, _) => return Err("a username or password needs an AUTH mechanism (plain or login)".into()),
            (Some(_), Some(user), true) if !user.is_empty() => {}
            (Some(_), _, _) => return Err("SMTP AUTH needs a username and a password".into()),
        }
        if self.auth.is_some() && self.starttls != StartTls::Required && !is_loopback(&self.host) {
            return Err(format!(
                "the SMTP password would cross the network in plain text: use STARTTLS required with {}, or a \
                 relay on this machine (127.0.0.1, ::1 or localhost)",
                self.host
            ));
        }
        if let Some(pem) = &self.ca_pem {
            use rustls_pki_types::{CertificateDer, pem::PemObject};
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>();
            if !certs.is_ok_and(|c| !c.is_empty()) {
                return Err("the CA certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)".into());
            }
        }
        Ok(())
    }
}

/// `text` as an email address (a mailbox, with or without a display name).
pub(super) fn address(text: &str) -> Result<lettre::message::Mailbox, lettre::address::AddressError> {
    text.parse()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One of a workspace's channels as a run takes it: the secret still sealed.
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub settings: ChannelSettings,
    pub secret: Option<SealedSecret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> EmailSettings {
        EmailSettings {
            host: "smtp.example.com".into(),
            port: 587,
            starttls: StartTls::Required,
            auth: Some(SmtpAuth::Plain),
            username: Some("alerts".into()),
            from: "llmnode <alerts@example.com>".into(),
            to: vec!["ops@example.com".into()],
            ca_pem: None,
        }
    }

    #[test]
    fn email_settings_that_cannot_deliver_or_would_expose_the_password_are_refused() {
        assert_eq!(ChannelSettings::Email(email()).validate(true), Ok(()));
        let refused = |e: EmailSettings, has_password: bool| ChannelSettings::Email(e).validate(has_password);
        assert!(refused(email(), false).unwrap_err().contains("username and a password"));
        let plain = EmailSettings { starttls: StartTls::Opportunistic, ..email() };
        assert!(refused(plain, true).unwrap_err().contains("plain text"));
        let local = EmailSettings { host: "127.0.0.1".into(), starttls: StartTls::None, ..email() };
        assert_eq!(refused(local, true), Ok(()));
        assert!(refused(EmailSettings { to: vec![], ..email() }, true).unwrap_err().contains("recipient"));
        assert!(refused(EmailSettings { to: vec!["nope".into()], ..email() }, true).unwrap_err().contains("\"nope\""));
        assert!(refused(EmailSettings { ca_pem: Some("x".into()), ..email() }, true).unwrap_err().contains("PEM"));
        let no_auth = EmailSettings { auth: None, username: None, ..email() };
        assert_eq!(refused(no_auth.clone(), false), Ok(()));
        assert!(refused(no_auth, true).is_err(), "a password without AUTH is a mistake");
        assert!(ChannelSettings::Webhook(WebhookSettings::default()).validate(false).is_err());
    }

    #[test]
    fn settings_are_tagged_by_kind_and_refuse_unknown_fields() {
        let json = serde_json::json!({ "kind": "webhook", "format": "slack" });
        let parsed: ChannelSettings = serde_json::from_value(json).unwrap();
        assert_eq!(parsed, ChannelSettings::Webhook(WebhookSettings { format: WebhookFormat::Slack }));
        let typo = serde_json::json!({ "kind": "email", "host": "h", "from": "a@b", "to": [], "pasword": "x" });
        assert!(serde_json::from_value::<ChannelSettings>(typo).is_err());
    }
}
