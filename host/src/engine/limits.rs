//! Per-connection limits, held across every run of one engine: requests and
//! tokens per minute (`governor`), and a daily budget in USD by atomic
//! reservation: an estimated cost is reserved before the call and replaced by
//! the real cost after it, so concurrent calls can never overspend together.
//!
//! A refusal is a local `rate_limit`: the node fails over as it would on a 429.

use super::prompt_size::PromptSize;
use crate::usage::{Prices, TokenUsage};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A per-minute limiter that reports the capacity left after each grant.
type MinuteLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// One per-minute quota and what was left of it at the last grant.
struct PerMinute {
    limiter: MinuteLimiter,
    per_minute: u32,
    /// (when, capacity left then): refills at `per_minute` a minute since.
    left: Mutex<(Instant, u32)>,
}

impl PerMinute {
    fn new(per_minute: Option<u32>) -> Option<Self> {
        let n = NonZeroU32::new(per_minute?)?;
        let limiter = RateLimiter::direct(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>();
        Some(PerMinute { limiter, per_minute: n.get(), left: Mutex::new((Instant::now(), n.get())) })
    }

    /// The share of the quota free now, from 0 to 1.
    fn headroom(&self) -> f64 {
        let (at, left) = *self.left.lock().unwrap_or_else(|e| e.into_inner());
        let refilled = at.elapsed().as_secs_f64() / 60.0 * f64::from(self.per_minute);
        ((f64::from(left) + refilled) / f64::from(self.per_minute)).min(1.0)
    }
}

/// A connection's limits, as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens (prompt estimate plus the answer's bound) per minute.
    pub tpm: Option<u32>,
    /// Spend per UTC day.
    pub daily_budget_usd: Option<f64>,
    /// Wait this long for RPM/TPM capacity before refusing (zero: refuse at once).
    pub queue_for: Duration,
}

/// Output tokens assumed for a request that sets no `max_tokens`.
const DEFAULT_ANSWER_TOKENS: u32 = 4096;

/// Money in nano-dollars: whole numbers, so sums never drift past a budget.
pub type Nanos = i64;

fn nanos(usd: f64) -> Nanos {
    (usd * 1e9).ceil() as Nanos
}

struct Budget {
    day: i64,
    spent: Nanos,
    reserved: Nanos,
}

struct ConnectionLimiter {
    limits: Limits,
    rpm: Option<PerMinute>,
    tpm: Option<PerMinute>,
    budget: Mutex<Budget>,
}

/// The limiters of one engine's connections.
#[derive(Default)]
pub struct Limiter {
    by_connection: HashMap<String, ConnectionLimiter>,
}

/// Why a call was refused locally.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    pub retry_after: Option<Duration>,
}

/// Capacity held for one call; [`Reservation::settle`] books the real cost.
pub struct Reservation<'a> {
    budget: Option<(&'a Mutex<Budget>, Nanos)>,
}

/// Today, as the store counts days: budgets reset when the recorded spend does.
fn utc_day() -> i64 {
    crate::store::now_ms().div_euclid(crate::store::DAY_MS)
}

impl Limiter {
    /// Set `connection`'s limits (none: unlimited), with `spent_today`
    /// nano-dollars already booked against its daily budget.
    pub fn configure(&mut self, connection: &str, limits: Limits, spent_today: Nanos) {
        if limits == Limits::default() {
            return;
        }
        self.by_connection.insert(
            connection.to_string(),
            ConnectionLimiter {
                limits,
                rpm: PerMinute::new(limits.rpm),
                tpm: PerMinute::new(limits.tpm),
                budget: Mutex::new(Budget { day: utc_day(), spent: spent_today, reserved: 0 }),
            },
        );
    }

    /// The tightest share left of `connection`'s RPM, TPM and daily budget,
    /// from 0 (exhausted) to 1 (untouched or unlimited): what `least_loaded`
    /// balancing compares.
    pub fn headroom(&self, connection: &str) -> f64 {
        let Some(l) = self.by_connection.get(connection) else { return 1.0 };
        let per_minute = [&l.rpm, &l.tpm].into_iter().flatten().map(PerMinute::headroom);
        let budget = l.limits.daily_budget_usd.filter(|b| *b > 0.0).map(|usd| {
            let b = l.budget.lock().unwrap_or_else(|e| e.into_inner());
            let spent = if b.day == utc_day() { b.spent } else { 0 };
            (1.0 - (spent + b.reserved) as f64 / (usd * 1e9)).clamp(0.0, 1.0)
        });
        per_minute.chain(budget).fold(1.0, f64::min)
    }

    /// Take capacity for one call with `prompt`, answering with at most
    /// `max_tokens`, priced by `prices`; or refuse.
    pub async fn acquire(
        &self,
        connection: &str,
        prompt: PromptSize,
        max_tokens: Option<u32>,
        prices: &Prices,
    ) -> Result<Reservation<'_>, Refusal> {
        let Some(l) = self.by_connection.get(connection) else { return Ok(Reservation { budget: None }) };
        let answer = max_tokens.unwrap_or(DEFAULT_ANSWER_TOKENS);
        if let Some(rpm) = &l.rpm {
            wait_or_refuse(rpm, NonZeroU32::MIN, l.limits.queue_for, || {
                format!(
                    "connection `{connection}` is at its limit of {} requests per minute",
                    l.limits.rpm.unwrap_or(0)
                )
            })
            .await?;
        }
        if let Some(tpm) = &l.tpm {
            let prompt_tokens = u32::try_from(prompt.min_tokens()).unwrap_or(u32::MAX);
            let tokens = NonZeroU32::new(prompt_tokens.saturating_add(answer)).unwrap_or(NonZeroU32::MIN);
            wait_or_refuse(tpm, tokens, l.limits.queue_for, || {
                format!(
                    "connection `{connection}` is at its limit of {} tokens per minute (this call needs about {tokens})",
                    l.limits.tpm.unwrap_or(0)
                )
            })
            .await?;
        }
        let Some(budget_usd) = l.limits.daily_budget_usd else { return Ok(Reservation { budget: None }) };
        // Worst case: the most tokens the prompt can be and the longest answer.
        let usage = TokenUsage { input: prompt.max_tokens(), output: u64::from(answer), ..Default::default() };
        let estimate = nanos(prices.cost(&usage));
        let mut b = l.budget.lock().unwrap_or_else(|e| e.into_inner());
        if b.day != utc_day() {
            *b = Budget { day: utc_day(), spent: 0, reserved: b.reserved };
        }
        if b.spent + b.reserved + estimate > (budget_usd * 1e9).floor() as Nanos {
            return Err(Refusal {
                message: format!(
                    "connection `{connection}` would exceed its daily budget of ${budget_usd:.2} \
                     (spent ${:.4}, reserved ${:.4}, this call up to ${:.4})",
                    b.spent as f64 / 1e9,
                    b.reserved as f64 / 1e9,
                    estimate as f64 / 1e9
                ),
                retry_after: None,
            });
        }
        b.reserved += estimate;
        Ok(Reservation { budget: Some((&l.budget, estimate)) })
    }
}

impl Reservation<'_> {
    /// Replace the reservation with the call's real cost (zero if it failed).
    pub fn settle(mut self, cost_usd: f64) {
        if let Some((budget, estimate)) = self.budget.take() {
            let mut b = budget.lock().unwrap_or_else(|e| e.into_inner());
            b.reserved = (b.reserved - estimate).max(0);
            b.spent += nanos(cost_usd);
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some((budget, estimate)) = self.budget.take() {
            let mut b = budget.lock().unwrap_or_else(|e| e.into_inner());
            b.reserved = (b.reserved - estimate).max(0);
        }
    }
}

async fn wait_or_refuse(
    quota: &PerMinute,
    n: NonZeroU32,
    queue_for: Duration,
    message: impl Fn() -> String,
) -> Result<(), Refusal> {
    let granted = match quota.limiter.check_n(n) {
        Ok(Ok(snapshot)) => snapshot,
        // More than the whole quota: it can never pass.
        Err(_) => return Err(Refusal { message: message(), retry_after: None }),
        Ok(Err(not_until)) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            if queue_for.is_zero() || wait > queue_for {
                return Err(Refusal { message: message(), retry_after: Some(wait) });
            }
            match tokio::time::timeout(queue_for, quota.limiter.until_n_ready(n)).await {
                Ok(Ok(snapshot)) => snapshot,
                _ => return Err(Refusal { message: message(), retry_after: Some(wait) }),
            }
        }
    };
    *quota.left.lock().unwrap_or_else(|e| e.into_inner()) = (Instant::now(), granted.remaining_burst_capacity());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        Prices { input: 1.0, output: 2.0, cache_read: None, cache_write: None }
    }

    #[tokio::test]
    async fn rpm_refuses_the_request_over_the_limit() {
        let mut l = Limiter::default();
        l.configure("c", Limits { rpm: Some(2), ..Default::default() }, 0);
        for _ in 0..2 {
            l.acquire("c", PromptSize::default(), Some(10), &prices()).await.unwrap();
        }
        let refused = l.acquire("c", PromptSize::default(), Some(10), &prices()).await.err().unwrap();
        assert!(refused.message.contains("2 requests per minute"), "{refused:?}");
        assert!(refused.retry_after.is_some());
        assert!(l.acquire("unlimited", PromptSize::default(), None, &prices()).await.is_ok());
    }

    #[tokio::test]
    async fn headroom_is_the_tightest_share_left() {
        let mut l = Limiter::default();
        l.configure("c", Limits { rpm: Some(10), daily_budget_usd: Some(1.0), ..Default::default() }, nanos(0.25));
        assert!((l.headroom("c") - 0.75).abs() < 1e-9, "the budget is the tightest: {}", l.headroom("c"));
        for _ in 0..8 {
            l.acquire("c", PromptSize::default(), Some(10), &prices()).await.unwrap();
        }
        // 2 of 10 requests left this minute (plus a trickle of refill).
        let h = l.headroom("c");
        assert!((0.2..0.25).contains(&h), "{h}");
        assert_eq!(l.headroom("unlimited"), 1.0);
    }

    #[tokio::test]
    async fn spend_recorded_earlier_today_counts_against_the_budget() {
        let mut l = Limiter::default();
        // $0.019 of $0.02 spent before a restart: a call that may cost $0.002 no longer fits.
        l.configure("c", Limits { daily_budget_usd: Some(0.02), ..Default::default() }, nanos(0.019));
        let refused = l.acquire("c", PromptSize::default(), Some(1000), &prices()).await.err().unwrap();
        assert!(refused.message.contains("spent $0.0190"), "{refused:?}");
        assert!(l.acquire("c", PromptSize::default(), Some(400), &prices()).await.is_ok());
    }

    #[tokio::test]
    async fn concurrent_reservations_never_overspend_the_budget() {
        let mut l = Limiter::default();
        // Each call may cost up to 1000 × $2/M = $0.002; the budget fits exactly 10.
        l.configure("c", Limits { daily_budget_usd: Some(0.02), ..Default::default() }, 0);
        let p = prices();
        let held: Vec<_> =
            futures_util::future::join_all((0..64).map(|_| l.acquire("c", PromptSize::default(), Some(1000), &p)))
                .await;
        let granted = held.iter().filter(|r| r.is_ok()).count();
        assert_eq!(granted, 10);
        // Settling at half the estimate frees room for more.
        for r in held.into_iter().flatten() {
            r.settle(0.001);
        }
        let more =
            futures_util::future::join_all((0..64).map(|_| l.acquire("c", PromptSize::default(), Some(1000), &p)))
                .await;
        assert_eq!(more.iter().filter(|r| r.is_ok()).count(), 5);
    }
}
