//! The background worker, on its own thread and runtime so it outlives no
//! caller's runtime and stalls none: it connects and reconnects, says every
//! [`super::Timing::beat`] that this daemon lives (and counts the live ones),
//! refreshes the holds of calls in flight here, re-reads the breakers every
//! tick, and runs settles and breaker changes as they come. When Redis comes
//! back it adds what the fallback admitted to the shared windows.

use super::keys::{DAEMONS, Keys};
use super::scripts::SCRIPTS;
use super::settle::{self, SettleJob};
use super::{RedisLimitsError, Shared, lock};
use crate::limits::breaker::Breaker;
use crate::store::now_ms;
use redis::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Work sent from a call to the worker.
pub(super) enum Job {
    Settle(SettleJob),
    /// A breaker changed here: share it.
    Breaker(Arc<Keys>, Breaker),
}

/// The running worker.
pub(super) struct Worker {
    stop: oneshot::Sender<bool>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Finish queued settles, leave the live set, stop.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.thread.join();
    }

    /// Stop at once, without leaving or finishing anything (as if killed).
    #[cfg(test)]
    pub fn abandon(self) {
        let _ = self.stop.send(false);
        let _ = self.thread.join();
    }
}

/// Start the worker; returns once it has tried to connect and beat once.
pub(super) fn start(shared: Arc<Shared>, jobs: mpsc::UnboundedReceiver<Job>) -> Result<Worker, RedisLimitsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RedisLimitsError::Worker(e.to_string()))?;
    let (started, ready) = std::sync::mpsc::channel();
    let (stop, stopped) = oneshot::channel();
    let wait = shared.timing.timeout * 3 + Duration::from_secs(1);
    let thread = std::thread::Builder::new()
        .name("llmnode-redis-limits".into())
        .spawn(move || {
            runtime.block_on(async move {
                if shared.link.connect().await {
                    beat(&shared, false).await;
                }
                let _ = started.send(());
                run(shared, jobs, stopped).await;
            })
        })
        .map_err(|e| RedisLimitsError::Worker(e.to_string()))?;
    let _ = ready.recv_timeout(wait);
    Ok(Worker { stop, thread })
}

async fn run(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>, mut stopped: oneshot::Receiver<bool>) {
    let mut tick = tokio::time::interval(shared.timing.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_beat = Instant::now();
    let mut tasks = JoinSet::new();
    let leave = loop {
        tokio::select! {
            leave = &mut stopped => break leave.unwrap_or(true),
            job = jobs.recv() => match job {
                Some(job) => { tasks.spawn(handle(shared.clone(), job)); }
                None => break true,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = tick.tick() => {
                let was_up = shared.link.is_up();
                if !shared.link.connect().await {
                    continue;
                }
                if !was_up {
                    merge_fallback(&shared).await;
                }
                for job in std::mem::take(&mut *lock(&shared.pending)) {
                    tasks.spawn(settle::run(shared.clone(), job));
                }
                read_breakers(&shared).await;
                if !was_up || last_beat.elapsed() >= shared.timing.beat {
                    last_beat = Instant::now();
                    beat(&shared, false).await;
                    refresh_holds(&shared).await;
                }
            }
        }
    };
    if !leave {
        return;
    }
    // Stopping: what was queued still reaches Redis (each call is bounded).
    jobs.close();
    while let Some(job) = jobs.recv().await {
        tasks.spawn(handle(shared.clone(), job));
    }
    while tasks.join_next().await.is_some() {}
    if shared.link.is_up() {
        beat(&shared, true).await;
    }
}

async fn handle(shared: Arc<Shared>, job: Job) {
    match job {
        Job::Settle(job) => settle::run(shared, job).await,
        Job::Breaker(keys, b) => {
            let Some(mut conn) = shared.link.conn() else { return };
            let mut script = SCRIPTS.breaker.prepare_invoke();
            let closed = b == Breaker::default();
            script.key(&keys.breaker).arg(b.failures).arg(b.open_until_ms.unwrap_or(-1)).arg(u8::from(closed));
            if let Err(e) = shared.link.run(&mut conn, &script).await {
                tracing::debug!(error = %e, "a breaker change could not be shared");
            }
        }
    }
}

/// Say this daemon lives (or leaves) and note how many live.
async fn beat(shared: &Shared, leaving: bool) {
    let Some(mut conn) = shared.link.conn() else { return };
    let mut script = SCRIPTS.beat.prepare_invoke();
    script.key(DAEMONS).arg(&shared.daemon).arg(shared.timing.daemon_ttl.as_millis() as i64).arg(u8::from(leaving));
    match shared.link.run(&mut conn, &script).await {
        Ok(Value::Int(n)) if !leaving => {
            shared.live.store(u32::try_from(n.max(1)).unwrap_or(u32::MAX), Ordering::Relaxed)
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "the limits heartbeat could not reach Redis"),
    }
}

/// One connection's keys and its holds here: (hold id, cost).
type KeyHolds = (Arc<Keys>, Vec<(i64, i64)>);

/// Keep the holds of calls in flight here alive.
async fn refresh_holds(shared: &Shared) {
    let mut by_key: Vec<KeyHolds> = Vec::new();
    for (id, (keys, cost)) in lock(&shared.holds).iter() {
        match by_key.iter_mut().find(|(k, _)| Arc::ptr_eq(k, keys)) {
            Some((_, holds)) => holds.push((*id, *cost)),
            None => by_key.push((keys.clone(), vec![(*id, *cost)])),
        }
    }
    let Some(mut conn) = shared.link.conn() else { return };
    let ttl = shared.timing.hold_ttl.as_millis() as i64;
    for (keys, holds) in by_key {
        let mut script = SCRIPTS.refresh.prepare_invoke();
        script.key(&keys.holds).key(&keys.expiry).key(&keys.settled).arg(ttl);
        for (id, cost) in holds {
            script.arg(id).arg(cost);
        }
        if let Err(e) = shared.link.run(&mut conn, &script).await {
            tracing::debug!(error = %e, "holds could not be refreshed");
            return;
        }
    }
}

/// Re-read every known breaker in one round trip. One changed here lately
/// keeps its local state until the change has surely reached Redis.
async fn read_breakers(shared: &Shared) {
    let known: Vec<_> = lock(&shared.keys).iter().map(|(k, keys)| (k.clone(), keys.clone())).collect();
    if known.is_empty() {
        return;
    }
    let Some(mut conn) = shared.link.conn() else { return };
    let mut pipe = redis::pipe();
    for (_, keys) in &known {
        pipe.cmd("HMGET").arg(&keys.breaker).arg("f").arg("u");
    }
    let Ok(replies) = shared.link.pipeline(&mut conn, &pipe).await else { return };
    let now = now_ms();
    let quiet = 2 * shared.timing.tick.as_millis() as i64 + shared.timing.timeout.as_millis() as i64;
    let mut breakers = lock(&shared.breakers);
    for ((key, _), reply) in known.into_iter().zip(replies) {
        let b = parse_breaker(&reply);
        let entry = breakers.entry(key).or_insert((b, 0));
        if now - entry.1 > quiet {
            entry.0 = b;
        }
    }
}

fn parse_breaker(reply: &Value) -> Breaker {
    let int = |v: &Value| match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse::<i64>().ok()),
        Value::Int(n) => Some(*n),
        _ => None,
    };
    match reply {
        Value::Array(items) if items.len() == 2 => Breaker {
            failures: int(&items[0]).and_then(|f| u32::try_from(f).ok()).unwrap_or(0),
            open_until_ms: int(&items[1]).filter(|u| *u >= 0),
        },
        _ => Breaker::default(),
    }
}

/// Add what the fallback admitted during the outage to the shared windows.
async fn merge_fallback(shared: &Shared) {
    let admitted = shared.fallback.take();
    let Some(mut conn) = shared.link.conn() else { return };
    for (key, state) in admitted {
        let keys = shared.keys(&key);
        for (window, buckets) in [(&keys.rpm, state.rpm.buckets()), (&keys.tpm, state.tpm.buckets())] {
            if buckets.is_empty() {
                continue;
            }
            let mut script = SCRIPTS.merge.prepare_invoke();
            script.key(window);
            for (second, units) in buckets {
                script.arg(*second).arg(*units);
            }
            if let Err(e) = shared.link.run(&mut conn, &script).await {
                tracing::warn!(connection = %key.connection, error = %e, "what was admitted during the outage could not be shared");
            }
        }
    }
}
