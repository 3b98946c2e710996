//! Posting alerts to a workspace's webhook: an HTTP POST with a JSON body,
//! retried with exponential backoff and jitter on network errors, 429 and 5xx.
//! The URL stays sealed until the moment it is used (it often carries a
//! token) and is scrubbed from every error kept or logged.

use crate::secret::Secret;
use crate::store::{Store, alert_rows};
use crate::transport::redact;
use crate::vault::SealedSecret;
use rand::Rng;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;

/// One alert on its way to a webhook.
pub struct Delivery {
    pub alert_id: i64,
    pub url: SealedSecret,
    pub body: serde_json::Value,
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    /// Time allowed for one POST.
    pub timeout: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy { attempts: 5, first_backoff: Duration::from_secs(1), timeout: Duration::from_secs(10) }
    }
}

/// Deliver everything `rx` brings until it closes, noting each attempt in the store.
pub(super) async fn deliver_all(mut rx: mpsc::UnboundedReceiver<Delivery>, store: Store, policy: WebhookPolicy) {
    // Locked only for each short write, never across an await.
    let store = Mutex::new(store);
    let client =
        match reqwest::Client::builder().timeout(policy.timeout).redirect(reqwest::redirect::Policy::none()).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "alert webhooks disabled: no HTTP client");
                return;
            }
        };
    while let Some(d) = rx.recv().await {
        deliver(&client, &store, &policy, d).await;
    }
}

async fn deliver(client: &reqwest::Client, store: &Mutex<Store>, policy: &WebhookPolicy, d: Delivery) {
    for attempt in 0..policy.attempts.max(1) {
        let outcome = match d.url.open() {
            Ok(url) => post(client, &url, &d.body).await,
            Err(e) => Err((format!("the webhook URL cannot be opened: {e}"), false)),
        };
        let error = outcome.as_ref().err().map(|(e, _)| e.as_str());
        let recorded = {
            let store = store.lock().unwrap_or_else(|e| e.into_inner());
            alert_rows::record_delivery(store.db(), d.alert_id, error)
        };
        if let Err(e) = recorded {
            tracing::error!(alert = d.alert_id, error = %e, "alert delivery could not be recorded");
        }
        match outcome {
            Ok(()) => return,
            Err((error, retryable)) => {
                tracing::warn!(alert = d.alert_id, attempt = attempt + 1, %error, "alert webhook failed");
                if !retryable || attempt + 1 == policy.attempts {
                    return;
                }
                let jitter = rand::rng().random_range(0.75..1.25);
                let backoff = policy.first_backoff.saturating_mul(1 << attempt.min(16)).mul_f64(jitter);
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// POST `body` to `url`; on failure, a message free of the URL and whether trying again may help.
async fn post(client: &reqwest::Client, url: &Secret, body: &serde_json::Value) -> Result<(), (String, bool)> {
    let scrub = |text: String| redact::scrub(&text, std::slice::from_ref(url));
    let request = client
        .post(url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap_or_default());
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let status = r.status();
            let retryable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
            Err((format!("the webhook answered HTTP {}", status.as_u16()), retryable))
        }
        Err(e) => Err((scrub(format!("the webhook could not be reached: {}", e.without_url())), true)),
    }
}
