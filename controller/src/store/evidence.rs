//! An endpoint's recent evidence for the posture: the counters the findings judge, kept for
//! the last two buckets of [`EVIDENCE_BUCKET_MS`] of the endpoint's own event time, so a
//! finding about traffic (unauthenticated answers, sensitive data, plain HTTP, exposure, no
//! rate limiting) ends once the endpoint has served that long without it — the lifetime
//! aggregate never forgets.

use picket_shared::EndpointSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Width of one evidence bucket: 7 days of event time. The posture judges the current and
/// the previous bucket (7 to 14 days of the endpoint's newest traffic).
pub const EVIDENCE_BUCKET_MS: i64 = 7 * 86_400_000;

/// Most sensitive-data keys (`location:class`) kept per bucket; the rest are not counted.
pub const MAX_EVIDENCE_SENSITIVE_KEYS: usize = 64;

/// The counters the posture judges, over some stretch of an endpoint's traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evidence {
    pub requests: u64,
    /// Requests that carried credentials.
    pub auth_present: u64,
    /// Requests answered with a 2xx status.
    pub answered_2xx: u64,
    /// Requests answered 429.
    pub answered_429: u64,
    pub plaintext_requests: u64,
    pub public_client_requests: u64,
    /// Sensitive-data values by `location:class`.
    pub sensitive: BTreeMap<String, u64>,
    /// The highest rate one client reached in one event-time window (requests per minute).
    pub peak_client_rpm: u64,
}

impl Evidence {
    /// The evidence of one batch's summary; `window_ms` is the width of its window.
    pub fn of(s: &EndpointSummary, window_ms: u32) -> Evidence {
        let window_ms = u64::from(window_ms.max(1));
        Evidence {
            requests: s.requests,
            auth_present: s.auth_present,
            // Saturating: the counts come from a sensor.
            answered_2xx: s
                .statuses
                .range(200..300)
                .fold(0u64, |a, (_, n)| a.saturating_add(*n)),
            answered_429: s.statuses.get(&429).copied().unwrap_or(0),
            plaintext_requests: s.plaintext_requests,
            public_client_requests: s.public_client_requests,
            sensitive: s.sensitive.clone(),
            peak_client_rpm: s
                .top_clients
                .iter()
                .map(|c| c.requests.saturating_mul(60_000) / window_ms)
                .max()
                .unwrap_or(0),
        }
    }

    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &Evidence) {
        self.requests = self.requests.saturating_add(o.requests);
        self.auth_present = self.auth_present.saturating_add(o.auth_present);
        self.answered_2xx = self.answered_2xx.saturating_add(o.answered_2xx);
        self.answered_429 = self.answered_429.saturating_add(o.answered_429);
        self.plaintext_requests = self.plaintext_requests.saturating_add(o.plaintext_requests);
        self.public_client_requests = self
            .public_client_requests
            .saturating_add(o.public_client_requests);
        for (k, n) in &o.sensitive {
            if self.sensitive.len() < MAX_EVIDENCE_SENSITIVE_KEYS || self.sensitive.contains_key(k)
            {
                let slot = self.sensitive.entry(k.clone()).or_default();
                *slot = slot.saturating_add(*n);
            }
        }
        self.peak_client_rpm = self.peak_client_rpm.max(o.peak_client_rpm);
    }
}

/// The evidence of the current and the previous bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvidenceWindow {
    /// Start (event time, ms) of the current bucket; 0 before any evidence.
    pub bucket_ms: i64,
    pub current: Evidence,
    pub previous: Evidence,
}

impl EvidenceWindow {
    /// Adds evidence of traffic at event time `ts_ms`: a newer bucket moves the window on,
    /// traffic older than the previous bucket is not kept.
    pub fn add_at(&mut self, ts_ms: i64, ev: &Evidence) {
        let bucket = ts_ms.div_euclid(EVIDENCE_BUCKET_MS) * EVIDENCE_BUCKET_MS;
        if self.current.requests == 0 && self.previous.requests == 0 {
            self.bucket_ms = bucket;
        }
        if bucket > self.bucket_ms {
            self.previous = if bucket - self.bucket_ms == EVIDENCE_BUCKET_MS {
                std::mem::take(&mut self.current)
            } else {
                Evidence::default()
            };
            self.current = Evidence::default();
            self.bucket_ms = bucket;
        }
        if bucket == self.bucket_ms {
            self.current.add(ev);
        } else if bucket == self.bucket_ms - EVIDENCE_BUCKET_MS {
            self.previous.add(ev);
        }
    }

    /// Both buckets together.
    pub fn total(&self) -> Evidence {
        let mut t = self.current.clone();
        t.add(&self.previous);
        t
    }

    /// Folds another endpoint's window into this one (bucket by bucket).
    pub fn fold(&mut self, other: &EvidenceWindow) {
        if other.previous.requests > 0 {
            self.add_at(other.bucket_ms - EVIDENCE_BUCKET_MS, &other.previous);
        }
        if other.current.requests > 0 {
            self.add_at(other.bucket_ms, &other.current);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(requests: u64) -> Evidence {
        Evidence {
            requests,
            ..Default::default()
        }
    }

    #[test]
    fn the_window_keeps_two_buckets_of_the_newest_traffic() {
        let b = EVIDENCE_BUCKET_MS;
        let mut w = EvidenceWindow::default();
        w.add_at(10 * b + 5, &ev(1));
        w.add_at(10 * b + 9, &ev(2));
        assert_eq!((w.bucket_ms, w.total().requests), (10 * b, 3));
        w.add_at(11 * b, &ev(4));
        assert_eq!((w.current.requests, w.previous.requests), (4, 3));
        // Late traffic of the previous bucket still counts; older traffic does not.
        w.add_at(10 * b + 1, &ev(8));
        w.add_at(9 * b, &ev(16));
        assert_eq!(w.total().requests, 15);
        // A gap of more than a bucket forgets everything before it.
        w.add_at(13 * b, &ev(32));
        assert_eq!((w.current.requests, w.previous.requests), (32, 0));
        let mut other = EvidenceWindow::default();
        other.add_at(12 * b, &ev(64));
        w.fold(&other);
        assert_eq!(w.total().requests, 96);
    }
}
