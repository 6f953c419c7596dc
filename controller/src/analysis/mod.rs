//! Threat analysis hosted in the controller.
//!
//! The gate from ingest to analysis is the analysis log (`store::analysis_log`): the batch
//! transaction appends what metering lets through, and nothing else reaches the engine. One
//! [`worker`] per controller reads the log in order, runs each tenant's
//! `picket_detect::Engine` and stores the result in one transaction. [`Analysis`] is the
//! shared side: waking the worker, the per-tenant change feeds `WatchAlerts` listens to, the
//! watch-stream slots, the current threat intelligence, and counters.

pub mod intel;
pub mod suppress;
pub mod worker;

use picket_detect::intel::Intel;
use picket_runtime::metrics::Histogram;
use picket_shared::{EndpointKey, EndpointSummary, TenantId};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Bucket bounds of the analysis-time histogram, in seconds: 100 µs to 5 s.
pub const ANALYSIS_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Analysis counters, read at scrape time by `metrics`.
#[derive(Debug)]
pub struct AnalysisStats {
    /// Log entries analyzed and stored.
    pub batches_analyzed: AtomicU64,
    /// `Raised` changes the engine emitted.
    pub alerts_raised: AtomicU64,
    /// `Updated` changes the engine emitted.
    pub alerts_updated: AtomicU64,
    /// Alerts suppression rules swallowed.
    pub alerts_suppressed: AtomicU64,
    /// Log entries that could not be analyzed (undecodable, unknown tenant) and were skipped.
    pub entries_skipped: AtomicU64,
    /// Failed analysis transactions (retried after a pause).
    pub failures: AtomicU64,
    /// Engine-state checkpoints stored.
    pub checkpoints: AtomicU64,
    /// Seconds to analyze one log entry and store the result (before the flush).
    pub seconds: Histogram,
}

impl Default for AnalysisStats {
    fn default() -> Self {
        Self {
            batches_analyzed: AtomicU64::new(0),
            alerts_raised: AtomicU64::new(0),
            alerts_updated: AtomicU64::new(0),
            alerts_suppressed: AtomicU64::new(0),
            entries_skipped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            seconds: Histogram::new(ANALYSIS_BOUNDS),
        }
    }
}

/// Shared analysis state (one per controller, inside `State`).
#[derive(Debug, Default)]
pub struct Analysis {
    /// Requests handed on to analysis per tenant since start.
    received: Mutex<HashMap<TenantId, u64>>,
    /// Bumped on every commit; the worker sleeps until it changes.
    wake: (Mutex<u64>, Condvar),
    /// Each tenant's newest alert-log cursor as published after a flush.
    feeds: Mutex<HashMap<TenantId, watch::Sender<u64>>>,
    /// Open `WatchAlerts` streams per tenant.
    watchers: Arc<Mutex<HashMap<TenantId, usize>>>,
    intel: Mutex<Arc<Intel>>,
    pub stats: AnalysisStats,
}

impl Analysis {
    /// Counts summaries a committed batch handed on (the batch's log entry holds them).
    pub fn submit(&self, tenant: &TenantId, summaries: &[&(EndpointKey, EndpointSummary)]) {
        let requests = summaries
            .iter()
            .fold(0u64, |a, (_, s)| a.saturating_add(s.requests));
        if requests > 0 {
            let mut m = self.received.lock().unwrap_or_else(PoisonError::into_inner);
            let slot = m.entry(tenant.clone()).or_default();
            *slot = slot.saturating_add(requests);
        }
    }

    /// Requests of `tenant` handed to analysis since the controller started.
    pub fn received(&self, tenant: &TenantId) -> u64 {
        let m = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(tenant).copied().unwrap_or(0)
    }

    /// Wakes the worker (a batch was committed, or it should stop).
    pub fn wake(&self) {
        let mut n = self.wake.0.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.wrapping_add(1);
        self.wake.1.notify_all();
    }

    /// The worker's wait: returns when woken after `seen`, or after `timeout`. Returns the
    /// wake count to pass next time.
    pub(crate) fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.wake.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .wake
            .1
            .wait_timeout_while(guard, timeout, |n| *n == seen)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    pub(crate) fn wake_count(&self) -> u64 {
        *self.wake.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn feed(&self, tenant: &TenantId) -> watch::Sender<u64> {
        let mut m = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        m.entry(tenant.clone())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Announces that the tenant's alert log reached `cursor` (never blocks; watchers read
    /// the log itself, so a watcher that misses announcements misses no change).
    pub fn publish(&self, tenant: &TenantId, cursor: u64) {
        self.feed(tenant).send_if_modified(|cur| {
            let newer = cursor > *cur;
            *cur = (*cur).max(cursor);
            newer
        });
    }

    /// Subscribes to a tenant's announcements.
    pub fn subscribe(&self, tenant: &TenantId) -> watch::Receiver<u64> {
        self.feed(tenant).subscribe()
    }

    /// Takes one of the tenant's `max` watch-stream slots; `None` when all are taken.
    pub fn watch_slot(&self, tenant: &TenantId, max: usize) -> Option<WatchSlot> {
        let mut m = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(tenant.clone()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(WatchSlot {
            tenant: tenant.clone(),
            watchers: self.watchers.clone(),
        })
    }

    /// The threat intelligence in force.
    pub fn intel(&self) -> Arc<Intel> {
        self.intel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the threat intelligence (the worker picks it up with its next entry).
    pub fn set_intel(&self, intel: Intel) {
        *self.intel.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(intel);
    }
}

/// A taken watch-stream slot, given back on drop.
#[derive(Debug)]
pub struct WatchSlot {
    tenant: TenantId,
    watchers: Arc<Mutex<HashMap<TenantId, usize>>>,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut m = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.tenant);
            }
        }
    }
}
