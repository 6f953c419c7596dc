//! Retry delays of a failing delivery: exponential from [`BASE`] (doubling per failed
//! attempt) up to a cap, with "equal jitter" (half the delay fixed, half random), so many
//! destinations that failed together do not retry in step. Retries go on forever (delivery
//! is at least once); a failing destination delays only itself.

use std::time::Duration;

/// The first retry's delay (before jitter).
pub const BASE: Duration = Duration::from_secs(1);
/// The default cap (`[webhooks] max_backoff_ms`).
pub const DEFAULT_CAP: Duration = Duration::from_secs(300);

/// The delay before the next attempt after `failures` failed attempts in a row (≥ 1), with
/// `jitter` in `[0, 1)`: within `[d/2, d)` where `d = min(BASE · 2^(failures-1), cap)`.
pub fn delay(failures: u32, cap: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let full = BASE.saturating_mul(1u32 << exp).min(cap);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 0.999_999))
}

/// A small, seeded jitter source (splitmix64): no shared state between delivery tasks.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Default for Jitter {
    /// Seeded from the OS (falls back to the clock, which only makes jitter less random).
    fn default() -> Jitter {
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_err() {
            b = (picket_runtime::now_ms() as u64).to_le_bytes();
        }
        Jitter(u64::from_le_bytes(b))
    }
}

impl Jitter {
    /// The next value in `[0, 1)`.
    pub fn sample(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_to_the_cap_with_bounded_jitter() {
        let cap = DEFAULT_CAP;
        let secs = |f, j| delay(f, cap, j).as_secs_f64();
        // Without jitter: half of 1, 2, 4, … s; with the most jitter: just under the full.
        assert_eq!(secs(1, 0.0), 0.5);
        assert_eq!(secs(2, 0.0), 1.0);
        assert_eq!(secs(3, 0.0), 2.0);
        assert!((secs(3, 0.999) - 4.0).abs() < 0.01);
        assert_eq!(secs(9, 0.0), 128.0, "256 s, halved");
        assert_eq!(secs(10, 0.0), 150.0, "512 s capped at 300, halved");
        assert_eq!(secs(u32::MAX, 0.0), 150.0, "no overflow");
        assert!(secs(u32::MAX, 1.0) < 300.0);
        assert_eq!(secs(0, 0.0), 0.5, "0 failures is treated as the first");
        let short = Duration::from_millis(100);
        assert_eq!(delay(5, short, 0.0), Duration::from_millis(50));
        let mut j = Jitter::default();
        let v: Vec<f64> = (0..1000).map(|_| j.sample()).collect();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            (0.4..0.6).contains(&mean),
            "spread over [0, 1): mean {mean}"
        );
    }
}
