//! While Redis is unreachable: budgets fail closed (nothing can prove the
//! day's spend), and RPM/TPM are kept in process at this daemon's share of
//! each limit, `floor(limit / live daemons)` (the last count seen), so the
//! fleet together never exceeds the limit. What was admitted here is added
//! to the shared windows once Redis is back.

use super::super::local::LocalLimits;
use super::super::rule::KeyState;
use super::super::{Ask, Grant, LimitKey, Limits, LimitsService, Part, Refusal, Scoped, Used};
use crate::error_class::ErrorClass;
use std::sync::atomic::{AtomicU64, Ordering};

/// The in-process limiter used during an outage.
#[derive(Default)]
pub struct Fallback {
    local: LocalLimits,
    admitted: AtomicU64,
}

impl Fallback {
    /// Admit at this daemon's share of `limits` among `live` daemons; a
    /// budgeted call is refused.
    pub async fn admit(&self, key: &LimitKey, limits: &Limits, ask: Ask, live: u32) -> Result<Part, Refusal> {
        if limits.daily_budget_usd.is_some() {
            return Err(Refusal {
                message: format!(
                    "{key} has a daily budget, and the budget store (Redis) is unreachable, so the call was refused"
                ),
                retry_after: None,
                class: ErrorClass::RateLimit,
            });
        }
        let live = live.max(1);
        let share = Limits { rpm: limits.rpm.map(|l| l / live), tpm: limits.tpm.map(|l| l / live), ..*limits };
        match self.local.admit(&[Scoped { key, limits: &share }], ask).await {
            Ok(mut grant) => {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                Ok(grant.parts[0].take().expect("a limited key's admission holds a part"))
            }
            Err(mut refusal) => {
                refusal.message.push_str(&format!(
                    " (this daemon's share while the shared limits store, Redis, is unreachable: 1 of {live} daemons)"
                ));
                Err(refusal)
            }
        }
    }

    /// Settle a call's part admitted here.
    pub fn settle(&self, part: Part, ask: Ask, used: Used) {
        self.local.settle(Grant { parts: [Some(part), None], ask }, used);
    }

    /// Calls admitted here since the start.
    pub fn admitted(&self) -> u64 {
        self.admitted.load(Ordering::Relaxed)
    }

    /// What was admitted here, to add to the shared windows; forgets it.
    pub fn take(&self) -> Vec<(LimitKey, KeyState)> {
        self.local.take_all()
    }
}
