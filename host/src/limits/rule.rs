//! The admission rule both backends apply to one key's state (a connection's
//! or an API token's): a call fits only if one more request, its tokens and
//! its worst-case cost all fit.

use super::window::Window;
use super::{Ask, LimitKey, Limits, Refusal};
use crate::error_class::ErrorClass;
use crate::money::{Nanos, nanos_floor, usd};

/// One key's limit state, as a backend holds or loads it.
#[derive(Debug, Clone, Default)]
pub struct KeyState {
    pub rpm: Window,
    pub tpm: Window,
    /// The UTC day `spent` belongs to.
    pub day: i64,
    /// Booked spend on `day`.
    pub spent: Nanos,
    /// Held by calls in flight.
    pub reserved: Nanos,
}

/// Days since the Unix epoch (UTC) at `now_ms`.
pub fn day_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(crate::store::DAY_MS)
}

/// Refuse the call if any part of `ask` does not fit.
pub fn check(state: &KeyState, key: &LimitKey, limits: &Limits, ask: &Ask, now_ms: i64) -> Result<(), Refusal> {
    if let Some(rpm) = limits.rpm {
        let limit = u64::from(rpm);
        if state.rpm.used(now_ms) + 1 > limit {
            return Err(Refusal {
                message: format!("{key} is at its limit of {rpm} requests per minute"),
                retry_after: state.rpm.wait_for(now_ms, 1, limit),
                class: ErrorClass::RateLimit,
            });
        }
    }
    if let Some(tpm) = limits.tpm {
        let limit = u64::from(tpm);
        if state.tpm.used(now_ms) + ask.tokens > limit {
            let more = if ask.tokens > limit { ", more than the whole limit" } else { "" };
            return Err(Refusal {
                message: format!(
                    "{key} is at its limit of {tpm} tokens per minute (this call may use up to {} tokens{more})",
                    ask.tokens
                ),
                retry_after: state.tpm.wait_for(now_ms, ask.tokens, limit),
                class: ErrorClass::RateLimit,
            });
        }
    }
    if let Some(budget_usd) = limits.daily_budget_usd {
        let spent = if state.day == day_of(now_ms) { state.spent } else { 0 };
        if spent + state.reserved + ask.cost > nanos_floor(budget_usd) {
            return Err(Refusal {
                message: format!(
                    "{key} would exceed its daily budget of ${budget_usd:.2} \
                     (spent ${:.4}, held for calls in flight ${:.4}, this call up to ${:.4})",
                    usd(spent),
                    usd(state.reserved),
                    usd(ask.cost)
                ),
                retry_after: None,
                class: ErrorClass::QuotaExceeded,
            });
        }
    }
    Ok(())
}

/// Count an admitted call; returns the second its reservation went into.
pub fn take(state: &mut KeyState, limits: &Limits, ask: &Ask, now_ms: i64) -> i64 {
    let mut second = now_ms.div_euclid(1000);
    if limits.rpm.is_some() {
        second = state.rpm.add(now_ms, 1);
    }
    if limits.tpm.is_some() {
        second = state.tpm.add(now_ms, ask.tokens);
    }
    if limits.daily_budget_usd.is_some() {
        state.reserved += ask.cost;
    }
    second
}

/// The tightest share left of RPM, TPM and budget, from 0 to 1.
pub fn headroom(state: &KeyState, limits: &Limits, now_ms: i64) -> f64 {
    let share = |used: u64, limit: u32| 1.0 - used as f64 / f64::from(limit.max(1));
    let rpm = limits.rpm.map(|l| share(state.rpm.used(now_ms), l));
    let tpm = limits.tpm.map(|l| share(state.tpm.used(now_ms), l));
    let budget = limits.daily_budget_usd.map(nanos_floor).filter(|cap| *cap > 0).map(|cap| {
        let spent = if state.day == day_of(now_ms) { state.spent } else { 0 };
        1.0 - (spent + state.reserved) as f64 / cap as f64
    });
    [rpm, tpm, budget].into_iter().flatten().fold(1.0, f64::min).clamp(0.0, 1.0)
}
