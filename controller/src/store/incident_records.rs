//! Stored incident records: the correlator's facts beside the operator-owned lifecycle, and
//! the incident entry of the alert change log. Plain data (see `incidents` for the logic),
//! kept apart so that the alert log can carry incident entries without knowing that logic.

use picket_detect::AlertStatus;
use picket_detect::incident::IncidentFacts;
use serde::{Deserialize, Serialize};

/// Where an incident stands in the correlator (not the operator's status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Alerts may still join it.
    #[default]
    Open,
    /// Quiet for the quiet-close period (or evicted by the open-incident cap): final.
    Closed,
    /// Absorbed by another incident (`merged_into`), which now holds its alerts.
    Merged,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Closed => "closed",
            IncidentState::Merged => "merged",
        }
    }
}

/// An incident as stored: the correlator's facts and the operator's lifecycle.
///
/// Ownership: the correlator owns `facts`, `state` and `merged_into` (a correlator change
/// replaces them); operators own `status`, `status_by`, `status_at_ms` and `status_comment`,
/// which no correlator change touches (like [`AlertRecord`](super::alerts::AlertRecord)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub facts: IncidentFacts,
    #[serde(default)]
    pub state: IncidentState,
    /// The surviving incident, once merged.
    #[serde(default)]
    pub merged_into: String,
    #[serde(default = "active")]
    pub status: AlertStatus,
    #[serde(default)]
    pub status_by: String,
    #[serde(default)]
    pub status_at_ms: i64,
    #[serde(default)]
    pub status_comment: String,
    /// Controller clock when the incident was first stored.
    #[serde(default)]
    pub opened_at_ms: i64,
    /// Controller clock when it closed or merged; 0 while open.
    #[serde(default)]
    pub closed_at_ms: i64,
}

fn active() -> AlertStatus {
    AlertStatus::Active
}

/// What an incident entry of the alert log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentChangeKind {
    Opened,
    Updated,
    /// The incident (the record logged) was absorbed by `merged_into`.
    Merged,
    Closed,
    /// An operator changed its status.
    Status,
}

/// The incident part of an alert-log entry: what changed and the incident as of the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentLogEntry {
    pub change: IncidentChangeKind,
    pub incident: IncidentRecord,
}
