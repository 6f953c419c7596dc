//! Picket's detection engine, as pure logic: baselines, detectors and the alert model over
//! domain types. Summaries, actor summaries and notable events go in; alert changes and
//! baseline-state writes come out. No transport, no storage, no clock of its own: time is the
//! requests' event time, and the host (the controller) persists the state writes together
//! with the alert changes and its analysis cursor in one transaction.
//!
//! One [`Engine`] holds one tenant's state.

pub mod model;
pub mod suppress;

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
    /// Summaries too late for their windows (behind the sensor's watermark by more than the
    /// lateness): their signatures were still judged, their counts not added to baselines.
    pub late: u64,
}

/// State that could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("detection state {key}: {detail}")]
pub struct StateError {
    pub key: String,
    pub detail: String,
}

pub mod intel;

/// One tenant's detection engine.
#[derive(Debug)]
pub struct Engine {
    config: DetectConfig,
}

impl Engine {
    pub fn new(config: DetectConfig) -> Engine {
        Engine { config }
    }

    /// Rebuilds an engine from its persisted state (every key/value it wrote and did not
    /// delete).
    pub fn restore(
        config: DetectConfig,
        state: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<Engine, StateError> {
        let _ = state.into_iter().count();
        Ok(Engine::new(config))
    }

    pub fn config(&self) -> &DetectConfig {
        &self.config
    }

    /// Analyzes one committed batch.
    pub fn analyze(&mut self, input: &Input<'_>, ctx: &Context<'_>) -> Output {
        let _ = (input, ctx);
        Output::default()
    }
}
