//! A circuit breaker per connection, so a dead primary is not tried on every
//! request. It opens after `FAILURE_THRESHOLD` consecutive transient failures,
//! at once on an auth error, or for as long as a `Retry-After` asks. After the
//! cooldown it is half-open: requests go through again, one success closes it
//! and one failure reopens it for another cooldown.

use crate::error_class::ErrorClass;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failures that open the breaker.
const FAILURE_THRESHOLD: u32 = 3;
/// How long an open breaker stays open without a `Retry-After`.
const COOLDOWN: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
}

/// Breakers for every connection of one engine.
#[derive(Default)]
pub struct Health {
    states: Mutex<HashMap<String, State>>,
}

/// Whether a connection may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed or half-open.
    Allowed,
    /// Open for this much longer.
    Open(Duration),
}

impl Health {
    /// May `connection` be tried now?
    pub fn admit(&self, connection: &str) -> Admission {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match states.get(connection).and_then(|s| s.open_until) {
            Some(until) if until > Instant::now() => Admission::Open(until - Instant::now()),
            _ => Admission::Allowed,
        }
    }

    /// Record an attempt's outcome: `None` for success.
    pub fn record(&self, connection: &str, failure: Option<(ErrorClass, Option<Duration>)>) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let state = states.entry(connection.to_string()).or_default();
        let Some((class, retry_after)) = failure else {
            *state = State::default();
            return;
        };
        let counts = matches!(
            class,
            ErrorClass::RateLimit
                | ErrorClass::ServerError
                | ErrorClass::Overloaded
                | ErrorClass::Timeout
                | ErrorClass::Auth
        );
        if !counts {
            return; // The request was at fault, not the connection.
        }
        state.failures += 1;
        let open_now = class == ErrorClass::Auth || state.failures >= FAILURE_THRESHOLD || state.open_until.is_some();
        if let Some(wait) = retry_after.filter(|_| class == ErrorClass::RateLimit) {
            state.open_until = Some(Instant::now() + wait);
        } else if open_now {
            state.open_until = Some(Instant::now() + COOLDOWN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_and_a_probe_decides_after_the_cooldown() {
        let h = Health::default();
        for _ in 0..FAILURE_THRESHOLD - 1 {
            h.record("a", Some((ErrorClass::ServerError, None)));
            assert_eq!(h.admit("a"), Admission::Allowed);
        }
        h.record("a", Some((ErrorClass::ServerError, None)));
        assert!(matches!(h.admit("a"), Admission::Open(d) if d > Duration::from_secs(25)));
        // Pretend the cooldown passed.
        h.states.lock().unwrap().get_mut("a").unwrap().open_until = Some(Instant::now());
        assert_eq!(h.admit("a"), Admission::Allowed, "half-open after the cooldown");
        h.record("a", Some((ErrorClass::ServerError, None)));
        assert!(matches!(h.admit("a"), Admission::Open(_)), "a failed probe reopens it");
        h.states.lock().unwrap().get_mut("a").unwrap().open_until = Some(Instant::now());
        h.record("a", None);
        assert_eq!(h.admit("a"), Admission::Allowed);
        h.record("a", Some((ErrorClass::ServerError, None)));
        assert_eq!(h.admit("a"), Admission::Allowed, "a success reset the count");
    }

    #[test]
    fn auth_opens_at_once_retry_after_sets_the_cooldown_and_bad_requests_do_not_count() {
        let h = Health::default();
        h.record("k", Some((ErrorClass::Auth, None)));
        assert!(matches!(h.admit("k"), Admission::Open(_)));
        h.record("r", Some((ErrorClass::RateLimit, Some(Duration::from_secs(3)))));
        assert!(matches!(h.admit("r"), Admission::Open(d) if d <= Duration::from_secs(3)));
        for _ in 0..10 {
            h.record("q", Some((ErrorClass::InvalidRequest, None)));
        }
        assert_eq!(h.admit("q"), Admission::Allowed);
    }
}
