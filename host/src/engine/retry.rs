//! When to try the same connection again. A transient failure on the last
//! candidate (or one the node does not fail over on) is retried with
//! exponential backoff and jitter, honouring the provider's `Retry-After`,
//! bounded in count and in total time. Where another connection remains, the
//! node fails over instead: a healthy connection now beats waiting on a sick one.

use crate::error_class::ErrorClass;
use std::time::Duration;

/// One connection's retry bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; each retry doubles it.
    pub base_delay: Duration,
    /// No single wait is longer (a longer `Retry-After` stops retrying).
    pub max_delay: Duration,
    /// All attempts and waits on this connection end within this.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_total: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first) after an error of
    /// `class`, or `None` to stop. `spent` is the time already used on this connection.
    pub fn delay(
        &self,
        retry: u32,
        class: ErrorClass,
        retry_after: Option<Duration>,
        spent: Duration,
    ) -> Option<Duration> {
        let transient = matches!(
            class,
            ErrorClass::RateLimit | ErrorClass::ServerError | ErrorClass::Overloaded | ErrorClass::Timeout
        );
        if !transient || retry >= self.max_retries {
            return None;
        }
        let wait = match retry_after {
            Some(asked) => asked,
            None => {
                let backoff = self.base_delay.saturating_mul(1u32 << retry.min(16)).min(self.max_delay);
                // Full jitter in the upper half: spreads retries of concurrent calls.
                backoff.mul_f64(0.5 + rand::random::<f64>() * 0.5)
            }
        };
        (wait <= self.max_delay && spent + wait <= self.max_total).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_with_jitter_and_stops_at_the_count() {
        let p = RetryPolicy::default();
        for retry in 0..2 {
            let full = Duration::from_millis(200 << retry);
            let d = p.delay(retry, ErrorClass::ServerError, None, Duration::ZERO).unwrap();
            assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
        }
        assert_eq!(p.delay(2, ErrorClass::ServerError, None, Duration::ZERO), None);
    }

    #[test]
    fn honours_retry_after_within_the_bounds() {
        let p = RetryPolicy::default();
        let asked = Some(Duration::from_millis(1500));
        assert_eq!(p.delay(0, ErrorClass::RateLimit, asked, Duration::ZERO), Some(Duration::from_millis(1500)));
        assert_eq!(p.delay(0, ErrorClass::RateLimit, Some(Duration::from_secs(20)), Duration::ZERO), None);
        assert_eq!(p.delay(0, ErrorClass::RateLimit, asked, Duration::from_secs(14)), None, "past the total bound");
    }

    #[test]
    fn never_retries_what_cannot_change() {
        let p = RetryPolicy::default();
        for class in
            [ErrorClass::Auth, ErrorClass::InvalidRequest, ErrorClass::ContextLength, ErrorClass::ContentFilter]
        {
            assert_eq!(p.delay(0, class, None, Duration::ZERO), None, "{class}");
        }
    }
}
