//! State shared by the controller's gRPC services.

use crate::analysis::Analysis;
use crate::config::{DetectionConfig, IncidentsConfig, Limits};
use crate::metering::{Clock, Cycle, MeterPolicy};
use crate::store::Db;
use picket_runtime::metrics::Histogram;
use picket_shared::TenantId;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// Bucket bounds of the commit-latency histogram, in seconds: 1 ms to 10 s.
pub const COMMIT_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Ingest counters, read at scrape time by `metrics` (one relaxed add per batch here).
#[derive(Debug)]
pub struct IngestStats {
    pub batches_committed: AtomicU64,
    pub batches_duplicate: AtomicU64,
    /// Batches refused (invalid, or the commit failed); their stream ends.
    pub batches_rejected: AtomicU64,
    /// Batches answered with a definite rejection (they can never be accepted); the sensor
    /// sets them aside and the stream goes on.
    pub batches_refused: AtomicU64,
    pub requests_committed: AtomicU64,
    /// Fields, map entries and list items dropped from batches because they were invalid.
    pub entries_rejected: AtomicU64,
    /// The same, per reason.
    pub fields_dropped: crate::validation::DropCounters,
    pub streams_rejected: AtomicU64,
    /// Streams ended because their token was revoked, rotated out or expired.
    pub streams_unauthenticated: AtomicU64,
    /// Seconds to apply a batch and flush the store (observed once per batch).
    pub commit_seconds: Histogram,
}

impl Default for IngestStats {
    fn default() -> Self {
        Self {
            batches_committed: AtomicU64::new(0),
            batches_duplicate: AtomicU64::new(0),
            batches_rejected: AtomicU64::new(0),
            batches_refused: AtomicU64::new(0),
            requests_committed: AtomicU64::new(0),
            entries_rejected: AtomicU64::new(0),
            fields_dropped: Default::default(),
            streams_rejected: AtomicU64::new(0),
            streams_unauthenticated: AtomicU64::new(0),
            commit_seconds: Histogram::new(COMMIT_BOUNDS),
        }
    }
}

/// Whether threat analysis is paused for a tenant (cap reached), and until when at the latest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PauseState {
    pub paused: bool,
    pub until_ms: i64,
}

/// The limits on callers `[limits]` configures.
fn quotas(l: &Limits) -> crate::limits::Quotas {
    let secs = |s: u64| (s > 0).then(|| std::time::Duration::from_secs(s));
    crate::limits::Quotas::new(
        (l.query_rps, l.query_burst),
        (
            l.max_streams_per_tenant as usize,
            l.max_streams_total as usize,
        ),
        crate::limits::StreamTimeouts {
            idle: secs(l.stream_idle_timeout_secs),
            stall: secs(l.stream_stall_timeout_secs),
            lifetime: secs(l.stream_max_lifetime_secs),
        },
    )
}

pub struct State {
    pub db: Db,
    pub limits: Limits,
    pub policy: MeterPolicy,
    pub clock: Arc<dyn Clock>,
    pub ingest: IngestStats,
    pub analysis: Analysis,
    /// Detection settings (engine settings, alert retention, threat-intelligence files).
    pub detection: DetectionConfig,
    /// Imported API specs per tenant, parsed, with their sensor templates.
    pub specs: crate::specs::SpecRegistry,
    /// Incident correlation settings.
    pub incidents: IncidentsConfig,
    /// `[tls] bind_sensor_id`: an ingest stream's client certificate must name its sensor id.
    pub tls_bind_sensor_id: bool,
    /// Token last-used times and the revocation broadcast open streams watch.
    pub tokens: Arc<crate::tokens::TokenLife>,
    /// Open ingest streams per (tenant, sensor id), by the epoch each said hello with.
    connected: Mutex<HashMap<(TenantId, String), BTreeMap<u64, u32>>>,
    /// Held while a hello is checked against `inventory.max_epochs_per_sensor` and its stream
    /// registered as open, so concurrent hellos of new epochs cannot overshoot the cap.
    pub hello_gate: Mutex<()>,
    /// Analysis pause state per tenant, watched by that tenant's ingest streams.
    pauses: Mutex<HashMap<TenantId, watch::Sender<PauseState>>>,
    /// Posture settings and counters.
    pub posture: crate::posture::PostureConfig,
    pub posture_stats: crate::posture::PostureStats,
    /// Wakes the posture task early (a spec import or an onboarding change).
    pub posture_wake: tokio::sync::Notify,
    /// Bounded growth settings (`[inventory]`); the caps themselves live in the `Db`.
    pub inventory: crate::config::InventoryConfig,
    /// Per-token query rate limits, stream caps and stream timeouts (`[limits]`).
    pub quotas: Arc<crate::limits::Quotas>,
}

impl State {
    pub fn new(db: Db, limits: Limits, policy: MeterPolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            tls_bind_sensor_id: false,
            tokens: Arc::new(crate::tokens::TokenLife::new(clock.clone())),
            quotas: Arc::new(quotas(&limits)),
            db,
            limits,
            policy,
            clock,
            ingest: IngestStats::default(),
            analysis: Analysis::default(),
            detection: DetectionConfig::default(),
            specs: crate::specs::SpecRegistry::default(),
            incidents: IncidentsConfig::default(),
            connected: Mutex::new(HashMap::new()),
            hello_gate: Mutex::new(()),
            pauses: Mutex::new(HashMap::new()),
            posture: crate::posture::PostureConfig::default(),
            posture_stats: crate::posture::PostureStats::default(),
            posture_wake: tokio::sync::Notify::new(),
            inventory: Default::default(),
        }
    }

    /// Sets the bounded-growth settings (before the state is shared).
    pub fn with_inventory(mut self, inventory: crate::config::InventoryConfig) -> Self {
        self.inventory = inventory;
        self
    }

    /// Asks the posture task to re-evaluate soon (what it judges by has changed).
    pub fn posture_changed(&self) {
        self.posture_wake.notify_one();
    }

    /// Sets the detection settings (before the state is shared).
    pub fn with_detection(mut self, detection: DetectionConfig) -> Self {
        self.detection = detection;
        self
    }

    /// Sets the incident correlation settings (before the state is shared).
    pub fn with_incidents(mut self, incidents: IncidentsConfig) -> Self {
        self.incidents = incidents;
        self
    }

    /// Sets the posture settings (before the state is shared).
    pub fn with_posture(mut self, posture: crate::posture::PostureConfig) -> Self {
        self.posture = posture;
        self
    }

    /// Requires sensors' client certificates to name their ids (before the state is shared).
    pub fn with_tls_binding(mut self, bind_sensor_id: bool) -> Self {
        self.tls_bind_sensor_id = bind_sensor_id;
        self
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn stream_opened(&self, tenant: &TenantId, sensor: &str, epoch: u64) {
        let mut m = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n = m
            .entry((tenant.clone(), sensor.to_owned()))
            .or_default()
            .entry(epoch)
            .or_default();
        *n = n.saturating_add(1);
    }

    pub fn stream_closed(&self, tenant: &TenantId, sensor: &str, epoch: u64) {
        let mut m = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (tenant.clone(), sensor.to_owned());
        if let Some(epochs) = m.get_mut(&key) {
            if let Some(n) = epochs.get_mut(&epoch) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    epochs.remove(&epoch);
                }
            }
            if epochs.is_empty() {
                m.remove(&key);
            }
        }
    }

    /// Whether an ingest stream of `sensor` is open right now with `epoch` (watermark pruning
    /// never retires such an epoch).
    pub fn is_streaming(&self, tenant: &TenantId, sensor: &str, epoch: u64) -> bool {
        self.connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.clone(), sensor.to_owned()))
            .is_some_and(|epochs| epochs.contains_key(&epoch))
    }

    /// The epochs `sensor` has ingest streams open with.
    pub fn open_epochs(&self, tenant: &TenantId, sensor: &str) -> Vec<u64> {
        self.connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.clone(), sensor.to_owned()))
            .map(|epochs| epochs.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn is_connected(&self, tenant: &TenantId, sensor: &str) -> bool {
        let m = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        m.contains_key(&(tenant.clone(), sensor.to_owned()))
    }

    /// Sensors (tenant, sensor id) with at least one open ingest stream.
    pub fn connected_count(&self) -> usize {
        self.connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Subscribes to a tenant's pause state.
    pub fn watch_pause(&self, tenant: &TenantId) -> watch::Receiver<PauseState> {
        let mut m = self.pauses.lock().unwrap_or_else(PoisonError::into_inner);
        m.entry(tenant.clone())
            .or_insert_with(|| watch::channel(PauseState::default()).0)
            .subscribe()
    }

    /// Publishes a tenant's pause state; watchers hear only changes.
    pub fn publish_pause(&self, tenant: &TenantId, state: PauseState) {
        let mut m = self.pauses.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = m
            .entry(tenant.clone())
            .or_insert_with(|| watch::channel(PauseState::default()).0);
        tx.send_if_modified(|cur| {
            let changed = *cur != state;
            *cur = state;
            changed
        });
    }

    /// The pause state of a tenant now: paused when its plan caps it and this cycle's
    /// entitlement is used up; a new cycle lifts it.
    fn pause_state(&self, tenant: &TenantId) -> crate::error::Result<PauseState> {
        let now = self.now_ms();
        let cycle = Cycle::containing(now);
        let account = self.db.account(tenant, &self.policy)?;
        let usage = self.db.cycle_usage(tenant, cycle.start_ms)?;
        let report = crate::metering::report::usage_report(&account, usage, now, &self.policy);
        Ok(PauseState {
            paused: report.analysis_paused,
            until_ms: cycle.end_ms,
        })
    }

    /// Re-evaluates a tenant's pause state and publishes it (its sensors hear of a change).
    pub fn refresh_pause(&self, tenant: &TenantId) -> crate::error::Result<()> {
        let p = self.pause_state(tenant)?;
        self.publish_pause(tenant, p);
        Ok(())
    }

    /// Tenants whose pause state is being watched or was published.
    pub fn paused_tenants(&self) -> Vec<TenantId> {
        let m = self.pauses.lock().unwrap_or_else(PoisonError::into_inner);
        m.keys().cloned().collect()
    }

    /// Clamps a requested page size to the server's limits (0 means the default of 100).
    pub fn page_size(&self, requested: u32) -> usize {
        let size = if requested == 0 { 100 } else { requested };
        size.min(self.limits.max_page_size) as usize
    }
}
