//! Limits shared through the store by every process that opens the same data
//! directory: the daemon and any number of `llmnode run`s count against the
//! same windows, budget and breakers.
//!
//! Each admission is one transaction holding the lock of every key it takes
//! (the connection's, and the API token's when it has limits) from its start
//! (SQLite's write lock; on PostgreSQL an advisory lock per key, taken in one
//! order): read each key's windows, its day's spend and the budget held by
//! calls in flight, decide for all of them, write back, and hold the call's
//! worst-case cost in one row per budgeted key. A usage event books its real cost in the same transaction that
//! records it; settling then releases the hold. A process heartbeats while it
//! lives; the holds of one that stops beating (a `kill -9`) are released by
//! the next live process within [`STALE`].

use super::breaker::{Admission, Breaker};
use super::rule::{self, KeyState, day_of};
use super::window::Window;
use super::{Ask, Grant, LimitKey, Limits, LimitsService, MAX_KEYS, Part, Refusal, Scoped, Used};
use crate::error_class::ErrorClass;
use crate::store::{Location, Store, StoreError, limit_rows, now_ms};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a live process says so.
pub const BEAT: Duration = Duration::from_secs(2);
/// Silence after which a holder is taken for dead and its holds released.
pub const STALE: Duration = Duration::from_secs(10);
/// How long a breaker read from the store is trusted before it is read again.
const BREAKER_FRESH_MS: i64 = 500;

/// The store-backed backend.
pub struct StoreLimits {
    db: Mutex<Store>,
    holder: String,
    /// The last state seen per key, for balancing's headroom.
    seen: Mutex<HashMap<LimitKey, KeyState>>,
    /// Breakers as last read: (breaker, when it was read).
    breakers: Mutex<HashMap<LimitKey, (Breaker, i64)>>,
    heart: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl StoreLimits {
    /// Share limits through the store at `location`; this process starts beating.
    pub fn open(location: impl Into<Location>) -> Result<Arc<Self>, StoreError> {
        let location = location.into();
        let store = Store::open(&location)?;
        let holder = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        limit_rows::beat(store.db(), &holder, now_ms())?;
        let heart = heartbeat(Store::open(&location)?, holder.clone());
        Ok(Arc::new(StoreLimits {
            db: Mutex::new(store),
            holder,
            seen: Mutex::default(),
            breakers: Mutex::default(),
            heart: Mutex::new(Some(heart)),
        }))
    }

    fn admit_now(&self, keys: &[Scoped<'_>], ask: &Ask) -> Result<Result<Grant, Refusal>, StoreError> {
        let now = now_ms();
        let day = day_of(now);
        let live = || keys.iter().filter(|k| k.limits.any());
        let mut store = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let (decision, states) = store.transaction(|tx| -> Result<_, StoreError> {
            lock_all(tx, live().map(|k| k.key))?;
            let mut states: [KeyState; MAX_KEYS] = Default::default();
            for (i, k) in live().enumerate() {
                let (ws, name) = (k.key.scope, &*k.key.connection);
                let state = &mut states[i];
                state.day = day;
                if k.limits.rpm.is_some() {
                    state.rpm = Window::from_bytes(&limit_rows::window(tx, ws, name, "rpm")?);
                }
                if k.limits.tpm.is_some() {
                    state.tpm = Window::from_bytes(&limit_rows::window(tx, ws, name, "tpm")?);
                }
                if k.limits.daily_budget_usd.is_some() {
                    (state.spent, state.reserved) = limit_rows::budget(tx, ws, name, day)?;
                }
                if let Err(refusal) = rule::check(state, k.key, k.limits, ask, now) {
                    return Ok((Err(refusal), states));
                }
            }
            let mut grant = Grant { ask: *ask, ..Grant::default() };
            for ((slot, state), k) in grant.parts.iter_mut().zip(states.iter_mut()).zip(live()) {
                let (ws, name) = (k.key.scope, &*k.key.connection);
                let second = rule::take(state, k.limits, ask, now);
                if k.limits.rpm.is_some() {
                    limit_rows::set_window(tx, ws, name, "rpm", &state.rpm.to_bytes())?;
                }
                if k.limits.tpm.is_some() {
                    limit_rows::set_window(tx, ws, name, "tpm", &state.tpm.to_bytes())?;
                }
                let row = match k.limits.daily_budget_usd {
                    Some(_) if ask.cost > 0 => Some(limit_rows::hold(tx, &self.holder, ws, name, day, ask.cost)?),
                    _ => None,
                };
                *slot = Some(Part { key: k.key.clone(), limits: *k.limits, second, row });
            }
            Ok((Ok(grant), states))
        })?;
        drop(store);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (state, k) in states.into_iter().zip(live()) {
            seen.insert(k.key.clone(), state);
        }
        Ok(decision)
    }

    fn settle_now(&self, grant: &Grant, used: &Used) -> Result<(), StoreError> {
        let now = now_ms();
        let refund_request = |p: &Part| p.limits.rpm.is_some() && used.requests == 0;
        let tokens_differ = |p: &Part| p.limits.tpm.is_some() && used.tokens != grant.ask.tokens;
        let book = !used.booked && used.cost != 0;
        if !grant.parts().any(|p| refund_request(p) || tokens_differ(p) || book || p.row.is_some()) {
            return Ok(());
        }
        let mut store = self.db.lock().unwrap_or_else(|e| e.into_inner());
        store.transaction(|tx| -> Result<(), StoreError> {
            lock_all(tx, grant.parts().map(|p| &p.key))?;
            for part in grant.parts() {
                let (ws, name) = (part.key.scope, &*part.key.connection);
                if refund_request(part) {
                    let mut w = Window::from_bytes(&limit_rows::window(tx, ws, name, "rpm")?);
                    w.adjust(now, part.second, 1, 0);
                    limit_rows::set_window(tx, ws, name, "rpm", &w.to_bytes())?;
                }
                if tokens_differ(part) {
                    let mut w = Window::from_bytes(&limit_rows::window(tx, ws, name, "tpm")?);
                    w.adjust(now, part.second, grant.ask.tokens, used.tokens);
                    limit_rows::set_window(tx, ws, name, "tpm", &w.to_bytes())?;
                }
                if book {
                    limit_rows::book_spend(tx, ws, name, day_of(now), used.cost)?;
                }
                if let Some(row) = part.row {
                    limit_rows::release(tx, row)?;
                }
            }
            Ok(())
        })
    }

    fn record_now(
        &self,
        key: &LimitKey,
        failure: Option<(ErrorClass, Option<Duration>)>,
    ) -> Result<Breaker, StoreError> {
        let now = now_ms();
        let mut store = self.db.lock().unwrap_or_else(|e| e.into_inner());
        store.transaction(|tx| -> Result<Breaker, StoreError> {
            limit_rows::lock(tx, key.scope, &key.connection)?;
            let mut b = read_breaker(tx, key)?;
            if b.record(now, failure) {
                limit_rows::set_breaker(tx, key.scope, &key.connection, b.failures, b.open_until_ms)?;
            }
            Ok(b)
        })
    }
}

/// Take the limits lock of every key, in one order for every process (so
/// two calls holding the same keys never wait on each other in a cycle).
fn lock_all<'k>(tx: &crate::store::Db, keys_in: impl Iterator<Item = &'k LimitKey>) -> Result<(), StoreError> {
    let mut keys: [Option<&LimitKey>; MAX_KEYS] = [None; MAX_KEYS];
    for (slot, key) in keys.iter_mut().zip(keys_in) {
        *slot = Some(key);
    }
    keys.sort();
    keys.into_iter().flatten().try_for_each(|k| limit_rows::lock(tx, k.scope, &k.connection))
}

fn read_breaker(db: &crate::store::Db, key: &LimitKey) -> Result<Breaker, StoreError> {
    Ok(limit_rows::breaker(db, key.scope, &key.connection)?
        .map(|(failures, open_until_ms)| Breaker { failures, open_until_ms })
        .unwrap_or_default())
}

/// A refusal for when the shared limits cannot be read: budgets fail closed.
fn unavailable(key: Option<&LimitKey>, e: &StoreError) -> Refusal {
    let who = key.map_or_else(String::new, |k| format!("{k}: "));
    Refusal {
        message: format!("{who}the shared limits could not be read ({e}), so the call was refused"),
        retry_after: None,
        class: ErrorClass::RateLimit,
    }
}

impl LimitsService for StoreLimits {
    fn admit<'a>(&'a self, keys: &'a [Scoped<'a>], ask: Ask) -> BoxFuture<'a, Result<Grant, Refusal>> {
        let result = self.admit_now(keys, &ask).unwrap_or_else(|e| {
            let key = keys.first().map(|k| k.key);
            tracing::error!(key = ?key.map(|k| &k.connection), error = %e, "shared limits unavailable; call refused");
            Err(unavailable(key, &e))
        });
        Box::pin(std::future::ready(result))
    }

    fn settle(&self, grant: Grant, used: Used) {
        if let Err(e) = self.settle_now(&grant, &used) {
            // The hold stays until this process stops beating: safe, if tight.
            let key = grant.parts().next().map(|p| p.key.connection.clone());
            tracing::error!(key = ?key, error = %e, "a limits reservation could not be settled");
        }
    }

    fn headroom(&self, key: &LimitKey, limits: &Limits) -> f64 {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(key).map_or(1.0, |s| rule::headroom(s, limits, now_ms()))
    }

    fn breaker(&self, key: &LimitKey) -> Admission {
        let now = now_ms();
        if let Some((b, read)) = self.breakers.lock().unwrap_or_else(|e| e.into_inner()).get(key)
            && now - read < BREAKER_FRESH_MS
        {
            return b.admit(now);
        }
        let read = {
            let store = self.db.lock().unwrap_or_else(|e| e.into_inner());
            read_breaker(store.db(), key)
        };
        let b = read.unwrap_or_default();
        self.breakers.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), (b, now));
        b.admit(now)
    }

    fn record(&self, key: &LimitKey, failure: Option<(ErrorClass, Option<Duration>)>) {
        if failure.is_none() {
            let cached = self.breakers.lock().unwrap_or_else(|e| e.into_inner()).get(key).map(|(b, _)| *b);
            if cached.is_none_or(|b| b == Breaker::default()) {
                return; // A success on a closed breaker changes nothing.
            }
        }
        match self.record_now(key, failure) {
            Ok(b) => {
                self.breakers.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), (b, now_ms()));
            }
            Err(e) => tracing::error!(connection = %key.connection, error = %e, "a breaker could not be recorded"),
        }
    }
}

impl Drop for StoreLimits {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.heart.lock().unwrap_or_else(|e| e.into_inner()).take() {
            drop(stop);
            let _ = thread.join();
        }
        let store = self.db.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = limit_rows::retire(store.db(), &self.holder) {
            tracing::warn!(error = %e, "limits holder could not retire; its holds expire on their own");
        }
    }
}

/// Beat every [`BEAT`] and release the holds of holders silent for
/// [`STALE`], until the sender is dropped.
fn heartbeat(store: Store, holder: String) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("llmnode-limits-heartbeat".into())
        .spawn(move || {
            loop {
                let now = now_ms();
                let beat = limit_rows::beat(store.db(), &holder, now)
                    .and_then(|()| limit_rows::reap(store.db(), now - STALE.as_millis() as i64));
                match beat {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(holds = n, "released the budget holds of a stopped process"),
                    Err(e) => tracing::warn!(error = %e, "limits heartbeat failed"),
                }
                if !matches!(stopped.recv_timeout(BEAT), Err(mpsc::RecvTimeoutError::Timeout)) {
                    return;
                }
            }
        })
        .expect("spawning the limits heartbeat thread");
    (stop, thread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::acquire;
    use crate::store::workspaces;

    fn store_with_workspace() -> (tempfile::TempDir, std::path::PathBuf, i64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmnode.db");
        let mut store = Store::open(&path).unwrap();
        let ws = store.transaction(|tx| workspaces::create(tx, "w", |_| Ok::<_, StoreError>(vec![0]))).unwrap();
        (dir, path, ws.id)
    }

    #[tokio::test]
    async fn two_services_on_one_store_share_one_window_and_one_budget() {
        let (_dir, path, ws) = store_with_workspace();
        let a: Arc<dyn LimitsService> = StoreLimits::open(&path).unwrap();
        let b: Arc<dyn LimitsService> = StoreLimits::open(&path).unwrap();
        let key = LimitKey { scope: ws, connection: "c".into() };
        let limits = Limits { rpm: Some(3), daily_budget_usd: Some(0.01), ..Default::default() };
        let ask = Ask { tokens: 10, cost: 3_000_000 };
        let keys = [Scoped { key: &key, limits: &limits }];
        let h1 = acquire(&a, &keys, ask).await.unwrap();
        let h2 = acquire(&b, &keys, ask).await.unwrap();
        let h3 = acquire(&a, &keys, ask).await.unwrap();
        // Three held ($0.009): a fourth fits neither the budget nor the rpm.
        let refused = acquire(&b, &keys, Ask { tokens: 10, cost: 1 }).await.err().unwrap();
        assert!(refused.message.contains("3 requests per minute"), "{refused:?}");
        for h in [h1, h2, h3] {
            h.settle(Used { requests: 1, tokens: 10, cost: 1_000_000, booked: false });
        }
        let (spent, held) = limit_rows::budget(Store::open(&path).unwrap().db(), ws, "c", day_of(now_ms())).unwrap();
        assert_eq!((spent, held), (3_000_000, 0));
        assert_eq!(a.headroom(&key, &limits), 0.0, "the rpm window is full");
    }

    #[tokio::test]
    async fn the_holds_of_a_holder_that_stopped_beating_are_released() {
        let (_dir, path, ws) = store_with_workspace();
        let store = Store::open(&path).unwrap();
        let day = day_of(now_ms());
        limit_rows::beat(store.db(), "dead-1", now_ms() - 60_000).unwrap();
        limit_rows::hold(store.db(), "dead-1", ws, "c", day, 5_000_000).unwrap();
        assert_eq!(limit_rows::budget(store.db(), ws, "c", day).unwrap(), (0, 5_000_000));
        // A live process's heartbeat releases the dead one's hold.
        let service: Arc<dyn LimitsService> = StoreLimits::open(&path).unwrap();
        let released = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            limit_rows::budget(store.db(), ws, "c", day).unwrap() == (0, 0)
        });
        assert!(released, "the dead holder's hold was not released");
        let key = LimitKey { scope: ws, connection: "c".into() };
        let limits = Limits { daily_budget_usd: Some(0.006), ..Default::default() };
        let keys = [Scoped { key: &key, limits: &limits }];
        acquire(&service, &keys, Ask { tokens: 1, cost: 5_500_000 }).await.unwrap().settle(Used::default());
    }

    #[tokio::test]
    async fn a_call_holds_its_connection_and_its_token_together_or_neither() {
        let (_dir, path, ws) = store_with_workspace();
        let a: Arc<dyn LimitsService> = StoreLimits::open(&path).unwrap();
        let b: Arc<dyn LimitsService> = StoreLimits::open(&path).unwrap();
        let (conn, token) = (LimitKey { scope: ws, connection: "c".into() }, LimitKey::token(ws, 9));
        let roomy = Limits { daily_budget_usd: Some(1.0), ..Default::default() };
        let tight = Limits { daily_budget_usd: Some(0.005), rpm: Some(5), ..Default::default() };
        let both = [Scoped { key: &conn, limits: &roomy }, Scoped { key: &token, limits: &tight }];
        let ask = Ask { tokens: 10, cost: 3_000_000 };
        let held = acquire(&a, &both, ask).await.unwrap();
        let day = day_of(now_ms());
        let store = Store::open(&path).unwrap();
        assert_eq!(limit_rows::budget(store.db(), ws, "c", day).unwrap(), (0, 3_000_000));
        assert_eq!(limit_rows::budget(store.db(), ws, "token/9", day).unwrap(), (0, 3_000_000));
        // Another process: the token's budget has no room, so the connection is not touched.
        let refused = acquire(&b, &both, ask).await.err().unwrap();
        assert!(refused.message.starts_with("token 9 would exceed its daily budget"), "{refused:?}");
        assert_eq!(limit_rows::budget(store.db(), ws, "c", day).unwrap(), (0, 3_000_000));
        held.settle(Used { requests: 1, tokens: 10, cost: 1_000_000, booked: false });
        assert_eq!(limit_rows::budget(store.db(), ws, "c", day).unwrap(), (1_000_000, 0), "settled on both");
        assert_eq!(limit_rows::budget(store.db(), ws, "token/9", day).unwrap(), (1_000_000, 0));
        let rpm = Window::from_bytes(&limit_rows::window(store.db(), ws, "token/9", "rpm").unwrap());
        assert_eq!(rpm.used(now_ms()), 1, "the refused call took no request slot");
    }

    #[test]
    fn a_breaker_opened_by_one_process_rests_the_connection_for_another() {
        let (_dir, path, ws) = store_with_workspace();
        let a = StoreLimits::open(&path).unwrap();
        let b = StoreLimits::open(&path).unwrap();
        let key = LimitKey { scope: ws, connection: "c".into() };
        a.record(&key, Some((ErrorClass::Auth, None)));
        assert!(matches!(b.breaker(&key), Admission::Open(_)));
    }
}
