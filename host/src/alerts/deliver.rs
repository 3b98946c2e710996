//! Delivering alerts to a workspace's channels, one task per process:
//! each attempt is noted in the store, and a failure that may pass (a
//! network error, a 429 or 5xx, an SMTP server's transient refusal) is
//! retried with exponential backoff and jitter. A channel that keeps failing
//! costs a warning and a note on the alert, nothing else.

use super::channel::{Channel, ChannelSettings};
use super::{email, webhook};
use crate::store::{Store, alert_rows};
use rand::Rng;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// An alert as every channel receives it.
#[derive(Debug, Serialize)]
pub struct Fired {
    pub source: &'static str,
    pub id: i64,
    pub workspace: String,
    pub kind: &'static str,
    pub subject: String,
    pub value: f64,
    pub threshold: f64,
    pub window_start_ms: i64,
    pub fired_ms: i64,
    pub message: String,
}

/// One alert on its way to one channel.
pub struct Delivery {
    pub alert: Arc<Fired>,
    pub channel: Channel,
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    /// Time allowed for one POST or one SMTP session.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy { attempts: 5, first_backoff: Duration::from_secs(1), timeout: Duration::from_secs(10) }
    }
}

/// Why an attempt failed (free of the channel's secret), and whether trying
/// again may help.
pub(super) struct Failed {
    pub message: String,
    pub retryable: bool,
}

/// Deliver everything `rx` brings until it closes, noting each attempt in the store.
pub(super) async fn deliver_all(mut rx: mpsc::UnboundedReceiver<Delivery>, store: Store, policy: DeliveryPolicy) {
    // Locked only for each short write, never across an await.
    let store = Mutex::new(store);
    let client =
        match reqwest::Client::builder().timeout(policy.timeout).redirect(reqwest::redirect::Policy::none()).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "alert delivery disabled: no HTTP client");
                return;
            }
        };
    while let Some(d) = rx.recv().await {
        deliver(&client, &store, &policy, d).await;
    }
}

async fn deliver(client: &reqwest::Client, store: &Mutex<Store>, policy: &DeliveryPolicy, d: Delivery) {
    let (id, name, kind) = (d.alert.id, d.channel.name.as_str(), d.channel.settings.kind());
    for attempt in 0..policy.attempts.max(1) {
        let outcome = attempt_once(client, policy, &d).await;
        let error = outcome.as_ref().err().map(|f| format!("{kind} channel `{name}`: {}", f.message));
        let recorded = {
            let store = store.lock().unwrap_or_else(|e| e.into_inner());
            alert_rows::record_delivery(store.db(), id, error.as_deref())
        };
        if let Err(e) = recorded {
            tracing::error!(alert = id, error = %e, "alert delivery could not be recorded");
        }
        match outcome {
            Ok(()) => return,
            Err(failed) => {
                tracing::warn!(alert = id, channel = name, kind, attempt = attempt + 1, error = %failed.message, "alert delivery failed");
                if !failed.retryable || attempt + 1 == policy.attempts {
                    return;
                }
                let jitter = rand::rng().random_range(0.75..1.25);
                let backoff = policy.first_backoff.saturating_mul(1 << attempt.min(16)).mul_f64(jitter);
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// One attempt: the secret opened for it alone.
async fn attempt_once(client: &reqwest::Client, policy: &DeliveryPolicy, d: &Delivery) -> Result<(), Failed> {
    let secret = match d.channel.secret.as_ref().map(|s| s.open()).transpose() {
        Ok(secret) => secret,
        Err(e) => return Err(Failed { message: format!("its secret cannot be opened: {e}"), retryable: false }),
    };
    match (&d.channel.settings, secret) {
        (ChannelSettings::Webhook(w), Some(url)) => webhook::post(client, &url, w.format, &d.alert).await,
        (ChannelSettings::Webhook(_), None) => Err(Failed { message: "it has no URL".into(), retryable: false }),
        (ChannelSettings::Email(e), password) => email::send(e, password.as_ref(), &d.alert, policy.timeout).await,
    }
}
