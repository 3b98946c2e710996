//! Posting an alert to a webhook: our JSON, or Slack's incoming-webhook
//! shape (`text` for notifications, `blocks` for the message). The URL is
//! scrubbed from every error kept or logged.

use super::channel::WebhookFormat;
use super::deliver::{Failed, Fired};
use crate::secret::Secret;
use crate::transport::redact;
use serde_json::{Value, json};

/// POST `alert` to `url` in `format`.
pub(super) async fn post(
    client: &reqwest::Client,
    url: &Secret,
    format: WebhookFormat,
    alert: &Fired,
) -> Result<(), Failed> {
    let body = match format {
        WebhookFormat::Json => serde_json::to_vec(alert),
        WebhookFormat::Slack => serde_json::to_vec(&slack(alert)),
    }
    .unwrap_or_default();
    let request = client.post(url.expose()).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let status = r.status();
            let retryable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
            Err(Failed { message: format!("the webhook answered HTTP {}", status.as_u16()), retryable })
        }
        Err(e) => {
            let message = format!("the webhook could not be reached: {}", e.without_url());
            Err(Failed { message: redact::scrub(&message, std::slice::from_ref(url)), retryable: true })
        }
    }
}

/// The one-line summary every channel leads with.
pub(super) fn headline(alert: &Fired) -> String {
    format!("llmnode {} alert in workspace {}: {}", alert.kind, alert.workspace, alert.message)
}

/// Slack's incoming-webhook message: `text` (the notification's fallback)
/// and `blocks`: a section with the message, a context line with the facts.
fn slack(alert: &Fired) -> Value {
    let facts = format!(
        "workspace `{}` · {} · value {} · threshold {} · alert #{}",
        alert.workspace, alert.subject, alert.value, alert.threshold, alert.id
    );
    json!({
        "text": mrkdwn(&headline(alert)),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn",
                "text": format!("*llmnode {} alert*\n{}", alert.kind, mrkdwn(&alert.message)) } },
            { "type": "context", "elements": [{ "type": "mrkdwn", "text": mrkdwn(&facts) }] },
        ],
    })
}

/// `text` with the three characters Slack's mrkdwn reserves escaped.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_body_escapes_what_slack_would_read_as_markup() {
        let alert = Fired {
            source: "llmnode",
            id: 3,
            workspace: "w".into(),
            kind: "daily_spend",
            subject: "workspace".into(),
            value: 2.0,
            threshold: 1.0,
            window_start_ms: 0,
            fired_ms: 0,
            message: "spend <@channel> & more".into(),
        };
        let body = slack(&alert);
        assert_eq!(body["text"], json!("llmnode daily_spend alert in workspace w: spend &lt;@channel&gt; &amp; more"));
        assert_eq!(body["blocks"][0]["type"], json!("section"));
        assert!(body["blocks"][1]["elements"][0]["text"].as_str().unwrap().contains("alert #3"));
    }
}
