//! The error classes that failover, retry and usage records speak in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an attempt failed, in terms the routing policy understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The provider (or a local RPM/TPM limit) refused for rate; waiting helps.
    RateLimit,
    /// A quota that waiting does not restore: the provider's exhausted
    /// balance or quota (`insufficient_quota`), or a local daily budget.
    /// Never retried; fails over wherever `rate_limit` does.
    QuotaExceeded,
    /// No answer in time, or a stalled stream.
    Timeout,
    /// The provider failed (5xx).
    ServerError,
    /// The provider is temporarily over capacity (503, 529).
    Overloaded,
    /// The credentials were refused.
    Auth,
    /// The request itself is wrong; no other connection will do better.
    InvalidRequest,
    /// The prompt does not fit the model's window.
    ContextLength,
    /// The provider's safety system blocked the prompt or answer.
    ContentFilter,
    /// Anything else: network failures, garbage answers, plugin faults.
    Other,
    /// The caller's API token does not allow it (a model outside the
    /// token's allow-list); nothing was sent.
    Forbidden,
}

impl ErrorClass {
    /// Every class, in declaration order.
    pub const ALL: [ErrorClass; 11] = [
        ErrorClass::RateLimit,
        ErrorClass::QuotaExceeded,
        ErrorClass::Timeout,
        ErrorClass::ServerError,
        ErrorClass::Overloaded,
        ErrorClass::Auth,
        ErrorClass::InvalidRequest,
        ErrorClass::ContextLength,
        ErrorClass::ContentFilter,
        ErrorClass::Other,
        ErrorClass::Forbidden,
    ];

    /// The classes that trigger failover when a node does not say otherwise
    /// (the seed's three; nodes add `overloaded` and others explicitly).
    pub const DEFAULT_FAILOVER: [ErrorClass; 3] = [ErrorClass::RateLimit, ErrorClass::Timeout, ErrorClass::ServerError];

    /// The snake_case name used in workflows, logs and records.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimit => "rate_limit",
            ErrorClass::QuotaExceeded => "quota_exceeded",
            ErrorClass::Timeout => "timeout",
            ErrorClass::ServerError => "server_error",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Auth => "auth",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::ContextLength => "context_length",
            ErrorClass::ContentFilter => "content_filter",
            ErrorClass::Other => "other",
            ErrorClass::Forbidden => "forbidden",
        }
    }
}

impl ErrorClass {
    /// True if a node that lists `self` in `failover_on` fails over on
    /// `class`: each class covers itself, `rate_limit` covers
    /// `quota_exceeded` and `server_error` covers `overloaded` (an operator
    /// listing the broad class means its finer ones too).
    pub fn covers(self, class: ErrorClass) -> bool {
        self == class
            || matches!(
                (self, class),
                (ErrorClass::RateLimit, ErrorClass::QuotaExceeded) | (ErrorClass::ServerError, ErrorClass::Overloaded)
            )
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
