//! Settling a call admitted through Redis, in the background: book the real
//! cost (in the store too when the usage writer did not), correct the
//! windows, release the hold. Retried until Redis takes it; the script
//! makes a repeat harmless.

use super::keys::Keys;
use super::scripts::{SCRIPTS, SettleReply};
use super::{Shared, lock};
use crate::limits::rule::day_of;
use crate::limits::{Ask, LimitKey, Part, Used};
use crate::money::Nanos;
use crate::store::{limit_rows, now_ms};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The most settles kept for retry while Redis is away; past it the oldest
/// are dropped (their holds expire; their costs are in the store).
const MAX_PENDING: usize = 100_000;

/// One settle, as the script takes it.
pub(super) struct SettleJob {
    key: LimitKey,
    keys: Arc<Keys>,
    hold: i64,
    second: i64,
    /// Give the request back (the call never reached the provider).
    refund: bool,
    /// Tokens (held, used), when they differ.
    tokens: Option<(u64, u64)>,
    cost: Nanos,
    /// The cost is in no store yet: book it there first.
    book_store: bool,
}

impl SettleJob {
    /// The settle of `part` of a call that asked for `ask`, unless there is nothing to do.
    pub fn new(part: &Part, ask: &Ask, used: &Used, keys: Arc<Keys>) -> Option<Self> {
        let grant = part;
        let refund = grant.limits.rpm.is_some() && used.requests == 0;
        let tokens = (grant.limits.tpm.is_some() && used.tokens != ask.tokens).then_some((ask.tokens, used.tokens));
        let held = grant.limits.daily_budget_usd.is_some() && ask.cost > 0;
        if !refund && tokens.is_none() && used.cost == 0 && !held {
            return None;
        }
        Some(SettleJob {
            key: grant.key.clone(),
            keys,
            hold: grant.row?,
            second: grant.second,
            refund,
            tokens,
            cost: used.cost,
            book_store: !used.booked && used.cost > 0,
        })
    }
}

/// Run `job`; one Redis could not take waits for the next try.
pub(super) async fn run(shared: Arc<Shared>, mut job: SettleJob) {
    if job.book_store {
        let (s, key, cost) = (shared.clone(), job.key.clone(), job.cost);
        let booked = tokio::task::spawn_blocking(move || {
            let store = lock(&s.store);
            limit_rows::book_spend(store.db(), key.scope, &key.connection, day_of(now_ms()), cost)
        })
        .await;
        if !matches!(booked, Ok(Ok(()))) {
            tracing::error!(connection = %job.key.connection, "a call's cost could not be booked in the store (it is booked in Redis)");
        }
        job.book_store = false;
    }
    if let Err(e) = once(&shared, &job).await {
        tracing::debug!(connection = %job.key.connection, error = %e, "a settle waits for Redis");
        let mut pending = lock(&shared.pending);
        if pending.len() >= MAX_PENDING {
            tracing::error!("too many settles waiting for Redis; the oldest is dropped (its hold expires)");
            pending.remove(0);
        }
        pending.push(job);
    }
}

async fn once(shared: &Shared, job: &SettleJob) -> Result<(), super::admit::Undecided> {
    let mut conn = shared.link.conn().ok_or_else(|| super::LinkError::Down(String::new()))?;
    let mut seed = (-1, 0);
    for _ in 0..3 {
        let mut script = SCRIPTS.settle.prepare_invoke();
        let (held, used) = job.tokens.map_or((0, -1), |(h, u)| (h as i64, u as i64));
        script
            .key(&job.keys.rpm)
            .key(&job.keys.tpm)
            .key(&job.keys.spent)
            .key(&job.keys.holds)
            .key(&job.keys.expiry)
            .key(&job.keys.settled)
            .arg(job.hold)
            .arg(job.second)
            .arg(u8::from(job.refund))
            .arg(held)
            .arg(used)
            .arg(job.cost)
            .arg(seed.0)
            .arg(seed.1);
        match SettleReply::parse(&shared.link.run(&mut conn, &script).await?)? {
            SettleReply::NeedSeed { day } => seed = (day, shared.store_spent(&job.key, day)?),
            SettleReply::Done { seeded } => {
                if seeded {
                    shared.reseeds.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(connection = %job.key.connection, "shared limits: today's spend reseeded from the store");
                }
                return Ok(());
            }
        }
    }
    Err(super::admit::Undecided::Unseeded)
}
