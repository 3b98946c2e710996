//! A sliding one-minute window of use, in one-second buckets: what RPM and TPM
//! admit against. A unit used in second `s` counts until second `s + 60` has
//! passed, so no 60-second span ever holds more than the limit (a unit is
//! held 60 to 61 s: the bucket's granularity errs on the safe side).
//!
//! The window is a plain value: the in-process backend keeps it in memory, the
//! store backend reads and writes it as a small blob inside a transaction.

/// Seconds a bucket stays counted after its own second.
const SPAN_S: i64 = 60;

/// Non-empty buckets, oldest first: (second since the epoch, units used then).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    buckets: Vec<(i64, u64)>,
}

impl Window {
    /// Forget buckets that no longer count at `now_ms`.
    fn prune(&mut self, now_ms: i64) {
        let oldest = now_ms.div_euclid(1000) - SPAN_S;
        self.buckets.retain(|(s, n)| *s >= oldest && *n > 0);
    }

    /// Units counted at `now_ms`.
    pub fn used(&self, now_ms: i64) -> u64 {
        let oldest = now_ms.div_euclid(1000) - SPAN_S;
        self.buckets.iter().filter(|(s, _)| *s >= oldest).map(|(_, n)| n).sum()
    }

    /// Count `units` in the bucket of `now_ms`; returns that bucket's second
    /// (where a later [`Window::adjust`] applies).
    pub fn add(&mut self, now_ms: i64, units: u64) -> i64 {
        self.prune(now_ms);
        let second = now_ms.div_euclid(1000);
        match self.buckets.last_mut() {
            Some((s, n)) if *s == second => *n = n.saturating_add(units),
            _ => self.buckets.push((second, units)),
        }
        second
    }

    /// Correct what was counted in `second` from `was` to `now_units` (a
    /// reservation replaced by real use). A bucket that has left the window
    /// needs no refund; an overage beyond it is counted now.
    pub fn adjust(&mut self, now_ms: i64, second: i64, was: u64, now_units: u64) {
        self.prune(now_ms);
        if let Some((_, n)) = self.buckets.iter_mut().find(|(s, _)| *s == second) {
            *n = n.saturating_sub(was).saturating_add(now_units);
        } else if now_units > was {
            self.add(now_ms, now_units - was);
        }
        self.prune(now_ms);
    }

    /// How long until `want` more units fit under `limit`, if they ever can.
    pub fn wait_for(&self, now_ms: i64, want: u64, limit: u64) -> Option<std::time::Duration> {
        if want > limit {
            return None;
        }
        let mut used = self.used(now_ms);
        let oldest = now_ms.div_euclid(1000) - SPAN_S;
        for (s, n) in self.buckets.iter().filter(|(s, _)| *s >= oldest) {
            if used + want <= limit {
                break;
            }
            used -= n;
            if used + want <= limit {
                let free_at_ms = (s + SPAN_S + 1) * 1000;
                return Some(std::time::Duration::from_millis((free_at_ms - now_ms).max(1) as u64));
            }
        }
        Some(std::time::Duration::ZERO)
    }

    /// The buckets (second, units), oldest first.
    pub fn buckets(&self) -> &[(i64, u64)] {
        &self.buckets
    }

    /// A window of `buckets` (second, units), in any order.
    pub fn from_buckets(mut buckets: Vec<(i64, u64)>) -> Self {
        buckets.sort_unstable();
        Window { buckets }
    }

    /// The window as bytes: 16 per non-empty bucket (second, units; little
    /// endian), at most 61 buckets.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buckets.len() * 16);
        for (s, n) in &self.buckets {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
        out
    }

    /// Read [`Window::to_bytes`]' output; anything malformed reads as the
    /// buckets that parse (a torn value can only lose old use, never add).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let buckets = bytes
            .chunks_exact(16)
            .map(|c| {
                let s = i64::from_le_bytes(c[..8].try_into().unwrap_or_default());
                let n = u64::from_le_bytes(c[8..].try_into().unwrap_or_default());
                (s, n)
            })
            .collect();
        Window { buckets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_counts_for_sixty_to_sixty_one_seconds() {
        let mut w = Window::default();
        w.add(10_500, 3);
        assert_eq!(w.used(10_500), 3);
        assert_eq!(w.used(70_999), 3, "still counted 60.5 s later");
        assert_eq!(w.used(71_000), 0, "gone once its second is 61 s old");
        assert_eq!(w.wait_for(10_500, 1, 3), Some(std::time::Duration::from_millis(60_500)));
        assert_eq!(w.wait_for(10_500, 1, 4), Some(std::time::Duration::ZERO));
        assert_eq!(w.wait_for(10_500, 5, 4), None, "more than the limit never fits");
    }

    #[test]
    fn no_sixty_second_span_holds_more_than_the_limit() {
        // Admit greedily every 100 ms for five minutes against 7 per minute.
        let mut w = Window::default();
        let mut admitted = Vec::new();
        for t in (0..300_000).step_by(100) {
            if w.used(t) < 7 {
                w.add(t, 1);
                admitted.push(t);
            }
        }
        for (i, start) in admitted.iter().enumerate() {
            let in_span = admitted[i..].iter().take_while(|t| **t < start + 60_000).count();
            assert!(in_span <= 7, "{in_span} admitted within 60 s of {start}");
        }
        assert!(admitted.len() >= 7 * 4, "the limit refills: {}", admitted.len());
    }

    #[test]
    fn adjust_refunds_in_place_and_counts_an_overage() {
        let mut w = Window::default();
        let s = w.add(5_000, 100);
        w.adjust(6_000, s, 100, 30);
        assert_eq!(w.used(6_000), 30);
        w.adjust(6_000, s, 30, 50);
        assert_eq!(w.used(6_000), 50);
        // Long after: the bucket is gone, an overage counts now.
        w.adjust(100_000, s, 50, 80);
        assert_eq!(w.used(100_000), 30);
        assert_eq!(Window::from_bytes(&w.to_bytes()), w);
    }
}
