//! Picket's detection engine, as pure logic: baselines, detectors and the alert model over
//! domain types. Summaries, actor summaries and notable events go in; alert changes and
//! baseline-state writes come out. No transport, no storage, no clock of its own: time is the
//! requests' event time, and the host (the controller) persists the state writes together
//! with the alert changes and its analysis cursor in one transaction.
//!
//! One [`Engine`] holds one tenant's state.
//!
//! Map of the crate: `engine` (event-time order, per-sensor watermarks, lateness, minute
//! buckets and their absorption), `baseline` (decaying levels and histograms, half-life 3
//! days), `state` (the persisted per-endpoint, per-actor and per-(actor, endpoint) records),
//! `table` (dirty-tracked persistence: one state key per record, JSON values), `alerts`
//! (deterministic ids, dedup, suppression), `detectors::*` (one module per family; each
//! module's doc states its rules and thresholds), [`catalogue`] (titles, severities, MITRE,
//! Defender counterparts, remediation; rendered to `detect/CATALOGUE.md`), [`intel`] and
//! [`incident`] (alerts correlated into incidents: actors, targets, kill-chain stages,
//! escalation).
//!
//! State keys (tenant-relative; the host prefixes them): `m` (watermarks, counters),
//! `e\0<host>\x01<method>\x01<template>` (endpoint), `a\0<actor>` (actor minute),
//! `x\0<actor>\x01<endpoint>` and `x\0r\x01<address>/<principal>\x01<endpoint>` (actor on
//! endpoint: rate and failures; reference horizon), `d\0<type>\x01<dedup key>` (open alert).

mod alerts;
mod baseline;
pub mod catalogue;
mod detectors;
mod engine;
pub mod incident;
pub mod intel;
pub mod model;
mod sharded;
mod state;
pub mod suppress;
mod table;

pub use incident::{Correlator, IncidentChange, IncidentConfig, IncidentFacts, IncidentKey, Stage};
pub use intel::Intel;
pub use model::{Actor, AlertChange, AlertFacts, AlertStatus, AlertType, Figure, Severity};
pub use suppress::Suppression;

use picket_shared::{ActorSummary, EndpointKey, EndpointSummary, NotableEvent};
use serde::{Deserialize, Serialize};

/// Detection settings of an installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// How long an endpoint's baseline learns before baseline detectors may fire on it
    /// (event time, ms). Default 7 days.
    pub learning_period_ms: i64,
    /// How late (event time) data may arrive behind a sensor's newest event and still count
    /// in baselines and windows (ms). Default 30 s.
    pub lateness_ms: i64,
    /// An alert whose dedup key recurs within this (event time, ms) of its last occurrence is
    /// updated instead of raised anew. Default 1 hour.
    pub dedup_window_ms: i64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            learning_period_ms: 7 * 24 * 3_600_000,
            lateness_ms: 30_000,
            dedup_window_ms: 3_600_000,
        }
    }
}

/// One committed batch's analyzable content (what metering let through).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub sensor: &'a str,
    /// Controller clock when the batch was committed (for latency figures only).
    pub arrival_ms: i64,
    /// Width of the batch's event-time windows.
    pub window_ms: u32,
    pub endpoints: &'a [(EndpointKey, EndpointSummary)],
    pub actors: &'a [ActorSummary],
    pub notables: &'a [NotableEvent],
}

/// What the host supplies besides the input: threat intelligence, suppression rules and its
/// wall clock (used only to tell whether a suppression rule has expired).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub intel: &'a intel::Intel,
    pub suppressions: &'a [Suppression],
    pub now_ms: i64,
}

/// A write to the engine's persisted state: `value` `None` deletes `key`. Keys are
/// tenant-relative; the host prefixes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// The result of analyzing one input.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub changes: Vec<AlertChange>,
    /// Alerts that a suppression rule swallowed: (rule id, alert id).
    pub suppressed: Vec<(String, String)>,
    /// State to persist with the changes, in one transaction.
    pub writes: Vec<StateWrite>,
    /// Endpoint and actor summaries too late for their windows (behind the sensor's watermark
    /// by more than the lateness, or for a minute the endpoint already absorbed): their
    /// signatures (intel addresses) were still judged, their counts not added to baselines.
    /// Notables are never late: each is judged on its own.
    pub late: u64,
}

/// State that could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("detection state {key}: {detail}")]
pub struct StateError {
    pub key: String,
    pub detail: String,
}

/// Counters of an engine since it was created (persisted with its state).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Endpoint summaries analyzed.
    pub summaries: u64,
    /// Actor summaries analyzed.
    pub actor_summaries: u64,
    /// Notable events judged.
    pub notables: u64,
    /// Summaries (endpoint or actor) too late for baselines and windows.
    pub late: u64,
    /// State entries evicted by a limit (endpoints, actors, actor-endpoints, open alerts).
    pub evictions: u64,
    /// Alerts raised (emitted as `AlertChange::Raised`).
    pub alerts_raised: u64,
    /// Alert updates emitted.
    pub alerts_updated: u64,
    /// Occurrences swallowed by suppression rules.
    pub alerts_suppressed: u64,
}

/// Engine-wide state: watermarks and counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Meta {
    /// Newest event time seen per sensor.
    watermarks: std::collections::BTreeMap<String, i64>,
    /// Newest event time seen from any sensor.
    event_ms: i64,
    /// Event time of the last sweep of expired open alerts.
    swept_ms: i64,
    stats: Stats,
}

/// Most sensors with a watermark; the longest silent is forgotten first (counted).
pub const MAX_SENSORS: usize = 4_096;
/// Most endpoints with state; the least recently seen go first (counted).
pub const MAX_ENDPOINTS: usize = 20_000;
/// Most actors with a current minute.
pub const MAX_ACTORS: usize = 200_000;
/// Most (actor, endpoint) pairs with state.
pub const MAX_ACTOR_ENDPOINTS: usize = 400_000;
/// Event time between sweeps of expired open alerts.
const SWEEP_EVERY_MS: i64 = 60_000;

/// Rough memory of an engine's state, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    /// Endpoints with state.
    pub endpoints: usize,
    pub endpoint_bytes: usize,
    /// Actors with a current minute.
    pub actors: usize,
    pub actor_bytes: usize,
    /// (actor, endpoint) entries: rate and brute-force minute, reference horizon.
    pub actor_endpoints: usize,
    pub actor_endpoint_bytes: usize,
    /// Alerts open for deduplication (counted at 1 KiB each).
    pub open_alerts: usize,
}

impl StateSize {
    /// All bytes counted.
    pub fn total_bytes(&self) -> usize {
        self.endpoint_bytes + self.actor_bytes + self.actor_endpoint_bytes + self.open_alerts * 1024
    }
}

/// One tenant's detection engine.
///
/// Memory bound (estimated by [`Engine::state_size`], measured by the bench and, at a tenth
/// of the scale, by `tests::memory_bound_for_10k_endpoints_and_100k_actors`): about 11 KB per
/// active endpoint (open minute buckets with their sketches and clients, decayed size and
/// latency histograms, parameters), 115 B per actor and 200 B per (actor, endpoint) entry:
/// 10,000 endpoints and 100,000 actors (each on one endpoint) ≈ 165 MB. Every map is capped
/// ([`MAX_ENDPOINTS`], [`MAX_ACTORS`], [`MAX_ACTOR_ENDPOINTS`], 50,000 open alerts), so the
/// hard ceiling is about 20,000 × 11 KB + 200,000 × 115 B + 400,000 × 200 B + 50,000 × 1 KB
/// ≈ 375 MB per tenant.
#[derive(Debug)]
pub struct Engine {
    config: DetectConfig,
    meta: Meta,
    /// Whether an analysis ran since the last `take_writes` (the meta entry changes with each).
    meta_dirty: bool,
    endpoints: table::Table<state::EndpointState>,
    actors: sharded::Sharded<state::ActorState>,
    actor_eps: sharded::Sharded<state::ActorEndpoint>,
    open: table::Table<alerts::Open>,
}

impl Engine {
    /// An engine with no state.
    pub fn new(config: DetectConfig) -> Engine {
        Engine {
            config,
            meta: Meta::default(),
            meta_dirty: false,
            endpoints: table::Table::new("e"),
            actors: sharded::Sharded::new("A"),
            actor_eps: sharded::Sharded::new("X"),
            open: table::Table::new("d"),
        }
    }

    /// Rebuilds an engine from its persisted state (every key/value it wrote and did not
    /// delete).
    pub fn restore(
        config: DetectConfig,
        state: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<Engine, StateError> {
        let mut e = Engine::new(config);
        for (k, v) in state {
            if k == META_KEY {
                e.meta = table::decode("meta", &v)?;
                continue;
            }
            let taken = e.endpoints.restore(&k, &v)?
                || e.actors.restore(&k, &v)?
                || e.actor_eps.restore(&k, &v)?
                || e.open.restore(&k, &v)?;
            if !taken {
                return Err(StateError {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    detail: "unknown state key".into(),
                });
            }
        }
        Ok(e)
    }

    /// The settings the engine runs with.
    pub fn config(&self) -> &DetectConfig {
        &self.config
    }

    /// The newest event time seen from any sensor (ms): the engine's event-time watermark.
    pub fn event_ms(&self) -> i64 {
        self.meta.event_ms
    }

    /// Counters since the engine was created (survive restore).
    pub fn stats(&self) -> &Stats {
        &self.meta.stats
    }

    /// Entries and rough bytes of the state.
    pub fn state_size(&self) -> StateSize {
        StateSize {
            endpoints: self.endpoints.len(),
            endpoint_bytes: self
                .endpoints
                .iter()
                .map(|(k, v)| k.len() + state::endpoint_bytes(v))
                .sum(),
            actors: self.actors.len(),
            actor_bytes: self
                .actors
                .iter()
                .map(|(k, v)| k.len() + state::actor_bytes(v))
                .sum(),
            actor_endpoints: self.actor_eps.len(),
            actor_endpoint_bytes: self
                .actor_eps
                .iter()
                .map(|(k, v)| k.len() + state::actor_endpoint_bytes(v))
                .sum(),
            open_alerts: self.open.len(),
        }
    }

    /// Analyzes one committed batch; `Output.writes` holds the state it changed.
    pub fn analyze(&mut self, input: &Input<'_>, ctx: &Context<'_>) -> Output {
        let mut out = self.run(input, ctx);
        out.writes = self.take_writes();
        out
    }

    /// Analyzes one committed batch without encoding state: `Output.writes` stays empty and
    /// the changed state accumulates until [`Engine::take_writes`]. A host that stores several
    /// analyses in one transaction encodes each touched state entry once, not once per batch.
    pub fn analyze_deferred(&mut self, input: &Input<'_>, ctx: &Context<'_>) -> Output {
        self.run(input, ctx)
    }

    /// The writes of every state entry changed since the last call (the engine-wide entry
    /// first, then per table in key order); empty when nothing was analyzed since.
    pub fn take_writes(&mut self) -> Vec<StateWrite> {
        let mut writes = Vec::new();
        if !self.meta_dirty {
            return writes;
        }
        self.meta_dirty = false;
        writes.push(StateWrite {
            key: META_KEY.to_vec(),
            value: table::encode(&self.meta),
        });
        self.endpoints.flush(&mut writes);
        self.actors.flush(&mut writes);
        self.actor_eps.flush(&mut writes);
        self.open.flush(&mut writes);
        writes
    }

    /// Applies the caps and sweeps expired open alerts.
    fn housekeeping(&mut self) {
        let s = &mut self.meta.stats;
        if self.endpoints.len() > MAX_ENDPOINTS {
            s.evictions += self
                .endpoints
                .evict_oldest(MAX_ENDPOINTS / 16, |e| e.last_ms) as u64;
        }
        if self.actors.len() > MAX_ACTORS {
            s.evictions += self.actors.evict_oldest(MAX_ACTORS / 16, |a| a.last_ms) as u64;
        }
        if self.actor_eps.len() > MAX_ACTOR_ENDPOINTS {
            s.evictions +=
                self.actor_eps
                    .evict_oldest(MAX_ACTOR_ENDPOINTS / 16, |a| a.last_ms) as u64;
        }
        if self.meta.event_ms >= self.meta.swept_ms.saturating_add(SWEEP_EVERY_MS) {
            alerts::forget(
                &mut self.open,
                self.meta.event_ms,
                self.config.dedup_window_ms,
            );
            self.meta.swept_ms = self.meta.event_ms;
        }
    }
}

/// The state key of the engine-wide `Meta`.
const META_KEY: &[u8] = b"m";

#[cfg(test)]
mod tests;
