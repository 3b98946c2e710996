//! Limits shared by a fleet of daemons through Redis (`--limits redis://…`):
//! every daemon counts against the same RPM/TPM windows, daily budget and
//! breakers, exactly.
//!
//! Each admission is one Lua script run atomically on the server with the
//! server's clock: it takes a request, its tokens and its worst-case cost
//! together or nothing, and on a refusal returns the windows so the refusal
//! says when to retry ([`super::rule::check`] words it, as for the other
//! backends). RPM and TPM are the same sliding window of 60 one-second
//! buckets as [`super::window`], not GCRA: one rule and one refusal wording
//! for every backend, exact for any mix of request sizes (GCRA spaces
//! requests out and would refuse a burst the window admits), a lowered limit
//! bites at once, and settling can refund or correct the very second a
//! reservation was counted in.
//!
//! Budgets are spent + held per (workspace, connection, UTC day) in integer
//! nano-dollars. Each reservation is a hold with an expiry that its daemon
//! refreshes while the call runs; a daemon that dies (`kill -9`) stops
//! refreshing, and the next admission on that connection reaps its holds. A
//! settle is idempotent (by hold id) and always books the real cost. When
//! today's spend is missing (Redis flushed or restarted) the first script to
//! notice asks for the store's booked spend and seeds it, once for the fleet.
//!
//! When Redis is unreachable, budgets refuse and RPM/TPM fall back to this
//! daemon's share ([`fallback`]); recovery is automatic. Nothing secret is
//! sent to Redis: keys are workspace ids and connection names.

mod admit;
mod fallback;
mod heart;
mod keys;
mod link;
mod scripts;
mod settle;
mod url;

#[cfg(test)]
#[path = "../../../../tests/e2e/support/redis_server.rs"]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;

pub use link::LinkError;
pub use url::{RedisUrl, RedisUrlError};

use super::breaker::{Admission, Breaker};
use super::rule::{self, KeyState};
use super::{Ask, Grant, LimitKey, Limits, LimitsService, MAX_KEYS, Refusal, Scoped, Used};
use crate::error_class::ErrorClass;
use crate::money::Nanos;
use crate::store::{Location, Store, StoreError, limit_rows, now_ms};
use futures_util::future::BoxFuture;
use keys::Keys;
use link::Link;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How often things happen; [`Timing::default`] is what the daemon uses.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A hold lives this long past its owner's last refresh.
    pub hold_ttl: Duration,
    /// How often a daemon refreshes its holds and says it lives.
    pub beat: Duration,
    /// A daemon silent this long is no longer counted as live.
    pub daemon_ttl: Duration,
    /// How often breakers are re-read, settles retried, and a lost connection retried.
    pub tick: Duration,
    /// The most one Redis call (or connecting) may take.
    pub timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            hold_ttl: Duration::from_secs(30),
            // Often, so the live count a fallback divides by is at most a
            // second old (a daemon that started first must not go on
            // believing it is alone).
            beat: Duration::from_secs(1),
            daemon_ttl: Duration::from_secs(15),
            tick: Duration::from_millis(250),
            timeout: Duration::from_millis(200),
        }
    }
}

/// Why the Redis limits could not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisLimitsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("the shared limits' background worker could not start: {0}")]
    Worker(String),
}

/// The Redis-backed backend.
pub struct RedisLimits {
    shared: Arc<Shared>,
    worker: Mutex<Option<heart::Worker>>,
}

/// What the service and its background worker share.
struct Shared {
    link: Link,
    /// The store, for today's booked spend when Redis has lost it.
    store: Mutex<Store>,
    /// This daemon's id among the live ones.
    daemon: String,
    timing: Timing,
    keys: Mutex<HashMap<LimitKey, Arc<Keys>>>,
    /// Budget holds of calls in flight here: hold id -> (keys, cost).
    holds: Mutex<HashMap<i64, (Arc<Keys>, Nanos)>>,
    /// The last state seen per key, for balancing's headroom.
    seen: Mutex<HashMap<LimitKey, KeyState>>,
    /// Breakers as last read or recorded here: (breaker, when recorded here).
    breakers: Mutex<HashMap<LimitKey, (Breaker, i64)>>,
    fallback: fallback::Fallback,
    /// Live daemons, as last counted (at least 1).
    live: AtomicU32,
    /// Times this daemon seeded a day's spend from the store.
    reseeds: AtomicU64,
    /// Settles that could not reach Redis yet.
    pending: Mutex<Vec<settle::SettleJob>>,
    jobs: tokio::sync::mpsc::UnboundedSender<heart::Job>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedisLimits {
    /// Share limits through Redis at `url`, reseeding budgets from the store
    /// at `location`; starts heartbeating. An unreachable Redis is not an
    /// error: the daemon starts in the fallback and recovers on its own.
    pub fn open(url: &RedisUrl, location: &Location) -> Result<Arc<Self>, RedisLimitsError> {
        Self::open_with(url, location, Timing::default())
    }

    /// [`RedisLimits::open`] with other timings (tests shorten them).
    pub fn open_with(url: &RedisUrl, location: &Location, timing: Timing) -> Result<Arc<Self>, RedisLimitsError> {
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            link: Link::new(url, timing.timeout)?,
            store: Mutex::new(Store::open(location)?),
            daemon: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            timing,
            keys: Mutex::default(),
            holds: Mutex::default(),
            seen: Mutex::default(),
            breakers: Mutex::default(),
            fallback: fallback::Fallback::default(),
            live: AtomicU32::new(1),
            reseeds: AtomicU64::new(0),
            pending: Mutex::default(),
            jobs,
        });
        let worker = heart::start(shared.clone(), queue)?;
        Ok(Arc::new(RedisLimits { shared, worker: Mutex::new(Some(worker)) }))
    }

    /// Live daemons, as last counted.
    pub fn live_daemons(&self) -> u32 {
        self.shared.live.load(Ordering::Relaxed)
    }

    /// Times this daemon seeded a day's spend from the store.
    pub fn reseeds(&self) -> u64 {
        self.shared.reseeds.load(Ordering::Relaxed)
    }

    /// Stop heartbeating without leaving, as a killed daemon would.
    #[cfg(test)]
    fn stop_beating(&self) {
        if let Some(w) = lock(&self.worker).take() {
            w.abandon();
        }
    }
}

impl Shared {
    /// The keys of `key`, built once.
    fn keys(&self, key: &LimitKey) -> Arc<Keys> {
        let mut keys = lock(&self.keys);
        if let Some(k) = keys.get(key) {
            return k.clone();
        }
        let k = Arc::new(Keys::of(key));
        keys.insert(key.clone(), k.clone());
        k
    }

    /// The store's booked spend of `key` on `day`.
    fn store_spent(&self, key: &LimitKey, day: i64) -> Result<Nanos, StoreError> {
        let store = lock(&self.store);
        Ok(limit_rows::budget(store.db(), key.scope, &key.connection, day)?.0)
    }
}

impl LimitsService for RedisLimits {
    /// Each key is admitted by its own atomic script, in order; if a later
    /// key refuses, what the earlier ones took is given back at once (as a
    /// call that never reached the provider). No key ever admits past its
    /// limits; a call refused on its token may briefly hold its
    /// connection's capacity.
    fn admit<'a>(&'a self, keys: &'a [Scoped<'a>], ask: Ask) -> BoxFuture<'a, Result<Grant, Refusal>> {
        Box::pin(async move {
            let mut grant = Grant { ask, ..Grant::default() };
            for (slot, scoped) in keys.iter().filter(|s| s.limits.any()).take(MAX_KEYS).enumerate() {
                match admit::admit(&self.shared, scoped.key, scoped.limits, ask).await {
                    Ok(part) => grant.parts[slot] = Some(part),
                    Err(refusal) => {
                        self.settle(grant, Used { requests: 0, tokens: 0, cost: 0, booked: true });
                        return Err(refusal);
                    }
                }
            }
            Ok(grant)
        })
    }

    fn settle(&self, grant: Grant, used: Used) {
        let ask = grant.ask;
        for part in grant.parts.into_iter().flatten() {
            let Some(hold) = part.row else {
                self.shared.fallback.settle(part, ask, used);
                continue;
            };
            lock(&self.shared.holds).remove(&hold);
            let keys = self.shared.keys(&part.key);
            if let Some(job) = settle::SettleJob::new(&part, &ask, &used, keys) {
                // A stopped worker (the daemon is exiting) leaves the hold to expire.
                let _ = self.shared.jobs.send(heart::Job::Settle(job));
            }
        }
    }

    fn headroom(&self, key: &LimitKey, limits: &Limits) -> f64 {
        lock(&self.shared.seen).get(key).map_or(1.0, |s| rule::headroom(s, limits, now_ms()))
    }

    fn breaker(&self, key: &LimitKey) -> Admission {
        if let Some((b, _)) = lock(&self.shared.breakers).get(key) {
            return b.admit(now_ms());
        }
        // Known from now on: the worker reads it within a tick.
        self.shared.keys(key);
        Admission::Allowed
    }

    fn record(&self, key: &LimitKey, failure: Option<(ErrorClass, Option<Duration>)>) {
        let now = now_ms();
        let b = {
            let mut breakers = lock(&self.shared.breakers);
            if failure.is_none() && breakers.get(key).is_none_or(|(b, _)| *b == Breaker::default()) {
                return; // A success on a closed breaker changes nothing.
            }
            let (b, changed_at) = breakers.entry(key.clone()).or_default();
            if !b.record(now, failure) {
                return;
            }
            *changed_at = now;
            *b
        };
        let _ = self.shared.jobs.send(heart::Job::Breaker(self.shared.keys(key), b));
    }

    fn fallback_admissions(&self) -> u64 {
        self.shared.fallback.admitted()
    }
}

impl Drop for RedisLimits {
    fn drop(&mut self) {
        if let Some(w) = lock(&self.worker).take() {
            w.stop();
        }
    }
}
