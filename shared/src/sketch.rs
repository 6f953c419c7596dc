//! A mergeable log-linear histogram for latencies and sizes: 16 linear sub-buckets per power
//! of two (≤ 6.25 % relative error), stored sparsely, so per-window sketches add up exactly at
//! the controller and quantiles can be read from any merge.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Sub-buckets per power of two.
const SUB: u64 = 16;

/// Counts per bucket index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogHistogram(pub BTreeMap<u16, u64>);

/// The bucket of a value.
pub fn bucket(v: u64) -> u16 {
    if v < SUB {
        return v as u16;
    }
    let exp = 63 - u64::from(v.leading_zeros()); // ≥ 4
    let sub = (v >> (exp - 4)) & (SUB - 1);
    ((exp - 3) * SUB + sub) as u16
}

/// The smallest value of a bucket.
pub fn lower_bound(b: u16) -> u64 {
    let b = u64::from(b);
    if b < SUB {
        return b;
    }
    let exp = b / SUB + 3;
    let sub = b % SUB;
    (SUB + sub) << (exp - 4)
}

impl LogHistogram {
    pub fn record(&mut self, v: u64) {
        *self.0.entry(bucket(v)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &LogHistogram) {
        for (b, n) in &other.0 {
            let slot = self.0.entry(*b).or_default();
            *slot = slot.saturating_add(*n);
        }
    }

    pub fn count(&self) -> u64 {
        // Saturating: bucket counts may come from a sensor.
        self.0.values().fold(0u64, |a, n| a.saturating_add(*n))
    }

    /// The value below which a share `q` (0..=1) of the recorded values fall, to within a
    /// bucket (the bucket's lower bound); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (b, n) in &self.0 {
            seen = seen.saturating_add(*n);
            if seen >= rank {
                return Some(lower_bound(*b));
            }
        }
        self.0.keys().next_back().map(|b| lower_bound(*b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = LogHistogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((470_000..=500_000).contains(&p50), "{p50}");
        assert!((930_000..=990_000).contains(&p99), "{p99}");
        assert_eq!(LogHistogram::default().quantile(0.5), None);
    }

    proptest! {
        #[test]
        fn buckets_bound_values_within_a_sixteenth(v in any::<u64>()) {
            let lo = lower_bound(bucket(v));
            prop_assert!(lo <= v);
            prop_assert!(v - lo <= lo / 16 + 1);
        }

        #[test]
        fn merging_adds(a in proptest::collection::vec(any::<u32>(), 0..50), b in proptest::collection::vec(any::<u32>(), 0..50)) {
            let (mut x, mut y, mut all) = (LogHistogram::default(), LogHistogram::default(), LogHistogram::default());
            for v in &a { x.record(u64::from(*v)); all.record(u64::from(*v)); }
            for v in &b { y.record(u64::from(*v)); all.record(u64::from(*v)); }
            x.merge(&y);
            prop_assert_eq!(x, all);
        }
    }
}
