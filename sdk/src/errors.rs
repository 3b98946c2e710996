//! Error classification helpers shared by plugins: most providers agree on what an
//! HTTP status means, and differ only in their body's codes.

use crate::{ErrorKind, Header, ProviderError};

/// The code a plugin gives a rate-limit error whose quota waiting does not
/// restore (an exhausted balance or plan): the host then fails over at once
/// and never retries. OpenAI's own `insufficient_quota` is understood too.
pub const QUOTA_EXCEEDED: &str = "quota_exceeded";

/// The usual meaning of an HTTP status, before looking at the body.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Auth,
        408 => ErrorKind::Timeout,
        413 => ErrorKind::ContextLength,
        429 => ErrorKind::RateLimit,
        400..=499 => ErrorKind::InvalidRequest,
        503 | 529 => ErrorKind::Overloaded,
        504 => ErrorKind::Timeout,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::Other,
    }
}

/// The wait a provider asked for, from `retry-after-ms` or `retry-after` (seconds).
pub fn retry_after_ms(headers: &[Header]) -> Option<u64> {
    let number = |name| {
        let v = crate::http::header_value(headers, name)?.trim().parse::<f64>().ok()?;
        (v.is_finite() && v >= 0.0).then_some(v)
    };
    number("retry-after-ms").map(|ms| ms as u64).or_else(|| number("retry-after").map(|secs| (secs * 1000.0) as u64))
}

/// The common shape of a provider error body, picked out of the JSON by a plugin.
#[derive(Debug, Default, Clone)]
pub struct ErrorBody {
    /// Human-readable message.
    pub message: Option<String>,
    /// Provider's error type, e.g. `invalid_request_error`.
    pub kind: Option<String>,
    /// Provider's error code, e.g. `context_length_exceeded`.
    pub code: Option<String>,
}

/// Build a [`ProviderError`] from a status, headers and whatever the body said.
/// `refine` may override the status-derived kind from the body's type or code.
pub fn from_response(
    status: u16,
    headers: &[Header],
    body: &[u8],
    parsed: ErrorBody,
    refine: impl FnOnce(&ErrorBody) -> Option<ErrorKind>,
) -> ProviderError {
    let kind = refine(&parsed).unwrap_or_else(|| kind_for_status(status));
    let message = match parsed.message {
        Some(m) if !m.is_empty() => m,
        _ => fallback_message(status, body),
    };
    ProviderError { kind, message, code: parsed.code.or(parsed.kind), retry_after_ms: retry_after_ms(headers) }
}

/// A message for a body that did not say anything structured: the status and
/// the first bytes of the body, lossily decoded.
pub fn fallback_message(status: u16, body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let text = text.trim();
    if text.is_empty() { format!("HTTP {status} with an empty body") } else { format!("HTTP {status}: {text}") }
}
