//! A connection's circuit breaker, so a dead primary is not tried on every
//! request. It opens after [`FAILURE_THRESHOLD`] consecutive transient
//! failures, at once on an auth error or an exhausted quota, or for as long as
//! a `Retry-After` asks. After the cooldown it is half-open: requests go
//! through again, one success closes it and one failure reopens it.
//!
//! A plain value with wall-clock times, so the store backend can share it
//! between processes.

use crate::error_class::ErrorClass;
use std::time::Duration;

/// Consecutive failures that open the breaker.
pub const FAILURE_THRESHOLD: u32 = 3;
/// How long an open breaker stays open without a `Retry-After`.
pub const COOLDOWN: Duration = Duration::from_secs(30);

/// One connection's breaker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breaker {
    pub failures: u32,
    /// Wall-clock milliseconds until which it is open.
    pub open_until_ms: Option<i64>,
}

/// Whether a connection may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed or half-open.
    Allowed,
    /// Open for this much longer.
    Open(Duration),
}

impl Breaker {
    /// May the connection be tried at `now_ms`?
    pub fn admit(&self, now_ms: i64) -> Admission {
        match self.open_until_ms {
            Some(until) if until > now_ms => Admission::Open(Duration::from_millis((until - now_ms) as u64)),
            _ => Admission::Allowed,
        }
    }

    /// Record an attempt's outcome at `now_ms` (`None`: success). Returns
    /// whether the state changed (and so must be shared).
    pub fn record(&mut self, now_ms: i64, failure: Option<(ErrorClass, Option<Duration>)>) -> bool {
        let before = *self;
        let Some((class, retry_after)) = failure else {
            *self = Breaker::default();
            return *self != before;
        };
        let counts = matches!(
            class,
            ErrorClass::RateLimit
                | ErrorClass::QuotaExceeded
                | ErrorClass::ServerError
                | ErrorClass::Overloaded
                | ErrorClass::Timeout
                | ErrorClass::Auth
        );
        if !counts {
            return false; // The request was at fault, not the connection.
        }
        self.failures += 1;
        let at_once = matches!(class, ErrorClass::Auth | ErrorClass::QuotaExceeded);
        let open_now = at_once || self.failures >= FAILURE_THRESHOLD || self.open_until_ms.is_some();
        if let Some(wait) = retry_after.filter(|_| class == ErrorClass::RateLimit) {
            self.open_until_ms = Some(now_ms + wait.as_millis() as i64);
        } else if open_now {
            self.open_until_ms = Some(now_ms + COOLDOWN.as_millis() as i64);
        }
        *self != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_and_a_probe_decides_after_the_cooldown() {
        let mut b = Breaker::default();
        for _ in 0..FAILURE_THRESHOLD - 1 {
            b.record(0, Some((ErrorClass::ServerError, None)));
            assert_eq!(b.admit(0), Admission::Allowed);
        }
        b.record(0, Some((ErrorClass::ServerError, None)));
        assert!(matches!(b.admit(0), Admission::Open(d) if d > Duration::from_secs(25)));
        let later = 31_000;
        assert_eq!(b.admit(later), Admission::Allowed, "half-open after the cooldown");
        b.record(later, Some((ErrorClass::ServerError, None)));
        assert!(matches!(b.admit(later), Admission::Open(_)), "a failed probe reopens it");
        assert!(b.record(later + 31_000, None), "a success closes it");
        assert_eq!(b.admit(later + 31_000), Admission::Allowed);
        assert!(!b.record(later + 31_000, None), "a success on a closed breaker changes nothing");
        b.record(later + 31_000, Some((ErrorClass::ServerError, None)));
        assert_eq!(b.admit(later + 31_000), Admission::Allowed, "a success reset the count");
    }

    #[test]
    fn auth_and_quota_open_at_once_retry_after_sets_the_cooldown_and_bad_requests_do_not_count() {
        for class in [ErrorClass::Auth, ErrorClass::QuotaExceeded] {
            let mut b = Breaker::default();
            b.record(0, Some((class, None)));
            assert!(matches!(b.admit(0), Admission::Open(_)), "{class}");
        }
        let mut r = Breaker::default();
        r.record(0, Some((ErrorClass::RateLimit, Some(Duration::from_secs(3)))));
        assert!(matches!(r.admit(0), Admission::Open(d) if d <= Duration::from_secs(3)));
        let mut q = Breaker::default();
        for _ in 0..10 {
            assert!(!q.record(0, Some((ErrorClass::InvalidRequest, None))));
        }
        assert_eq!(q.admit(0), Admission::Allowed);
    }
}
