//! Volume anomalies: a workflow's or an API token's prompt bytes in the
//! current hour, against its own trailing average over the 24 hours before.
//! Each process counts what it sees in memory (the hot path takes one lock
//! and does no I/O); a daemon adds its counts to the store every [`SYNC`]
//! and reads back every sender's hours, so the daemons of a fleet share one
//! baseline per sender (see [`Volume::sync`]).

use crate::store::{Store, StoreError, volume_rows};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// An hour's prompt bytes must pass this before it can be an anomaly.
pub const MIN_BYTES: u64 = 1 << 20;
/// ... and this multiple of the trailing hourly average.
pub const FACTOR: u64 = 10;
/// How often a daemon shares its counts through the store.
pub const SYNC: Duration = Duration::from_secs(5);
/// Hours the average is taken over.
const TRAILING: usize = 24;
const HOUR_MS: i64 = 3_600_000;

/// One sender's hourly byte counts (a ring of the current hour and the 24 before).
#[derive(Default)]
struct Hours {
    hour: [i64; TRAILING + 1],
    /// Every process's bytes as of the last sync, plus this one's since.
    bytes: [u64; TRAILING + 1],
    /// This process's bytes not yet added to the store.
    unsynced: [u64; TRAILING + 1],
    /// The hour an anomaly was last reported as new.
    alerted: i64,
}

impl Hours {
    /// The slot of `hour`, emptied if it held an older hour.
    fn slot(&mut self, hour: i64) -> usize {
        let slot = hour.rem_euclid(TRAILING as i64 + 1) as usize;
        if self.hour[slot] != hour {
            self.hour[slot] = hour;
            self.bytes[slot] = 0;
            self.unsynced[slot] = 0;
        }
        slot
    }

    /// Add `bytes` in `hour`: an anomaly if the hour is now past
    /// [`MIN_BYTES`] and [`FACTOR`] times the trailing average.
    fn add(&mut self, hour: i64, bytes: u64) -> Option<Anomaly> {
        let slot = self.slot(hour);
        self.bytes[slot] += bytes;
        self.unsynced[slot] += bytes;
        let earlier: u64 = (0..=TRAILING)
            .filter(|&i| i != slot && self.hour[i] < hour && self.hour[i] >= hour - TRAILING as i64)
            .map(|i| self.bytes[i])
            .sum();
        let (total, average) = (self.bytes[slot], earlier / TRAILING as u64);
        if total <= MIN_BYTES || total <= average.saturating_mul(FACTOR) {
            return None;
        }
        // Once per hour, whether this call or another daemon's (seen at a sync) crossed.
        let first = self.alerted != hour;
        self.alerted = hour;
        Some(Anomaly { bytes: total, average, first })
    }
}

/// Who sent a prompt: what its volume is counted under.
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    Workflow { workspace: i64, name: &'a str },
    Token(i64),
}

/// A volume over its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anomaly {
    /// Bytes this hour, and the trailing hourly average.
    pub bytes: u64,
    pub average: u64,
    /// The first report of the hour past the threshold (what alerts).
    pub first: bool,
}

#[derive(Default)]
struct Senders {
    workflows: HashMap<i64, HashMap<String, Hours>>,
    tokens: HashMap<i64, Hours>,
}

impl Senders {
    fn hours(&mut self, sender: Sender<'_>) -> &mut Hours {
        match sender {
            Sender::Workflow { workspace, name } => {
                let ws = self.workflows.entry(workspace).or_default();
                if !ws.contains_key(name) {
                    ws.insert(name.to_string(), Hours::default());
                }
                ws.get_mut(name).expect("just inserted")
            }
            Sender::Token(id) => self.tokens.entry(id).or_default(),
        }
    }

    /// Every sender's hours, with its key in the store.
    fn each(&mut self, mut f: impl FnMut(String, &mut Hours)) {
        for (ws, names) in &mut self.workflows {
            for (name, h) in names {
                f(volume_rows::workflow_key(*ws, name), h);
            }
        }
        for (id, h) in &mut self.tokens {
            f(volume_rows::token_key(*id), h);
        }
    }
}

/// Every sender's hours. One per process.
#[derive(Default)]
pub struct Volume {
    senders: Mutex<Senders>,
}

impl Volume {
    fn lock(&self) -> MutexGuard<'_, Senders> {
        self.senders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count `bytes` for `sender` at `now_ms`; an anomaly if this hour is
    /// past [`MIN_BYTES`] and [`FACTOR`] times the trailing average.
    pub fn add(&self, sender: Sender<'_>, bytes: u64, now_ms: i64) -> Option<Anomaly> {
        self.lock().hours(sender).add(now_ms.div_euclid(HOUR_MS), bytes)
    }

    /// Add this process's counts since the last sync to the store (one
    /// transaction), then take every sender's hours back from it: what the
    /// other processes on the store counted joins the baselines here. On a
    /// failure the counts stay to be added next time.
    pub fn sync(&self, store: &mut Store, now_ms: i64) -> Result<(), StoreError> {
        let hour = now_ms.div_euclid(HOUR_MS);
        let since = hour - TRAILING as i64;
        let mut taken = Vec::new();
        self.lock().each(|key, h| {
            for i in 0..=TRAILING {
                if h.unsynced[i] > 0 && h.hour[i] >= since {
                    taken.push((key.clone(), h.hour[i], std::mem::take(&mut h.unsynced[i])));
                }
            }
        });
        let fleet = store
            .transaction(|tx| volume_rows::add(tx, &taken, since))
            .and_then(|()| volume_rows::since(store.db(), since));
        let mut senders = self.lock();
        let fleet = match fleet {
            Ok(rows) => rows,
            Err(e) => {
                for (key, h, bytes) in taken {
                    if let Some(sender) = volume_rows::parse_key(&key) {
                        let hours = senders.hours(sender.as_sender());
                        let slot = hours.slot(h);
                        hours.unsynced[slot] += bytes;
                    }
                }
                return Err(e);
            }
        };
        for (key, h, stored) in fleet {
            let Some(sender) = volume_rows::parse_key(&key) else { continue };
            let hours = senders.hours(sender.as_sender());
            let slot = hours.slot(h);
            hours.bytes[slot] = stored + hours.unsynced[slot];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_far_above_its_own_baseline_is_an_anomaly_once_it_passes() {
        let v = Volume::default();
        let wf = Sender::Workflow { workspace: 1, name: "w" };
        let t0 = 100 * HOUR_MS;
        // A steady 200 KB an hour for a day: the baseline.
        for h in 0..24 {
            assert_eq!(v.add(wf, 200_000, t0 + h * HOUR_MS), None);
        }
        let now = t0 + 24 * HOUR_MS;
        // 1.5 MB is past 1 MiB but under 10x the 200 KB average.
        assert_eq!(v.add(wf, 1_500_000, now), None);
        let a = v.add(wf, 600_000, now + 1).unwrap();
        assert_eq!((a.bytes, a.average, a.first), (2_100_000, 200_000, true));
        assert!(!v.add(wf, 1, now + 2).unwrap().first, "it alerts once per hour");
        // Another sender and another workspace are counted apart.
        assert_eq!(v.add(Sender::Workflow { workspace: 2, name: "w" }, 1_000, now), None);
        assert_eq!(v.add(Sender::Token(7), 1_000, now), None);
        // Under 1 MiB is never an anomaly, whatever the baseline.
        let fresh = Sender::Token(8);
        assert_eq!(v.add(fresh, MIN_BYTES, now), None);
        assert!(v.add(fresh, 1, now).unwrap().first);
    }
}
