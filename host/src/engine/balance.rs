//! Choosing where a load-balanced node goes first. The chosen member leads;
//! the rest of the pool follows in rotation, so a failing member fails over
//! within its pool before the node's fallbacks are tried.
//!
//! State is per engine (shared by every run and node using the same pool):
//! round-robin cursors, requests in flight and a latency average per connection.

use crate::workflow::{LoadBalancing, WeightedConnection};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Weight of the newest sample in the latency average.
const EWMA_ALPHA: f64 = 0.3;

/// Pool selection state for one engine.
#[derive(Default)]
pub struct Balancer {
    cursors: Mutex<HashMap<String, u64>>,
    in_flight: Mutex<HashMap<String, u32>>,
    latency_ms: Mutex<HashMap<String, f64>>,
}

/// Counts a request in flight until dropped.
pub struct InFlight<'a> {
    balancer: &'a Balancer,
    connection: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.balancer.in_flight.lock()
            && let Some(n) = m.get_mut(&self.connection)
        {
            *n = n.saturating_sub(1);
        }
    }
}

impl Balancer {
    /// The pool's members in the order to try them under `policy`;
    /// `headroom` gives each member's free share of its quotas (0 to 1).
    pub fn order<'a>(
        &self,
        pool: &'a [WeightedConnection],
        policy: LoadBalancing,
        headroom: impl Fn(&str) -> f64,
    ) -> Vec<&'a str> {
        let n = pool.len();
        if n == 0 {
            return Vec::new();
        }
        let first = match policy {
            LoadBalancing::RoundRobin => {
                let key: String = pool.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("\u{1f}");
                let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
                let cursor = cursors.entry(key).or_insert(0);
                let first = (*cursor % n as u64) as usize;
                *cursor = cursor.wrapping_add(1);
                first
            }
            LoadBalancing::Random => rand::random_range(0..n),
            LoadBalancing::Weighted => {
                let total: u64 = pool.iter().map(|c| u64::from(c.weight.max(1))).sum();
                let mut pick = rand::random_range(0..total);
                pool.iter()
                    .position(|c| {
                        let w = u64::from(c.weight.max(1));
                        if pick < w {
                            true
                        } else {
                            pick -= w;
                            false
                        }
                    })
                    .unwrap_or(0)
            }
            LoadBalancing::LeastLoaded => {
                // Most quota left (RPM, TPM, budget) first; then fewest in flight.
                let m = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                let room: Vec<f64> = pool.iter().map(|c| headroom(&c.name)).collect();
                let busy = |i: usize| m.get(&pool[i].name).copied().unwrap_or(0);
                (0..n).min_by(|&a, &b| room[b].total_cmp(&room[a]).then(busy(a).cmp(&busy(b)))).unwrap_or(0)
            }
            LoadBalancing::LowestLatency => {
                // Unmeasured members count as fastest, so each gets measured.
                let m = self.latency_ms.lock().unwrap_or_else(|e| e.into_inner());
                let of = |i: usize| m.get(&pool[i].name).copied().unwrap_or(0.0);
                (0..n).min_by(|&a, &b| of(a).total_cmp(&of(b))).unwrap_or(0)
            }
        };
        (0..n).map(|k| pool[(first + k) % n].name.as_str()).collect()
    }

    /// Count a request to `connection` as in flight until the guard drops.
    pub fn start(&self, connection: &str) -> InFlight<'_> {
        *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).entry(connection.to_string()).or_insert(0) += 1;
        InFlight { balancer: self, connection: connection.to_string() }
    }

    /// Fold a served request's latency into the connection's average.
    pub fn record_latency(&self, connection: &str, latency: Duration) {
        let ms = latency.as_secs_f64() * 1000.0;
        let mut m = self.latency_ms.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(connection.to_string()).and_modify(|avg| *avg += EWMA_ALPHA * (ms - *avg)).or_insert(ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited(_: &str) -> f64 {
        1.0
    }

    fn pool(names: &[(&str, u32)]) -> Vec<WeightedConnection> {
        names.iter().map(|(n, w)| WeightedConnection { name: n.to_string(), weight: *w }).collect()
    }

    #[test]
    fn round_robin_rotates_exactly_evenly_and_keeps_the_rest_as_backups() {
        let b = Balancer::default();
        let p = pool(&[("a", 1), ("b", 1), ("c", 1)]);
        let orders: Vec<Vec<&str>> = (0..3).map(|_| b.order(&p, LoadBalancing::RoundRobin, unlimited)).collect();
        assert_eq!(orders, [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]);
        let mut firsts = HashMap::new();
        for _ in 0..300 {
            *firsts.entry(b.order(&p, LoadBalancing::RoundRobin, unlimited)[0]).or_insert(0) += 1;
        }
        assert_eq!(firsts.values().copied().collect::<Vec<_>>(), [100, 100, 100]);
    }

    #[test]
    fn weighted_follows_the_weights() {
        let b = Balancer::default();
        let p = pool(&[("heavy", 9), ("light", 1)]);
        let heavy = (0..2000).filter(|_| b.order(&p, LoadBalancing::Weighted, unlimited)[0] == "heavy").count();
        // 90% expected; 5 standard deviations is about ±3%.
        assert!((1740..=1860).contains(&heavy), "{heavy} of 2000");
    }

    #[test]
    fn least_loaded_and_lowest_latency_prefer_the_idle_and_the_fast() {
        let b = Balancer::default();
        let p = pool(&[("a", 1), ("b", 1)]);
        let busy = b.start("a");
        assert_eq!(b.order(&p, LoadBalancing::LeastLoaded, unlimited)[0], "b");
        // Quota left outranks requests in flight.
        let b_nearly_exhausted = |n: &str| if n == "b" { 0.1 } else { 0.9 };
        assert_eq!(b.order(&p, LoadBalancing::LeastLoaded, b_nearly_exhausted)[0], "a");
        drop(busy);
        b.record_latency("a", Duration::from_millis(300));
        b.record_latency("b", Duration::from_millis(40));
        assert_eq!(b.order(&p, LoadBalancing::LowestLatency, unlimited), ["b", "a"]);
        for _ in 0..10 {
            b.record_latency("b", Duration::from_millis(900));
        }
        assert_eq!(b.order(&p, LoadBalancing::LowestLatency, unlimited)[0], "a");
    }
}
