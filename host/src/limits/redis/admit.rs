//! One admission: the admission script, reseeding today's spend from the
//! store when Redis has lost it, and the fallback when Redis cannot answer.

use super::scripts::{AdmitReply, BadReply, SCRIPTS, Seen};
use super::{LinkError, Shared, lock};
use crate::error_class::ErrorClass;
use crate::limits::rule::{self, KeyState, day_of};
use crate::limits::window::Window;
use crate::limits::{Ask, LimitKey, Limits, Part, Refusal};
use crate::money::nanos_floor;
use crate::store::StoreError;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::Ordering;

/// Why the script gave no decision.
#[derive(Debug, thiserror::Error)]
pub(super) enum Undecided {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Reply(#[from] BadReply),
    #[error("today's spend could not be read from the store: {0}")]
    Store(#[from] StoreError),
    #[error("today's spend kept going missing while it was being seeded")]
    Unseeded,
}

/// Admit one call through Redis, or through the fallback if Redis cannot decide.
pub(super) async fn admit(shared: &Shared, key: &LimitKey, limits: &Limits, ask: Ask) -> Result<Part, Refusal> {
    let live = shared.live.load(Ordering::Relaxed);
    let Some(mut conn) = shared.link.conn() else {
        return shared.fallback.admit(key, limits, ask, live).await;
    };
    match decide(shared, &mut conn, key, limits, ask).await {
        Ok(decision) => decision,
        Err(Undecided::Link(LinkError::Down(_))) => shared.fallback.admit(key, limits, ask, live).await,
        Err(e) => {
            tracing::error!(connection = %key.connection, error = %e, "shared limits could not decide; using this daemon's share");
            shared.fallback.admit(key, limits, ask, live).await
        }
    }
}

/// `-1` for no limit, as the scripts take it.
fn or_none<T: Into<i64>>(limit: Option<T>) -> i64 {
    limit.map_or(-1, Into::into)
}

async fn decide(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    key: &LimitKey,
    limits: &Limits,
    ask: Ask,
) -> Result<Result<Part, Refusal>, Undecided> {
    let keys = shared.keys(key);
    let cap = or_none(limits.daily_budget_usd.map(nanos_floor));
    let hold = (rand::random::<i64>() & i64::MAX) | 1;
    let ttl_ms = shared.timing.hold_ttl.as_millis() as i64;
    let mut seed = (-1, 0);
    for _ in 0..3 {
        let mut script = SCRIPTS.admit.prepare_invoke();
        script
            .key(&keys.rpm)
            .key(&keys.tpm)
            .key(&keys.spent)
            .key(&keys.holds)
            .key(&keys.expiry)
            .arg(or_none(limits.rpm))
            .arg(or_none(limits.tpm))
            .arg(cap)
            .arg(ask.tokens)
            .arg(ask.cost)
            .arg(hold)
            .arg(ttl_ms)
            .arg(seed.0)
            .arg(seed.1);
        let (seen, state) = match AdmitReply::parse(&shared.link.run(conn, &script).await?)? {
            AdmitReply::NeedSeed { day } => {
                seed = (day, shared.store_spent(key, day)?);
                continue;
            }
            AdmitReply::Admitted(seen) => {
                let second = seen.now_ms.div_euclid(1000);
                let state = KeyState {
                    rpm: Window::from_buckets(vec![(second, seen.rpm_used)]),
                    tpm: Window::from_buckets(vec![(second, seen.tpm_used)]),
                    ..state_of(&seen)
                };
                (seen, state)
            }
            AdmitReply::Refused { seen, rpm, tpm } => {
                let state =
                    KeyState { rpm: Window::from_buckets(rpm), tpm: Window::from_buckets(tpm), ..state_of(&seen) };
                (seen, state)
            }
        };
        noted(shared, key, &seen);
        let decision = if seen.admitted {
            if cap >= 0 && ask.cost > 0 {
                lock(&shared.holds).insert(hold, (keys.clone(), ask.cost));
            }
            Ok(Part { key: key.clone(), limits: *limits, second: seen.now_ms.div_euclid(1000), row: Some(hold) })
        } else {
            // The rule words the refusal from the state the script refused on.
            Err(rule::check(&state, key, limits, &ask, seen.now_ms).err().unwrap_or_else(|| Refusal {
                message: format!("connection `{}` is at its limits", key.connection),
                retry_after: Some(std::time::Duration::from_secs(1)),
                class: ErrorClass::RateLimit,
            }))
        };
        lock(&shared.seen).insert(key.clone(), state);
        return Ok(decision);
    }
    Err(Undecided::Unseeded)
}

fn state_of(seen: &Seen) -> KeyState {
    KeyState { day: day_of(seen.now_ms), spent: seen.spent, reserved: seen.held, ..KeyState::default() }
}

/// Log what the script did besides deciding.
fn noted(shared: &Shared, key: &LimitKey, seen: &Seen) {
    if seen.seeded {
        shared.reseeds.fetch_add(1, Ordering::Relaxed);
        tracing::info!(connection = %key.connection, spent_nusd = seen.spent, "shared limits: today's spend reseeded from the store");
    }
    if seen.reaped > 0 {
        tracing::info!(connection = %key.connection, holds = seen.reaped, "shared limits: released the budget holds of a stopped daemon");
    }
}
