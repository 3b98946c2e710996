//! Limits in one process: for runs with no store (a connections file before
//! `llmnode init`). They outlive every engine of the process, never more.

use super::breaker::{Admission, Breaker};
use super::rule::{self, KeyState, day_of};
use super::{Ask, Grant, LimitKey, Limits, LimitsService, Part, Refusal, Scoped, Used};
use crate::error_class::ErrorClass;
use crate::store::now_ms;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The in-process backend.
#[derive(Default)]
pub struct LocalLimits {
    states: Mutex<HashMap<LimitKey, KeyState>>,
    breakers: Mutex<HashMap<LimitKey, Breaker>>,
}

impl LocalLimits {
    /// Take every key's state, leaving none: what a fallback admitted on its
    /// own, to be shared once the shared limits are back.
    pub(crate) fn take_all(&self) -> Vec<(LimitKey, KeyState)> {
        self.states.lock().unwrap_or_else(|e| e.into_inner()).drain().collect()
    }
}

impl LimitsService for LocalLimits {
    fn admit<'a>(&'a self, keys: &'a [Scoped<'a>], ask: Ask) -> BoxFuture<'a, Result<Grant, Refusal>> {
        let now = now_ms();
        let result = {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            let live = || keys.iter().filter(|k| k.limits.any());
            let checked = live().try_for_each(|k| {
                let state = states.entry(k.key.clone()).or_default();
                rule::check(state, k.key, k.limits, &ask, now)
            });
            checked.map(|()| {
                let mut grant = Grant { ask, ..Grant::default() };
                for (slot, k) in grant.parts.iter_mut().zip(live()) {
                    let state = states.entry(k.key.clone()).or_default();
                    let second = rule::take(state, k.limits, &ask, now);
                    *slot = Some(Part { key: k.key.clone(), limits: *k.limits, second, row: None });
                }
                grant
            })
        };
        Box::pin(std::future::ready(result))
    }

    fn settle(&self, grant: Grant, used: Used) {
        let now = now_ms();
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        for part in grant.parts() {
            let Some(state) = states.get_mut(&part.key) else { continue };
            if part.limits.rpm.is_some() && used.requests == 0 {
                state.rpm.adjust(now, part.second, 1, 0);
            }
            if part.limits.tpm.is_some() {
                state.tpm.adjust(now, part.second, grant.ask.tokens, used.tokens);
            }
            if part.limits.daily_budget_usd.is_some() {
                state.reserved = (state.reserved - grant.ask.cost).max(0);
            }
            let today = day_of(now);
            if state.day != today {
                state.day = today;
                state.spent = 0;
            }
            state.spent += used.cost;
        }
    }

    fn headroom(&self, key: &LimitKey, limits: &Limits) -> f64 {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.get(key).map_or(1.0, |s| rule::headroom(s, limits, now_ms()))
    }

    fn breaker(&self, key: &LimitKey) -> Admission {
        let breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers.get(key).map_or(Admission::Allowed, |b| b.admit(now_ms()))
    }

    fn record(&self, key: &LimitKey, failure: Option<(ErrorClass, Option<Duration>)>) {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() && !breakers.contains_key(key) {
            return;
        }
        breakers.entry(key.clone()).or_default().record(now_ms(), failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::acquire;
    use std::sync::Arc;

    fn key() -> LimitKey {
        LimitKey { scope: 0, connection: "c".into() }
    }

    fn scoped<'a>(key: &'a LimitKey, limits: &'a Limits) -> Scoped<'a> {
        Scoped { key, limits }
    }

    #[tokio::test]
    async fn rpm_refuses_the_request_over_the_limit_and_says_when() {
        let service: Arc<dyn LimitsService> = Arc::new(LocalLimits::default());
        let limits = Limits { rpm: Some(2), ..Default::default() };
        for _ in 0..2 {
            acquire(&service, &[scoped(&key(), &limits)], Ask::default())
                .await
                .unwrap()
                .settle(Used { requests: 1, ..Used::default() });
        }
        let refused = acquire(&service, &[scoped(&key(), &limits)], Ask::default()).await.err().unwrap();
        assert!(refused.message.contains("2 requests per minute"), "{refused:?}");
        assert!(refused.retry_after.is_some_and(|d| d > Duration::from_secs(55)), "{refused:?}");
        assert_eq!(refused.class, ErrorClass::RateLimit);
    }

    #[tokio::test]
    async fn concurrent_reservations_never_overspend_and_settling_frees_room() {
        let service: Arc<dyn LimitsService> = Arc::new(LocalLimits::default());
        let limits = Limits { daily_budget_usd: Some(0.02), ..Default::default() };
        let ask = Ask { tokens: 1000, cost: 2_000_000 }; // $0.002: ten fit
        let key = key();
        let keys = [scoped(&key, &limits)];
        let held: Vec<_> = futures_util::future::join_all((0..64).map(|_| acquire(&service, &keys, ask))).await;
        assert_eq!(held.iter().filter(|h| h.is_ok()).count(), 10);
        let refused = held.iter().find_map(|h| h.as_ref().err()).unwrap();
        assert_eq!(refused.class, ErrorClass::QuotaExceeded);
        for h in held.into_iter().flatten() {
            h.settle(Used { requests: 1, tokens: 500, cost: 1_000_000, booked: false });
        }
        // $0.01 spent: five more fit.
        let more = futures_util::future::join_all((0..64).map(|_| acquire(&service, &keys, ask))).await;
        assert_eq!(more.iter().filter(|h| h.is_ok()).count(), 5);
        assert!(service.headroom(&key, &limits) < 0.01);
    }

    #[tokio::test]
    async fn tpm_holds_the_worst_case_then_counts_what_was_used() {
        let service: Arc<dyn LimitsService> = Arc::new(LocalLimits::default());
        let limits = Limits { tpm: Some(3_000), ..Default::default() };
        let ask = Ask { tokens: 1_000, cost: 0 };
        let k = key();
        let keys = [scoped(&k, &limits)];
        let held: Vec<_> = futures_util::future::join_all((0..5).map(|_| acquire(&service, &keys, ask))).await;
        assert_eq!(held.iter().filter(|h| h.is_ok()).count(), 3, "three worst cases fill 3 000 tokens");
        for h in held.into_iter().flatten() {
            h.settle(Used { requests: 1, tokens: 100, cost: 0, booked: false });
        }
        // 300 used: two more worst cases fit, a third does not.
        acquire(&service, &[scoped(&key(), &limits)], ask).await.unwrap().settle(Used {
            requests: 1,
            tokens: 1_000,
            ..Used::default()
        });
        acquire(&service, &[scoped(&key(), &limits)], ask).await.unwrap().settle(Used {
            requests: 1,
            tokens: 1_000,
            ..Used::default()
        });
        let refused = acquire(&service, &[scoped(&key(), &limits)], ask).await.err().unwrap();
        assert!(refused.message.contains("3000 tokens per minute"), "{refused:?}");
        // An overage is counted too: 2 300 used plus 1 200 over a 1 000 hold.
        let over = Limits { tpm: Some(4_000), ..limits };
        acquire(&service, &[scoped(&key(), &over)], ask).await.unwrap().settle(Used {
            requests: 1,
            tokens: 1_700,
            ..Used::default()
        });
        assert!(
            acquire(&service, &[scoped(&key(), &over)], Ask { tokens: 1, cost: 0 }).await.is_err(),
            "4 000 of 4 000 used"
        );
    }

    #[tokio::test]
    async fn a_dropped_hold_books_its_whole_reservation() {
        let service: Arc<dyn LimitsService> = Arc::new(LocalLimits::default());
        let limits = Limits { daily_budget_usd: Some(0.01), tpm: Some(3_000), ..Default::default() };
        let ask = Ask { tokens: 1000, cost: 4_000_000 };
        drop(acquire(&service, &[scoped(&key(), &limits)], ask).await.unwrap());
        drop(acquire(&service, &[scoped(&key(), &limits)], ask).await.unwrap());
        let refused = acquire(&service, &[scoped(&key(), &limits)], ask).await.err().unwrap();
        assert!(refused.message.contains("daily budget") || refused.message.contains("tokens per minute"));
    }

    #[tokio::test]
    async fn a_call_is_admitted_on_both_keys_or_on_neither() {
        let service: Arc<dyn LimitsService> = Arc::new(LocalLimits::default());
        let (conn, token) = (key(), LimitKey::token(0, 7));
        let roomy = Limits { rpm: Some(10), ..Default::default() };
        let tight = Limits { rpm: Some(1), ..Default::default() };
        let both = [scoped(&conn, &roomy), scoped(&token, &tight)];
        acquire(&service, &both, Ask::default()).await.unwrap().settle(Used { requests: 1, ..Used::default() });
        let refused = acquire(&service, &both, Ask::default()).await.err().unwrap();
        assert!(refused.message.starts_with("token 7 is at its limit of 1 requests"), "{refused:?}");
        // The refused call took nothing from the connection: nine more fit there.
        let conn_only = [scoped(&conn, &roomy)];
        for _ in 0..9 {
            acquire(&service, &conn_only, Ask::default())
                .await
                .unwrap()
                .settle(Used { requests: 1, ..Used::default() });
        }
        assert!(acquire(&service, &conn_only, Ask::default()).await.is_err(), "10 of 10 used");
    }
}
