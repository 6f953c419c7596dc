//! Incident correlation, as pure logic: alert changes in, incident changes out.
//!
//! - **Actor incidents**: alerts that share an actor — the same address or the same
//!   principal, transitively (a principal seen from two addresses joins them) — within
//!   `window_ms` of event time form one incident across endpoints, hosts and sensors. An
//!   alert joins an open incident when its time range is within `window_ms` of the
//!   incident's; an alert that reaches two open incidents merges them: the older (first seen,
//!   then id) survives, the other is reported absorbed.
//! - **Target incidents**: many-actors-one-target alerts (`distributed_parameter_enumeration`,
//!   `credential_stuffing`, `population_traffic_spike`, and any alert listing several actors
//!   without a single one) form incidents keyed by (host, method, template, pattern), listing
//!   their actors. They never touch actor incidents: a distributed alert lists suspects, and
//!   letting them bridge would let one botnet alert fuse unrelated actors' incidents. Alerts
//!   without any actor (a host's `latency_spike`) also form target incidents, so they neither
//!   vanish nor glue everything together.
//! - **Kill chain and escalation**: see [`stages`] for the stage of every alert type and the
//!   escalation rules; every incident carries a deterministic `reason`.
//! - **Lifecycle**: the correlator only produces facts; statuses
//!   ([`AlertStatus`](crate::AlertStatus)) belong to operators and are kept beside them by the
//!   host. An incident closes once event time (the watermark given to
//!   [`Correlator::tick`]) passes its last alert by `quiet_close_ms`; a later alert from the
//!   same actor opens a new incident. Changes of alerts of a closed incident are dropped
//!   (counted) while the correlator remembers them (see [`MAX_CLOSED_ALERTS`]).
//! - **Ids**: the stable hash of the incident's key and its first alert's id, so a replay of
//!   the same alert stream into a fresh correlator yields the same incidents and ids.
//! - **Bounds**: every collection is capped (the config's `max_*` keys and the constants
//!   below); what a cap turns away is counted in [`IncidentStats`].
//! - **State**: [`Correlator`] serializes with serde; the host persists it with the alert
//!   changes and restores it with [`Correlator::restore`].
//!
//! Known limits of joining by address and principal: everyone behind one NAT address, or
//! every user of one credential shared by an application, is one actor to the correlator
//! (as to the detectors); `max_keys_per_incident` bounds what such an incident indexes.

mod correlate;
mod model;
mod record;
pub mod stages;

#[cfg(test)]
mod tests;

pub use correlate::{Correlator, CorrelatorState};
pub use model::{
    IncidentChange, IncidentFacts, IncidentKey, IncidentStats, Pattern, Stage, TimelineEntry,
};

use serde::{Deserialize, Serialize};

/// Distinct actors counted per incident (listed or not); beyond it they are not counted.
pub const MAX_COUNTED_ACTORS: usize = 1_024;
/// Sensors named per incident.
pub const MAX_SENSORS_PER_INCIDENT: usize = 64;
/// Alert ids of closed incidents remembered (so a late change of one is dropped instead of
/// opening a new incident); the ones due to be forgotten first go first. Each is forgotten
/// once the watermark passes its last change by twice `window_ms`, and at least by
/// [`CLOSED_ALERT_MIN_MEMORY_MS`].
pub const MAX_CLOSED_ALERTS: usize = 100_000;
/// Shortest memory of a closed incident's alert after its last change (event time, ms): the
/// engine stops updating an alert an hour and ten minutes after its last occurrence with its
/// default dedup window.
pub const CLOSED_ALERT_MIN_MEMORY_MS: i64 = 2 * HOUR_MS;
/// Upper bound of `max_open_incidents`.
pub const MAX_OPEN_INCIDENTS_LIMIT: usize = 1_000_000;
/// Upper bound of `max_alerts_per_incident`, `max_actors_per_incident` and
/// `max_keys_per_incident`.
pub const MAX_PER_INCIDENT_LIMIT: usize = 4_096;

/// Correlation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentConfig {
    /// An alert joins an open incident when its event-time range is within this of the
    /// incident's (ms). Default 1 hour.
    pub window_ms: i64,
    /// An incident closes once the watermark passes its last alert by this (event time, ms).
    /// Default: the window.
    pub quiet_close_ms: i64,
    /// Most open incidents; opening one more closes the one quiet the longest (counted as
    /// evicted). Default 20,000.
    pub max_open_incidents: usize,
    /// Most alerts listed per incident; later ones are counted in `alerts_more`. Default 64.
    pub max_alerts_per_incident: usize,
    /// Most actors listed per incident; later ones are counted in `actors_more`. Default 32.
    pub max_actors_per_incident: usize,
    /// Most addresses and principals indexed per incident: beyond it an alert sharing only
    /// an unindexed one opens a new incident (counted). Default 256.
    pub max_keys_per_incident: usize,
}

/// One hour, in ms.
const HOUR_MS: i64 = 3_600_000;

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            window_ms: HOUR_MS,
            quiet_close_ms: HOUR_MS,
            max_open_incidents: 20_000,
            max_alerts_per_incident: 64,
            max_actors_per_incident: 32,
            max_keys_per_incident: 256,
        }
    }
}

impl IncidentConfig {
    /// Checks every key against its range.
    pub fn validate(&self) -> Result<()> {
        let range = |key: &'static str, value: i64, max: i64| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(IncidentError::Config {
                    key,
                    expected: format!("1..={max}"),
                    found: value,
                })
            }
        };
        let per = MAX_PER_INCIDENT_LIMIT as i64;
        range("window_ms", self.window_ms, 30 * 24 * HOUR_MS)?;
        range("quiet_close_ms", self.quiet_close_ms, 30 * 24 * HOUR_MS)?;
        range(
            "max_open_incidents",
            self.max_open_incidents as i64,
            MAX_OPEN_INCIDENTS_LIMIT as i64,
        )?;
        range(
            "max_alerts_per_incident",
            self.max_alerts_per_incident as i64,
            per,
        )?;
        range(
            "max_actors_per_incident",
            self.max_actors_per_incident as i64,
            per,
        )?;
        range(
            "max_keys_per_incident",
            self.max_keys_per_incident as i64,
            per,
        )
    }
}

/// What the correlator can fail at.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// A config key out of its range.
    #[error("incident config {key}: expected {expected}, found {found}")]
    Config {
        /// The config key.
        key: &'static str,
        /// The range it must be in.
        expected: String,
        /// The value it has.
        found: i64,
    },
    /// Persisted state that does not decode.
    #[error("incident state: expected correlator JSON, found {0}")]
    State(#[from] serde_json::Error),
}

/// The result of correlator operations that can fail.
pub type Result<T, E = IncidentError> = std::result::Result<T, E>;
