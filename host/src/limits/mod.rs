//! Limits are state of a connection, not of an engine: requests and tokens
//! per minute, the daily budget and the circuit breaker live in one
//! [`LimitsService`], keyed by workspace and connection, that outlives every
//! engine. An API token's own RPM and budget live there too, under a key of
//! their own ([`LimitKey::token`]); a call through a limited token is
//! admitted against its connection's and its token's limits together, in one
//! step: both fit, or neither is touched. A configuration change rebuilds an engine, never its limits; a
//! changed limit applies to the use already counted (lowering RPM bites at
//! once, raising it forgives nothing).
//!
//! Three backends: [`LocalLimits`] in one process (a connections file with no
//! store), [`StoreLimits`], shared through the store by every process that
//! opens the same data directory (the daemon and CLI runs alike), and
//! [`RedisLimits`], shared by a fleet of daemons through Redis
//! (`--limits redis://…`).
//!
//! Each call asks for its worst case up front ([`Ask`]: one request, the most
//! tokens it can use, the most it can cost) and is admitted only if all of it
//! fits; [`LimitsService::settle`] replaces the reservation with what the call
//! really used, so overage is booked, never dropped.

pub mod breaker;
mod local;
pub mod redis;
mod rule;
mod shared;
pub mod window;

pub use self::redis::{RedisLimits, RedisUrl};
pub use breaker::{Admission, Breaker};
pub use local::LocalLimits;
pub use shared::StoreLimits;

use crate::error_class::ErrorClass;
use crate::money::Nanos;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// A connection's limits, as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens (the prompt's upper bound plus the answer's) per minute.
    pub tpm: Option<u32>,
    /// Spend per UTC day.
    pub daily_budget_usd: Option<f64>,
    /// Wait this long for RPM/TPM capacity before refusing (zero: refuse at once).
    pub queue_for: Duration,
}

impl Limits {
    /// True if any limit is set (an unlimited connection costs no bookkeeping).
    pub fn any(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some() || self.daily_budget_usd.is_some()
    }
}

/// Whose limits: a workspace (its store id; 0 without a store) and a
/// connection name within it, or `token/ID` for an API token (no connection
/// name holds a `/`). A connection deleted and re-created under the same
/// name keeps the day's spend.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitKey {
    pub scope: i64,
    pub connection: Arc<str>,
}

impl LimitKey {
    /// The key of API token `id` of workspace `scope`.
    pub fn token(scope: i64, id: i64) -> Self {
        LimitKey { scope, connection: format!("token/{id}").into() }
    }
}

impl std::fmt::Display for LimitKey {
    /// What refusals call it: "connection `NAME`" or "token ID".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.connection.strip_prefix("token/") {
            Some(id) => write!(f, "token {id}"),
            None => write!(f, "connection `{}`", self.connection),
        }
    }
}

/// One key a call is held against, with its limits.
#[derive(Debug, Clone, Copy)]
pub struct Scoped<'a> {
    pub key: &'a LimitKey,
    pub limits: &'a Limits,
}

/// The most keys one call is held against: its connection and its API token.
pub const MAX_KEYS: usize = 2;

/// What one call may use at most.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask {
    /// Prompt plus answer tokens, an upper bound.
    pub tokens: u64,
    /// The most the call can cost (priced at its dearest input rate).
    pub cost: Nanos,
}

/// What a call really used, to replace its reservation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    /// 1 if the call reached the provider, else 0 (its request slot is given back).
    pub requests: u64,
    pub tokens: u64,
    pub cost: Nanos,
    /// The cost is already in the store's daily spend (the usage writer booked
    /// it with the usage event), so settling only releases the hold.
    pub booked: bool,
}

/// Why a call was refused locally.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    /// When capacity returns, for RPM/TPM refusals.
    pub retry_after: Option<Duration>,
    /// [`ErrorClass::RateLimit`] (waiting helps) or
    /// [`ErrorClass::QuotaExceeded`] (the day's budget: it does not).
    pub class: ErrorClass,
}

/// Capacity held for one admitted call (on every key it was admitted
/// against) until it is settled. Dropping it
/// unsettled (the call was cancelled mid-flight, so what the provider billed
/// is unknown) books the whole reservation as used: never less than the truth.
#[must_use = "a hold is released when dropped; settle it with what the call used"]
pub struct Hold {
    service: Option<Arc<dyn LimitsService>>,
    pub(crate) grant: Grant,
}

/// The bookkeeping of one admission, for the backend that made it: one part
/// per key (no allocation per call), all holding the same ask.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    pub(crate) parts: [Option<Part>; MAX_KEYS],
    pub(crate) ask: Ask,
}

/// What one admission holds on one key.
#[derive(Debug, Clone)]
pub struct Part {
    pub(crate) key: LimitKey,
    pub(crate) limits: Limits,
    /// The second the reservation was counted in (RPM/TPM windows).
    pub(crate) second: i64,
    /// The backend's hold: the store's hold row, or the Redis hold id
    /// (`None` for a call the Redis backend's fallback admitted).
    pub(crate) row: Option<i64>,
}

impl Grant {
    /// The parts held, in the order their keys were given.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &Part> {
        self.parts.iter().flatten()
    }
}

impl Hold {
    /// A hold on nothing (an unlimited connection and token).
    pub fn none() -> Self {
        Hold { service: None, grant: Grant::default() }
    }

    /// Replace the reservation with what the call used.
    pub fn settle(mut self, used: Used) {
        if let Some(service) = self.service.take() {
            service.settle(self.grant.clone(), used);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(service) = self.service.take() {
            let ask = self.grant.ask;
            service.settle(self.grant.clone(), Used { requests: 1, tokens: ask.tokens, cost: ask.cost, booked: false });
        }
    }
}

/// Where limits live. Admission is all or nothing: a call takes a request,
/// its tokens and its worst-case cost on every key together, or nothing.
pub trait LimitsService: Send + Sync {
    /// Admit one call against every one of `keys` (at most [`MAX_KEYS`];
    /// keys without limits are passed over), or refuse, naming the first key
    /// that has no room, with when to try again.
    fn admit<'a>(&'a self, keys: &'a [Scoped<'a>], ask: Ask) -> BoxFuture<'a, Result<Grant, Refusal>>;

    /// Replace a grant's reservation with what the call used.
    fn settle(&self, grant: Grant, used: Used);

    /// The tightest share left of the key's RPM, TPM and budget, from 0 to 1:
    /// what `least_loaded` balancing compares (from the last state seen).
    fn headroom(&self, key: &LimitKey, limits: &Limits) -> f64;

    /// May the connection be tried now?
    fn breaker(&self, key: &LimitKey) -> Admission;

    /// Record an attempt's outcome for the breaker (`None`: success).
    fn record(&self, key: &LimitKey, failure: Option<(ErrorClass, Option<Duration>)>);

    /// Calls admitted by an in-process fallback because the shared limits
    /// were unreachable, since the start (for `/metrics`).
    fn fallback_admissions(&self) -> u64 {
        0
    }
}

/// Why the shared limits could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Redis(#[from] self::redis::RedisLimitsError),
}

/// The limits every process on the store at `location` shares: through
/// Redis at `redis` if given, else through the store itself.
pub fn open_shared(
    location: &crate::store::Location,
    redis: Option<&RedisUrl>,
) -> Result<Arc<dyn LimitsService>, OpenError> {
    Ok(match redis {
        Some(url) => RedisLimits::open(url, location)?,
        None => StoreLimits::open(location)?,
    })
}

/// Admit through `service` against every one of `keys`, waiting up to the
/// longest `queue_for` among them for RPM/TPM capacity; a budget refusal
/// never waits.
pub async fn acquire(service: &Arc<dyn LimitsService>, keys: &[Scoped<'_>], ask: Ask) -> Result<Hold, Refusal> {
    if !keys.iter().any(|k| k.limits.any()) {
        return Ok(Hold::none());
    }
    let queue_for = keys.iter().map(|k| k.limits.queue_for).max().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + queue_for;
    loop {
        match service.admit(keys, ask).await {
            Ok(grant) => return Ok(Hold { service: Some(service.clone()), grant }),
            Err(refusal) => {
                let wait = match refusal.retry_after {
                    Some(wait) if refusal.class == ErrorClass::RateLimit => wait,
                    _ => return Err(refusal),
                };
                let now = tokio::time::Instant::now();
                if now + wait > deadline {
                    return Err(refusal);
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}
