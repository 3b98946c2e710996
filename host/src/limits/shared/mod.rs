//! Limits shared through the store by every process that opens the same data
//! directory: the daemon and any number of `llmnode run`s count against the
//! same windows, budget and breakers.
//!
//! Admissions and settlements go through one [`writer`] thread per process,
//! which applies everything queued in one transaction holding the lock of
//! every key involved (SQLite's write lock; on PostgreSQL an advisory lock
//! per key, taken in one order): each call is decided on the windows, the
//! day's spend and the budget held by calls in flight as the calls before it
//! left them, and its worst-case cost is held in one row per budgeted key. A
//! usage event books its real cost in the same transaction that records it;
//! settling then releases the hold. A process heartbeats while it lives; the
//! holds of one that stops beating (a `kill -9`) are released by the next
//! live process within [`STALE`].

mod writer;

use super::breaker::{Admission, Breaker};
use super::rule::{self, KeyState};
use super::{Ask, Grant, LimitKey, Limits, LimitsService, MAX_KEYS, Refusal, Scoped, Used};
use crate::error_class::ErrorClass;
use crate::store::{Location, Store, StoreError, limit_rows, now_ms};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use writer::Job;

/// How often a live process says so.
pub const BEAT: Duration = Duration::from_secs(2);
/// Silence after which a holder is taken for dead and its holds released.
pub const STALE: Duration = Duration::from_secs(10);
/// How long a breaker read from the store is trusted before it is read again.
const BREAKER_FRESH_MS: i64 = 500;

/// The store-backed backend.
pub struct StoreLimits {
    /// Breakers and retirement (admissions and settlements go to the writer).
    db: Mutex<Store>,
    holder: String,
    /// The writer's queue (`None` once dropped) and thread.
    jobs: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
    writer: Option<JoinHandle<()>>,
    /// The last state seen per key, for balancing's headroom.
    seen: Arc<Mutex<HashMap<LimitKey, KeyState>>>,
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
        let seen = Arc::default();
        let (jobs, writer) = writer::spawn(Store::open(&location)?, holder.clone(), Arc::clone(&seen))
            .map_err(|e| StoreError::Malformed { what: "limits writer", detail: e.to_string() })?;
        let heart = heartbeat(Store::open(&location)?, holder.clone());
        Ok(Arc::new(StoreLimits {
            db: Mutex::new(store),
            holder,
            jobs: Some(jobs),
            writer: Some(writer),
            seen,
            breakers: Mutex::default(),
            heart: Mutex::new(Some(heart)),
        }))
    }

    /// Wait until every admission and settlement queued so far is committed.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.jobs.as_ref().is_some_and(|jobs| jobs.send(Job::Flush(done)).is_ok()) {
            let _ = wait.recv();
        }
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

fn read_breaker(db: &crate::store::Db, key: &LimitKey) -> Result<Breaker, StoreError> {
    Ok(limit_rows::breaker(db, key.scope, &key.connection)?
        .map(|(failures, open_until_ms)| Breaker { failures, open_until_ms })
        .unwrap_or_default())
}

/// An admission still waiting for the writer's answer. Dropped unanswered
/// (its caller went away), a grant that arrives anyway is given back at once.
struct Pending {
    answer: Option<tokio::sync::oneshot::Receiver<Result<Grant, Refusal>>>,
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut answer) = self.answer.take() {
            answer.close();
            if let Ok(Ok(grant)) = answer.try_recv() {
                let _ = self.jobs.send(Job::Settle { grant, used: Used::default() });
            }
        }
    }
}

/// The refusal when the limits writer has stopped (the process is closing).
fn stopped(key: Option<&LimitKey>) -> Refusal {
    unavailable(key, &StoreError::Malformed { what: "limits writer", detail: "it has stopped".into() })
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
        let mut live: [Option<(LimitKey, Limits)>; MAX_KEYS] = Default::default();
        for (slot, k) in live.iter_mut().zip(keys.iter().filter(|k| k.limits.any())) {
            *slot = Some((k.key.clone(), *k.limits));
        }
        let first = keys.first().map(|k| k.key);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let Some(jobs) = self.jobs.as_ref().filter(|jobs| jobs.send(Job::Admit { keys: live, ask, reply }).is_ok())
        else {
            return Box::pin(std::future::ready(Err(stopped(first))));
        };
        let mut pending = Pending { answer: Some(answer), jobs: jobs.clone() };
        Box::pin(async move {
            let decision = match pending.answer.as_mut() {
                Some(answer) => answer.await.ok(),
                None => None,
            };
            drop(pending.answer.take()); // answered: nothing to give back
            decision.unwrap_or_else(|| Err(stopped(first)))
        })
    }

    fn settle(&self, grant: Grant, used: Used) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Settle { grant, used });
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
        // The writer commits what is queued, then stops.
        self.jobs = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
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
    use crate::limits::rule::day_of;
    use crate::limits::window::Window;
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
        let (sa, sb) = (StoreLimits::open(&path).unwrap(), StoreLimits::open(&path).unwrap());
        let (a, b): (Arc<dyn LimitsService>, Arc<dyn LimitsService>) = (sa.clone(), sb.clone());
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
        // Each process's settles go through its own writer: wait for both.
        sa.flush();
        sb.flush();
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
        let sa = StoreLimits::open(&path).unwrap();
        let (a, b): (Arc<dyn LimitsService>, Arc<dyn LimitsService>) = (sa.clone(), StoreLimits::open(&path).unwrap());
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
        sa.flush();
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_calls_from_two_processes_admits_exactly_the_limits() {
        let (_dir, path, ws) = store_with_workspace();
        let (sa, sb) = (StoreLimits::open(&path).unwrap(), StoreLimits::open(&path).unwrap());
        let services: [Arc<dyn LimitsService>; 2] = [sa.clone(), sb.clone()];
        let key = LimitKey { scope: ws, connection: "c".into() };
        // Room for 7 requests, and for 5 calls' worst case.
        for (limits, admitted) in [
            (Limits { rpm: Some(7), ..Default::default() }, 7),
            (Limits { daily_budget_usd: Some(0.005), ..Default::default() }, 5),
        ] {
            let key = LimitKey { connection: format!("{}-{admitted}", key.connection).into(), ..key.clone() };
            let calls = (0..40).map(|i| {
                let service = services[i % 2].clone();
                let (key, limits) = (key.clone(), limits);
                tokio::spawn(async move {
                    let keys = [Scoped { key: &key, limits: &limits }];
                    acquire(&service, &keys, Ask { tokens: 1, cost: 1_000_000 }).await.map(std::mem::forget).is_ok()
                })
            });
            let results = futures_util::future::join_all(calls).await;
            let ok = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
            assert_eq!(ok, admitted, "{limits:?}");
        }
    }

    #[tokio::test]
    async fn an_admission_whose_caller_went_away_gives_its_request_back() {
        let (_dir, path, ws) = store_with_workspace();
        let sa = StoreLimits::open(&path).unwrap();
        let a: Arc<dyn LimitsService> = sa.clone();
        let key = LimitKey { scope: ws, connection: "c".into() };
        let limits = Limits { rpm: Some(1), daily_budget_usd: Some(1.0), ..Default::default() };
        let keys = [Scoped { key: &key, limits: &limits }];
        let ask = Ask { tokens: 1, cost: 1_000_000 };
        // Asked, then dropped: before the writer answered, and after.
        drop(a.admit(&keys, ask));
        sa.flush();
        let answered = a.admit(&keys, ask);
        sa.flush();
        drop(answered);
        sa.flush();
        let store = Store::open(&path).unwrap();
        assert_eq!(limit_rows::budget(store.db(), ws, "c", day_of(now_ms())).unwrap(), (0, 0), "no hold left");
        acquire(&a, &keys, ask).await.expect("the request slot was given back").settle(Used::default());
    }
}
