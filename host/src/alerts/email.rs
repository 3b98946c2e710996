//! Mailing an alert over SMTP: STARTTLS required, opportunistic or off,
//! AUTH PLAIN or LOGIN. The password is opened for one session and scrubbed
//! from every error kept or logged.

use super::channel::{EmailSettings, SmtpAuth, StartTls, address};
use super::deliver::{Failed, Fired};
use super::webhook::headline;
use crate::secret::Secret;
use crate::transport::redact;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Mail `alert` through the server of `settings`.
pub(super) async fn send(
    settings: &EmailSettings,
    password: Option<&Secret>,
    alert: &Fired,
    timeout: Duration,
) -> Result<(), Failed> {
    let scrub = |text: String| match password {
        Some(p) => redact::scrub(&text, std::slice::from_ref(p)),
        None => text,
    };
    let refused = |message: String| Failed { message: scrub(message), retryable: false };
    let message = compose(settings, alert).map_err(|e| refused(format!("the mail could not be written: {e}")))?;
    let transport = transport(settings, password, timeout).map_err(|e| refused(format!("TLS setup failed: {e}")))?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) => Err(Failed {
            message: scrub(format!("the SMTP server {}:{} did not take the mail: {e}", settings.host, settings.port)),
            retryable: !lasting(&e),
        }),
    }
}

/// Whether `e` will not change on its own: a refusal (5xx), a client-side
/// mistake, or a TLS failure (a certificate not trusted: the TLS stack
/// reports it as invalid data). An outage or a 4xx answer may pass.
fn lasting(e: &lettre::transport::smtp::Error) -> bool {
    if e.is_permanent() || e.is_tls() || e.is_client() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The SMTP session `settings` asks for, logging in if it says to.
fn transport(
    settings: &EmailSettings,
    password: Option<&Secret>,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    let tls = match settings.starttls {
        StartTls::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(settings.host.clone());
            if let Some(pem) = &settings.ca_pem {
                params = params.add_root_certificate(Certificate::from_pem(pem.as_bytes())?);
            }
            let params = params.build_rustls()?;
            match mode {
                StartTls::Required => Tls::Required(params),
                _ => Tls::Opportunistic(params),
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
        .port(settings.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let (Some(auth), Some(user), Some(password)) = (settings.auth, &settings.username, password) {
        let mechanism = match auth {
            SmtpAuth::Plain => Mechanism::Plain,
            SmtpAuth::Login => Mechanism::Login,
        };
        builder = builder
            .credentials(Credentials::new(user.clone(), password.expose().to_string()))
            .authentication(vec![mechanism]);
    }
    Ok(builder.build())
}

/// The mail: the headline as its subject, the message and the facts as its text.
fn compose(settings: &EmailSettings, alert: &Fired) -> Result<Message, String> {
    let mailbox = |text: &str| address(text).map_err(|e| format!("{text:?} is not an address: {e}"));
    let mut message = Message::builder().from(mailbox(&settings.from)?);
    for to in &settings.to {
        message = message.to(mailbox(to)?);
    }
    let about = if alert.subject.is_empty() { String::new() } else { format!(": {}", alert.subject) };
    let subject = format!("[llmnode] {} alert in workspace {}{about}", alert.kind, alert.workspace);
    let body = format!(
        "{}\n\nworkspace: {}\nkind: {}\nsubject: {}\nvalue: {}\nthreshold: {}\nalert: #{}\n",
        headline(alert),
        alert.workspace,
        alert.kind,
        alert.subject,
        alert.value,
        alert.threshold,
        alert.id
    );
    message
        .subject(subject.replace(['\r', '\n'], " "))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}
