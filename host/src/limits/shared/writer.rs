//! The store limits' writer: one thread takes every admission and settlement
//! queued since its last commit and applies them in order, in one
//! transaction (group commit). Each key's windows and budget are read once
//! per transaction and written back once, however many calls it holds, so a
//! busy daemon pays one commit for many calls; exactness is unchanged, since
//! the whole group runs under every key's lock and decides each call on the
//! state the calls before it left. A caller waits for the commit before its
//! call is admitted (nothing is granted that is not durable); a settlement
//! is only queued: a hold released a little later errs on the safe side,
//! and the queue is first in, first out, so a call admitted after a
//! settlement was queued sees it.

use super::unavailable;
use crate::limits::rule::{self, KeyState, day_of};
use crate::limits::window::Window;
use crate::limits::{Ask, Grant, LimitKey, Limits, MAX_KEYS, Part, Refusal, Used};
use crate::money::Nanos;
use crate::store::{Db, Store, StoreError, limit_rows, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// At most this many jobs go into one transaction.
const MAX_GROUP: usize = 256;

/// One piece of work for the writer.
pub(super) enum Job {
    /// Admit one call against `keys` (those with limits), answering once
    /// the decision is committed.
    Admit { keys: [Option<(LimitKey, Limits)>; MAX_KEYS], ask: Ask, reply: oneshot::Sender<Result<Grant, Refusal>> },
    /// Replace a grant's reservation with what the call used.
    Settle { grant: Grant, used: Used },
    /// Answer once everything queued before is committed.
    Flush(std::sync::mpsc::Sender<()>),
}

/// Start the writer on its own store connection; it stops once every
/// sender is dropped and what was queued is written.
pub(super) fn spawn(
    store: Store,
    holder: String,
    seen: Arc<Mutex<HashMap<LimitKey, KeyState>>>,
) -> std::io::Result<(mpsc::UnboundedSender<Job>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name("llmnode-limits".into())
        .spawn(move || Writer { store, holder, seen, carry: Vec::new() }.run(rx))?;
    Ok((tx, thread))
}

struct Writer {
    store: Store,
    holder: String,
    /// The last state seen per key, for balancing's headroom.
    seen: Arc<Mutex<HashMap<LimitKey, KeyState>>>,
    /// Grants whose caller went away before the answer: refunded next.
    carry: Vec<Job>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_GROUP);
        loop {
            jobs.append(&mut self.carry);
            if jobs.is_empty() {
                match rx.blocking_recv() {
                    Some(job) => jobs.push(job),
                    None => return,
                }
            }
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.apply(&mut jobs);
        }
    }

    /// Apply `jobs` in one transaction, then answer them.
    fn apply(&mut self, jobs: &mut Vec<Job>) {
        let now = now_ms();
        let mut keys: Vec<LimitKey> = Vec::new();
        for job in jobs.iter() {
            match job {
                Job::Admit { keys: k, .. } => keys.extend(k.iter().flatten().map(|(key, _)| key.clone())),
                Job::Settle { grant, .. } => keys.extend(grant.parts().map(|p| p.key.clone())),
                Job::Flush(_) => {}
            }
        }
        // One lock order for every process, so two groups never wait in a cycle.
        keys.sort();
        keys.dedup();
        let holder = &self.holder;
        let result = self.store.transaction(|tx| -> Result<_, StoreError> {
            for k in &keys {
                limit_rows::lock(tx, k.scope, &k.connection)?;
            }
            let mut group = Group { tx, now, day: day_of(now), cache: HashMap::with_capacity(keys.len()) };
            let mut answers = Vec::with_capacity(jobs.len());
            for job in jobs.iter() {
                answers.push(match job {
                    Job::Admit { keys, ask, .. } => Some(group.admit(holder, keys, ask)?),
                    Job::Settle { grant, used } => {
                        group.settle(grant, used)?;
                        None
                    }
                    Job::Flush(_) => None,
                });
            }
            group.write_back()?;
            Ok((answers, group.cache))
        });
        match result {
            Ok((answers, cache)) => {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                for (key, c) in cache.into_iter().filter(|(_, c)| c.admitted) {
                    seen.insert(key, c.state);
                }
                drop(seen);
                for (job, answer) in jobs.drain(..).zip(answers) {
                    match (job, answer) {
                        (Job::Admit { reply, .. }, Some(answer)) => {
                            if let Err(Ok(grant)) = reply.send(answer) {
                                // The caller is gone: nothing reached a provider.
                                self.carry.push(Job::Settle { grant, used: Used::default() });
                            }
                        }
                        (Job::Flush(done), _) => {
                            let _ = done.send(());
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => {
                for job in jobs.drain(..) {
                    match job {
                        Job::Admit { keys, reply, .. } => {
                            let key = keys.iter().flatten().next().map(|(k, _)| k);
                            tracing::error!(key = ?key.map(|k| &k.connection), error = %e, "shared limits unavailable; call refused");
                            let _ = reply.send(Err(unavailable(key, &e)));
                        }
                        Job::Settle { grant, .. } => {
                            // The hold stays until this process stops beating: safe, if tight.
                            let key = grant.parts().next().map(|p| p.key.connection.clone());
                            tracing::error!(key = ?key, error = %e, "a limits reservation could not be settled");
                        }
                        Job::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            }
        }
    }
}

/// One key's state within a group, each part read when first needed.
#[derive(Default)]
struct Cached {
    state: KeyState,
    /// Read: (rpm, tpm, budget).
    read: [bool; 3],
    /// Changed, to be written back: (rpm, tpm).
    dirty: [bool; 2],
    /// A call was admitted against it (its state is worth showing balancing).
    admitted: bool,
}

/// The transaction of one group and the keys' state read in it.
struct Group<'t> {
    tx: &'t Db,
    now: i64,
    day: i64,
    cache: HashMap<LimitKey, Cached>,
}

const RPM: usize = 0;
const TPM: usize = 1;
const BUDGET: usize = 2;

impl Group<'_> {
    /// `key`'s state, with the parts `limits` (or `need`) name read.
    fn load(&mut self, key: &LimitKey, need: [bool; 3]) -> Result<&mut Cached, StoreError> {
        let c = self.cache.entry(key.clone()).or_default();
        let (tx, ws, name) = (self.tx, key.scope, &*key.connection);
        if need[RPM] && !c.read[RPM] {
            c.state.rpm = Window::from_bytes(&limit_rows::window(tx, ws, name, "rpm")?);
            c.read[RPM] = true;
        }
        if need[TPM] && !c.read[TPM] {
            c.state.tpm = Window::from_bytes(&limit_rows::window(tx, ws, name, "tpm")?);
            c.read[TPM] = true;
        }
        if need[BUDGET] && !c.read[BUDGET] {
            c.state.day = self.day;
            (c.state.spent, c.state.reserved) = limit_rows::budget(tx, ws, name, self.day)?;
            c.read[BUDGET] = true;
        }
        Ok(c)
    }

    /// Admit a call against every key, or refuse naming the first without room.
    fn admit(
        &mut self,
        holder: &str,
        keys: &[Option<(LimitKey, Limits)>; MAX_KEYS],
        ask: &Ask,
    ) -> Result<Result<Grant, Refusal>, StoreError> {
        let needs = |l: &Limits| [l.rpm.is_some(), l.tpm.is_some(), l.daily_budget_usd.is_some()];
        let now = self.now;
        for (key, limits) in keys.iter().flatten() {
            let c = self.load(key, needs(limits))?;
            if let Err(refusal) = rule::check(&c.state, key, limits, ask, now) {
                return Ok(Err(refusal));
            }
        }
        let mut grant = Grant { ask: *ask, ..Grant::default() };
        for (slot, (key, limits)) in grant.parts.iter_mut().zip(keys.iter().flatten()) {
            let (day, tx) = (self.day, self.tx);
            let c = self.load(key, needs(limits))?;
            let second = rule::take(&mut c.state, limits, ask, now);
            c.dirty[RPM] |= limits.rpm.is_some();
            c.dirty[TPM] |= limits.tpm.is_some();
            c.admitted = true;
            let row = match limits.daily_budget_usd {
                Some(_) if ask.cost > 0 => {
                    Some(limit_rows::hold(tx, holder, key.scope, &key.connection, day, ask.cost)?)
                }
                _ => None,
            };
            *slot = Some(Part { key: key.clone(), limits: *limits, second, row });
        }
        Ok(Ok(grant))
    }

    /// Replace a grant's reservation with what the call used, on every key.
    fn settle(&mut self, grant: &Grant, used: &Used) -> Result<(), StoreError> {
        let (now, day, tx) = (self.now, self.day, self.tx);
        let book = !used.booked && used.cost != 0;
        for part in grant.parts() {
            let refund = part.limits.rpm.is_some() && used.requests == 0;
            let retoken = part.limits.tpm.is_some() && used.tokens != grant.ask.tokens;
            if !(refund || retoken || book || part.row.is_some()) {
                continue;
            }
            let c = self.load(&part.key, [refund, retoken, false])?;
            if refund {
                c.state.rpm.adjust(now, part.second, 1, 0);
                c.dirty[RPM] = true;
            }
            if retoken {
                c.state.tpm.adjust(now, part.second, grant.ask.tokens, used.tokens);
                c.dirty[TPM] = true;
            }
            if book {
                limit_rows::book_spend(tx, part.key.scope, &part.key.connection, day, used.cost)?;
                if c.read[BUDGET] {
                    c.state.spent += used.cost;
                }
            }
            if let Some(row) = part.row
                && let Some((held_day, nusd)) = limit_rows::release(tx, row)?
                && c.read[BUDGET]
                && held_day == day
            {
                c.state.reserved = (c.state.reserved - nusd).max(Nanos::default());
            }
        }
        Ok(())
    }

    /// Write every changed window once.
    fn write_back(&self) -> Result<(), StoreError> {
        for (key, c) in &self.cache {
            let (ws, name) = (key.scope, &*key.connection);
            if c.dirty[RPM] {
                limit_rows::set_window(self.tx, ws, name, "rpm", &c.state.rpm.to_bytes())?;
            }
            if c.dirty[TPM] {
                limit_rows::set_window(self.tx, ws, name, "tpm", &c.state.tpm.to_bytes())?;
            }
        }
        Ok(())
    }
}
