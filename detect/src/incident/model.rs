//! The incident model: kill-chain stages, incident keys, timelines, the facts the correlator
//! produces and the changes it emits. Like [`AlertFacts`](crate::AlertFacts), the facts hold
//! everything but the operator-owned lifecycle ([`AlertStatus`](crate::AlertStatus): active,
//! acknowledged, resolved, dismissed), which the controller keeps beside them.

use crate::model::{Actor, AlertType, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A kill-chain stage, in kill-chain order (the order of the MITRE ATT&CK enterprise
/// tactics they stand for): a later variant is a step further into an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Finding out what the API has and accepts (MITRE Reconnaissance).
    Reconnaissance,
    /// Getting in or making the API misbehave (MITRE Initial Access / Execution).
    Exploitation,
    /// Guessing or replaying credentials (MITRE Credential Access).
    CredentialAccess,
    /// Taking data out (MITRE Collection / Exfiltration).
    Collection,
    /// Degrading the service (MITRE Impact).
    Impact,
}

impl Stage {
    /// Every stage, in kill-chain order.
    pub const ALL: [Stage; 5] = [
        Stage::Reconnaissance,
        Stage::Exploitation,
        Stage::CredentialAccess,
        Stage::Collection,
        Stage::Impact,
    ];

    /// The wire id (`credential_access`).
    pub fn id(self) -> &'static str {
        match self {
            Stage::Reconnaissance => "reconnaissance",
            Stage::Exploitation => "exploitation",
            Stage::CredentialAccess => "credential_access",
            Stage::Collection => "collection",
            Stage::Impact => "impact",
        }
    }

    /// The title shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Stage::Reconnaissance => "Reconnaissance",
            Stage::Exploitation => "Initial access / exploitation",
            Stage::CredentialAccess => "Credential access",
            Stage::Collection => "Collection / exfiltration",
            Stage::Impact => "Impact",
        }
    }

    /// The stage of a wire id.
    pub fn parse(id: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.id() == id)
    }
}

/// The family of attack a target-keyed incident groups: alerts of one family on one endpoint
/// are one attack seen through several detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Walking object ids (`parameter_enumeration`, `distributed_parameter_enumeration`).
    Enumeration,
    /// Guessing credentials or getting past them (`brute_force`, `credential_stuffing`,
    /// `auth_bypass`).
    Credentials,
    /// Volume, size and latency (the traffic spikes, `latency_spike`, `large_request_body`,
    /// `large_response`).
    Volume,
    /// Scanning and payloads (`endpoint_spray`, `unseen_parameter`,
    /// `anomalous_parameter_type`, `injection`, `malicious_ip`, `suspicious_user_agent`).
    Probing,
}

impl Pattern {
    /// The wire id (`enumeration`).
    pub fn id(self) -> &'static str {
        match self {
            Pattern::Enumeration => "enumeration",
            Pattern::Credentials => "credentials",
            Pattern::Volume => "volume",
            Pattern::Probing => "probing",
        }
    }
}

/// What holds an incident together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum IncidentKey {
    /// One actor: alerts sharing an address or a principal (transitively). `actor` is the
    /// actor key of the incident's first alert: its address, else `p:<principal>`.
    Actor {
        /// The first alert's actor key.
        actor: String,
    },
    /// One target and pattern: distributed alerts (many actors) and alerts without any actor.
    Target {
        /// The host of the alerts.
        host: String,
        /// Empty for alerts about a whole host.
        method: String,
        /// The endpoint's path template; empty for alerts about a whole host.
        template: String,
        /// The family of the alerts.
        pattern: Pattern,
    },
}

impl IncidentKey {
    /// Whether this is an actor incident.
    pub fn is_actor(&self) -> bool {
        matches!(self, IncidentKey::Actor { .. })
    }
}

/// One alert in an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The alert's id.
    pub alert_id: String,
    /// The alert's type.
    pub kind: AlertType,
    /// The kill-chain stage of the type.
    pub stage: Stage,
    /// Event time, ms.
    pub first_seen_ms: i64,
    /// Event time, ms.
    pub last_seen_ms: i64,
    /// The alert's severity (its worst so far).
    pub severity: Severity,
    /// The alert's host.
    pub host: String,
    /// Empty for alerts about a whole host or actor.
    pub method: String,
    /// The alert's path template; empty for alerts about a whole host or actor.
    pub template: String,
}

/// What the correlator knows about an incident. Deterministic for the same alert stream: the
/// id is derived from the key and the incident's first alert, so a replay into a fresh
/// correlator yields the same incidents and ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    /// 16 hex digits, stable across replays.
    pub id: String,
    /// What holds the incident together.
    pub key: IncidentKey,
    /// The worst alert severity, raised one level when the incident escalates (see
    /// [`reason`](Self::reason)).
    pub severity: Severity,
    /// The worst severity among the incident's alerts.
    pub alert_severity: Severity,
    /// Distinct actors (by address and principal), at most
    /// [`IncidentConfig::max_actors_per_incident`](super::IncidentConfig).
    pub actors: Vec<Actor>,
    /// Distinct actors seen beyond `actors` (counted exactly up to
    /// [`MAX_COUNTED_ACTORS`](super::MAX_COUNTED_ACTORS) in all).
    pub actors_more: u64,
    /// Every sensor any of the alerts came through (at most
    /// [`MAX_SENSORS_PER_INCIDENT`](super::MAX_SENSORS_PER_INCIDENT)).
    pub sensors: BTreeSet<String>,
    /// The alerts, ordered like the timeline.
    pub alert_ids: Vec<String>,
    /// Alerts that joined beyond the per-incident cap: they count in severity, stages and
    /// time range but are not listed.
    pub alerts_more: u64,
    /// The distinct stages reached, in kill-chain order.
    pub stages: Vec<Stage>,
    /// The listed alerts, ordered by (first seen, id).
    pub timeline: Vec<TimelineEntry>,
    /// Event time, ms.
    pub first_seen_ms: i64,
    /// Event time, ms.
    pub last_seen_ms: i64,
    /// Why the incident has its severity, in deterministic wording.
    pub reason: String,
}

/// One change the correlator made to the tenant's incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentChange {
    /// A new incident.
    Opened(IncidentFacts),
    /// An open incident got an alert, an alert update or absorbed another incident.
    Updated(IncidentFacts),
    /// An alert bridged two open incidents: `absorbed` is gone, its alerts now belong to
    /// `into` (an `Updated` of `into` follows).
    Merged {
        /// The surviving incident's id.
        into: String,
        /// The absorbed incident's id (gone from now on).
        absorbed: String,
    },
    /// An incident closed: quiet for `quiet_close_ms`, or evicted by the open-incident cap.
    /// Its facts are final; a later alert from the same actor opens a new incident.
    Closed(IncidentFacts),
}

impl IncidentChange {
    /// The id of the incident the change is about (`into` for a merge).
    pub fn incident_id(&self) -> &str {
        match self {
            IncidentChange::Opened(f) | IncidentChange::Updated(f) | IncidentChange::Closed(f) => {
                &f.id
            }
            IncidentChange::Merged { into, .. } => into,
        }
    }

    /// The incident's facts as of the change; `None` for a merge (the absorbing incident's
    /// own change carries them).
    pub fn facts(&self) -> Option<&IncidentFacts> {
        match self {
            IncidentChange::Opened(f) | IncidentChange::Updated(f) | IncidentChange::Closed(f) => {
                Some(f)
            }
            IncidentChange::Merged { .. } => None,
        }
    }
}

/// Counters of a correlator since it was created (persisted with its state).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentStats {
    /// Alert changes applied.
    pub alert_changes: u64,
    /// Incidents opened.
    pub opened: u64,
    /// Incidents absorbed by a merge.
    pub merged: u64,
    /// Incidents closed after a quiet period.
    pub closed_quiet: u64,
    /// Incidents closed early by the open-incident cap.
    pub evicted: u64,
    /// Alerts that joined an incident already holding its cap of listed alerts.
    pub alerts_unlisted: u64,
    /// Addresses or principals not indexed because an incident held its cap of keys.
    pub keys_unindexed: u64,
    /// Changes of alerts whose incident had already closed (dropped: closed facts are final).
    pub late_changes: u64,
    /// Alert changes without a type (dropped).
    pub untyped: u64,
}
