//! Volume anomalies: a workflow's or an API token's prompt bytes in the
//! current hour, against its own trailing average over the 24 hours before.
//! Kept in process (each daemon sees its own traffic), outliving engines.

use std::collections::HashMap;
use std::sync::Mutex;

/// An hour's prompt bytes must pass this before it can be an anomaly.
pub const MIN_BYTES: u64 = 1 << 20;
/// ... and this multiple of the trailing hourly average.
pub const FACTOR: u64 = 10;
/// Hours the average is taken over.
const TRAILING: usize = 24;
const HOUR_MS: i64 = 3_600_000;

/// One key's hourly byte counts (a ring of the current hour and the 24 before).
#[derive(Default)]
struct Hours {
    hour: [i64; TRAILING + 1],
    bytes: [u64; TRAILING + 1],
}

impl Hours {
    /// Add `bytes` in `hour`; (this hour's total, the trailing average).
    fn add(&mut self, hour: i64, bytes: u64) -> (u64, u64) {
        let slot = hour.rem_euclid(TRAILING as i64 + 1) as usize;
        if self.hour[slot] != hour {
            self.hour[slot] = hour;
            self.bytes[slot] = 0;
        }
        self.bytes[slot] += bytes;
        let earlier: u64 = (0..=TRAILING)
            .filter(|&i| i != slot && self.hour[i] < hour && self.hour[i] >= hour - TRAILING as i64)
            .map(|i| self.bytes[i])
            .sum();
        (self.bytes[slot], earlier / TRAILING as u64)
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
    /// The first prompt of the hour past the threshold (what alerts).
    pub first: bool,
}

/// Every sender's hours. One per process.
#[derive(Default)]
pub struct Volume {
    workflows: Mutex<HashMap<i64, HashMap<String, Hours>>>,
    tokens: Mutex<HashMap<i64, Hours>>,
}

impl Volume {
    /// Count `bytes` for `sender` at `now_ms`; an anomaly if this hour is
    /// past [`MIN_BYTES`] and [`FACTOR`] times the trailing average.
    pub fn add(&self, sender: Sender<'_>, bytes: u64, now_ms: i64) -> Option<Anomaly> {
        let hour = now_ms.div_euclid(HOUR_MS);
        let (total, average) = match sender {
            Sender::Workflow { workspace, name } => {
                let mut all = self.workflows.lock().unwrap_or_else(|e| e.into_inner());
                let ws = all.entry(workspace).or_default();
                match ws.get_mut(name) {
                    Some(h) => h.add(hour, bytes),
                    None => ws.entry(name.to_string()).or_default().add(hour, bytes),
                }
            }
            Sender::Token(id) => {
                self.tokens.lock().unwrap_or_else(|e| e.into_inner()).entry(id).or_default().add(hour, bytes)
            }
        };
        let over = |t: u64| t > MIN_BYTES && t > average.saturating_mul(FACTOR);
        over(total).then(|| Anomaly { bytes: total, average, first: !over(total - bytes) })
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
