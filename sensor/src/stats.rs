//! The sensor's own counters: received, parsed, rejected (by reason), batches sent, acked and
//! dropped. Sources count per chunk, not per line, to keep the hot path cheap.

use picket_runtime::metrics::Histogram;
use picket_shared::{SensorCounters, SourceCounters};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

/// Counters of one traffic source.
#[derive(Debug)]
pub struct SourceStats {
    pub name: String,
    pub received: AtomicU64,
    pub parsed: AtomicU64,
    pub rejected: AtomicU64,
}

impl SourceStats {
    fn snapshot(&self) -> SourceCounters {
        SourceCounters {
            source: self.name.clone(),
            received: self.received.load(Relaxed),
            parsed: self.parsed.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
        }
    }
}

/// Counts gathered while handling one chunk of input, added to the shared counters at once.
#[derive(Debug, Default)]
pub struct ChunkTally {
    pub received: u64,
    pub parsed: u64,
    pub rejected: BTreeMap<&'static str, u64>,
}

impl ChunkTally {
    pub fn reject(&mut self, reason: &'static str) {
        self.received += 1;
        *self.rejected.entry(reason).or_default() += 1;
    }

    pub fn accept(&mut self) {
        self.received += 1;
        self.parsed += 1;
    }
}

/// Bucket bounds of the requests-per-batch histogram.
pub const BATCH_REQUEST_BOUNDS: &[f64] = &[1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];

/// Requests per sealed batch (observed once per batch).
#[derive(Debug, Clone)]
pub struct BatchSizes(pub Histogram);

impl Default for BatchSizes {
    fn default() -> Self {
        BatchSizes(Histogram::new(BATCH_REQUEST_BOUNDS))
    }
}

/// Every counter of a sensor, shared by its tasks. The metrics registry reads them at scrape
/// time (`crate::metrics`); nothing here is updated per request except the sources' tallies,
/// which are added per chunk.
#[derive(Debug, Default)]
pub struct SensorStats {
    sources: Mutex<Vec<Arc<SourceStats>>>,
    rejected_by_reason: Mutex<BTreeMap<&'static str, u64>>,
    /// Batches sealed by the aggregator (each then spooled and queued).
    pub batches_sealed: AtomicU64,
    /// Requests per sealed batch.
    pub batch_requests: BatchSizes,
    pub batches_sent: AtomicU64,
    pub batches_acked: AtomicU64,
    pub batches_dropped: AtomicU64,
    pub requests_dropped: AtomicU64,
    /// Requests in batches the controller acknowledged.
    pub requests_acked: AtomicU64,
    /// Records the aggregator could not take because its input queue was full.
    pub queue_full_drops: AtomicU64,
    /// Batches of files or replays that waited for room in a full outbox (instead of
    /// pushing the oldest out).
    pub outbox_waits: AtomicU64,
    /// Batches written to the on-disk spool.
    pub batches_spooled: AtomicU64,
    /// Bytes the spool holds now.
    pub spool_bytes: AtomicU64,
    /// Spool writes that failed (the batch stayed deliverable from memory).
    pub spool_errors: AtomicU64,
    /// Notable events not sent because their batch was full.
    pub notables_dropped: AtomicU64,
    /// Actors (client and window) that got no summary because their batch held the maximum.
    pub actors_dropped: AtomicU64,
    /// Batches set aside in the spool's `rejected/` folder: the controller will never accept
    /// them (or they are too large to send).
    pub batches_rejected: AtomicU64,
    /// Requests in those batches.
    pub requests_rejected: AtomicU64,
    /// Set while the controller has paused threat analysis for this tenant (plan cap).
    pub analysis_paused: std::sync::atomic::AtomicBool,
    /// Sessions the controller refused or ended with `UNAUTHENTICATED` (token revoked,
    /// expired or rotated out); batches stay spooled meanwhile.
    pub auth_refusals: AtomicU64,
    /// Why the controller last refused the token, until a session is welcomed again.
    auth_error: Mutex<Option<String>>,
    /// Connection counters of the network listeners (ALS, mirror).
    listeners: Mutex<Vec<Arc<ListenerStats>>>,
}

/// Connection counters of one network listener (Envoy ALS, HTTP mirror): connections refused
/// (by reason), accept errors, timeouts (by kind) and the connections open now.
#[derive(Debug)]
pub struct ListenerStats {
    /// The listener's source name (`envoy-als:…`, `mirror:…`).
    pub source: String,
    /// Peers outside the allowlist, closed right after accept.
    pub not_allowed: AtomicU64,
    /// Connections beyond the connection cap, closed right after accept.
    pub over_capacity: AtomicU64,
    /// TLS handshakes that failed or timed out (no or a wrong client certificate, plaintext).
    pub tls_failed: AtomicU64,
    /// `accept` calls that failed (out of descriptors and the like).
    pub accept_errors: AtomicU64,
    /// Connections cut because a request's headers did not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Connections cut because a request's body did not arrive in time.
    pub body_timeouts: AtomicU64,
    /// ALS connections cut because their HTTP/2 preface did not arrive in time.
    pub preface_timeouts: AtomicU64,
    /// Connections (mirror) or streams (ALS) ended after a quiet period.
    pub idle_timeouts: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
}

impl ListenerStats {
    pub fn new(source: String) -> Self {
        Self {
            source,
            not_allowed: AtomicU64::new(0),
            over_capacity: AtomicU64::new(0),
            tls_failed: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            header_timeouts: AtomicU64::new(0),
            preface_timeouts: AtomicU64::new(0),
            body_timeouts: AtomicU64::new(0),
            idle_timeouts: AtomicU64::new(0),
            open: AtomicU64::new(0),
        }
    }
}

impl SensorStats {
    /// Notes a token refusal (`Some(why)`) or that the controller accepted it (`None`).
    pub fn set_auth_error(&self, why: Option<String>) {
        if why.is_some() {
            self.auth_refusals.fetch_add(1, Relaxed);
        }
        *self
            .auth_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = why;
    }

    /// Why the controller refuses the token, while it does.
    pub fn auth_error(&self) -> Option<String> {
        self.auth_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Registers a network listener and returns its connection counters.
    pub fn add_listener(&self, source: String) -> Arc<ListenerStats> {
        let l = Arc::new(ListenerStats::new(source));
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(l.clone());
        l
    }

    /// The network listeners' counters, in the order the listeners were started.
    pub fn listeners(&self) -> Vec<Arc<ListenerStats>> {
        (self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
        .clone()
    }

    /// Registers a source and returns its counters.
    pub fn add_source(&self, name: String) -> Arc<SourceStats> {
        let s = Arc::new(SourceStats {
            name,
            received: AtomicU64::new(0),
            parsed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(s.clone());
        s
    }

    /// Adds a chunk's tally to a source's counters.
    pub fn record(&self, source: &SourceStats, tally: &ChunkTally) {
        let rejected: u64 = tally.rejected.values().sum();
        source.received.fetch_add(tally.received, Relaxed);
        source.parsed.fetch_add(tally.parsed, Relaxed);
        source.rejected.fetch_add(rejected, Relaxed);
        if rejected > 0 {
            let mut map = self
                .rejected_by_reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (reason, n) in &tally.rejected {
                *map.entry(reason).or_default() += n;
            }
        }
    }

    /// Each source's counters, in the order the sources were added.
    pub fn sources(&self) -> Vec<SourceCounters> {
        (self.sources.lock().unwrap_or_else(PoisonError::into_inner))
            .iter()
            .map(|s| s.snapshot())
            .collect()
    }

    /// Rejected lines or entries by reason, over all sources.
    pub fn rejected_by_reason(&self) -> Vec<(&'static str, u64)> {
        (self
            .rejected_by_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
        .iter()
        .map(|(k, v)| (*k, *v))
        .collect()
    }

    /// A consistent-enough copy of every counter.
    pub fn snapshot(&self) -> SensorCounters {
        let sources: Vec<SourceCounters> = self
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|s| s.snapshot())
            .collect();
        let rejected_by_reason = self
            .rejected_by_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        SensorCounters {
            received: sources.iter().map(|s| s.received).sum(),
            parsed: sources.iter().map(|s| s.parsed).sum(),
            rejected: sources.iter().map(|s| s.rejected).sum(),
            batches_sent: self.batches_sent.load(Relaxed),
            batches_acked: self.batches_acked.load(Relaxed),
            batches_dropped: self.batches_dropped.load(Relaxed),
            requests_dropped: self.requests_dropped.load(Relaxed)
                + self.queue_full_drops.load(Relaxed),
            batches_spooled: self.batches_spooled.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
            analysis_paused: self.analysis_paused.load(Relaxed),
            notables_dropped: self.notables_dropped.load(Relaxed),
            actors_dropped: self.actors_dropped.load(Relaxed),
            batches_rejected: self.batches_rejected.load(Relaxed),
            requests_rejected: self.requests_rejected.load(Relaxed),
            sources,
            rejected_by_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_roll_up() {
        let stats = SensorStats::default();
        let src = stats.add_source("nginx-json:/x".into());
        let mut t = ChunkTally::default();
        t.accept();
        t.accept();
        t.reject("malformed_json");
        stats.record(&src, &t);
        let snap = stats.snapshot();
        assert_eq!((snap.received, snap.parsed, snap.rejected), (3, 2, 1));
        assert_eq!(snap.rejected_by_reason.get("malformed_json"), Some(&1));
        assert_eq!(snap.sources[0].source, "nginx-json:/x");
    }
}
