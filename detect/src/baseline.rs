//! Decaying baselines. Every baseline forgets with a half-life of [`HALF_LIFE_MS`] (3 days) of
//! event time: an observation's weight halves every 3 days, so a behaviour that stopped a week
//! ago has about a fifth of its weight left, and a new normal takes over within days.
//!
//! - [`Level`]: a decayed mean and deviation (weighted Welford) of one number observed once
//!   per period (requests per minute, a client's requests per minute, distinct object ids per
//!   5 minutes), and its decayed peak: the peak only falls by the decay, so bursts that recur
//!   during learning (a partner sync every 10 minutes) are known highs, not anomalies. After
//!   the first [`PEAK_FREE_OBSERVATIONS`] periods one observation lifts the peak by at most
//!   [`PEAK_RISE`] × (or to mean + 3 deviations): a high is earned by recurring, so the first
//!   partial minute of an attack cannot raise the bar for the minutes that follow it.
//! - [`DecayedHist`]: a [`LogHistogram`] whose bucket weights decay, for sizes and latency
//!   quantiles (≤ 6.25 % bucket error), at most [`MAX_HIST_BUCKETS`] buckets.

use picket_shared::sketch::{LogHistogram, lower_bound};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Half-life of every baseline (event time).
pub const HALF_LIFE_MS: i64 = 3 * 24 * 3_600_000;
/// Weight below which a histogram bucket is dropped.
const MIN_BUCKET_WEIGHT: f64 = 1e-3;
/// Most buckets a decayed histogram keeps (the log scale needs ~60 per decade of 2^x).
pub const MAX_HIST_BUCKETS: usize = 256;

/// The factor by which weights fall over `dt_ms` of event time.
pub fn decay(dt_ms: i64) -> f64 {
    if dt_ms <= 0 {
        return 1.0;
    }
    0.5f64.powf(dt_ms as f64 / HALF_LIFE_MS as f64)
}

/// Periods during which the peak follows every observation freely.
pub const PEAK_FREE_OBSERVATIONS: f64 = 10.0;
/// Most one observation may lift the peak by, after the free periods.
pub const PEAK_RISE: f64 = 1.5;

/// A decayed mean, deviation and peak of a per-period number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub mean: f64,
    pub var: f64,
    pub peak: f64,
    /// Decayed number of observations.
    pub weight: f64,
}

impl Level {
    /// Adds one observation `x`, after decaying the past by `d` (see [`decay`]).
    pub fn observe(&mut self, x: f64, d: f64) {
        let w = self.weight * d;
        let rise_cap = if w < PEAK_FREE_OBSERVATIONS {
            f64::INFINITY
        } else {
            (self.peak * d * PEAK_RISE).max(self.mean + 3.0 * self.sd())
        };
        let w_new = w + 1.0;
        let delta = x - self.mean;
        let mean = self.mean + delta / w_new;
        self.var = (w * self.var + delta * (x - mean)) / w_new;
        self.mean = mean;
        self.weight = w_new;
        self.peak = (self.peak * d).max(x.min(rise_cap));
    }

    /// Adds `n` observations of zero, one period `d` apart (idle minutes), at most `cap` of
    /// them one by one and the rest as decay only.
    pub fn observe_zeros(&mut self, n: u64, d: f64, cap: u64) {
        for _ in 0..n.min(cap) {
            self.observe(0.0, d);
        }
        if n > cap {
            let f = d.powf((n - cap) as f64);
            self.weight *= f;
            self.peak *= f;
        }
    }

    pub fn sd(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }
}

/// A decayed log-linear histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecayedHist {
    pub buckets: BTreeMap<u16, f64>,
}

impl DecayedHist {
    /// Decays by `d`, then adds `h`.
    pub fn absorb(&mut self, h: &LogHistogram, d: f64) {
        if d < 1.0 {
            self.buckets.retain(|_, w| {
                *w *= d;
                *w >= MIN_BUCKET_WEIGHT
            });
        }
        for (b, n) in &h.0 {
            if self.buckets.len() < MAX_HIST_BUCKETS || self.buckets.contains_key(b) {
                *self.buckets.entry(*b).or_default() += *n as f64;
            }
        }
    }

    pub fn weight(&self) -> f64 {
        self.buckets.values().sum()
    }

    /// The lower bound of the bucket holding quantile `q`; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.weight();
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let mut seen = 0.0;
        for (b, w) in &self.buckets {
            seen += w;
            if seen >= rank {
                return Some(lower_bound(*b));
            }
        }
        self.buckets.keys().next_back().map(|b| lower_bound(*b))
    }
}

/// The lower bound of the largest bucket of `h` (the window's maximum, to within a bucket).
pub fn hist_max(h: &LogHistogram) -> Option<u64> {
    h.0.keys().next_back().map(|b| lower_bound(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_tracks_mean_and_peak_with_decay() {
        let mut l = Level::default();
        for x in [10.0, 10.0, 10.0, 100.0] {
            l.observe(x, 1.0);
        }
        assert!((l.mean - 32.5).abs() < 1e-9);
        assert_eq!(l.peak, 100.0);
        l.observe_zeros(10, decay(HALF_LIFE_MS), 5);
        assert!(l.peak < 1.0 && l.mean < 32.5);
    }

    #[test]
    fn one_outlier_lifts_the_peak_only_so_far_but_recurring_bursts_climb() {
        let mut l = Level::default();
        for _ in 0..20 {
            l.observe(25.0, 1.0);
        }
        l.observe(132.0, 1.0);
        assert!(l.peak < 60.0, "peak {}", l.peak);
        for _ in 0..6 {
            l.observe(132.0, 1.0);
        }
        assert_eq!(l.peak, 132.0, "a recurring burst becomes a known high");
    }

    #[test]
    fn decayed_quantiles() {
        let mut h = LogHistogram::default();
        for v in 1..=100u64 {
            h.record(v * 100);
        }
        let mut d = DecayedHist::default();
        d.absorb(&h, 1.0);
        let p99 = d.quantile(0.99).expect("p99");
        assert!((9_000..=10_000).contains(&p99), "{p99}");
        assert_eq!(
            hist_max(&h),
            Some(lower_bound(picket_shared::sketch::bucket(10_000)))
        );
    }
}
