//! The alert model: types, severities, statuses, actors, figures and the changes the engine
//! emits. The controller stores and serves these; the catalogue (`crate::catalogue`) gives each
//! type its title, severity, MITRE mapping, Defender for APIs counterpart and remediation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Alert type ids, exactly as they travel on the wire, in the CLI and in exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    PopulationTrafficSpike,
    ClientTrafficSpike,
    LargeResponse,
    LargeRequestBody,
    LatencySpike,
    EndpointSpray,
    ParameterEnumeration,
    DistributedParameterEnumeration,
    UnseenParameter,
    AnomalousParameterType,
    Injection,
    BruteForce,
    CredentialStuffing,
    AuthBypass,
    MaliciousIp,
    SuspiciousUserAgent,
}

impl AlertType {
    /// Every type, in catalogue order.
    pub const ALL: [AlertType; 16] = [
        AlertType::PopulationTrafficSpike,
        AlertType::ClientTrafficSpike,
        AlertType::LargeResponse,
        AlertType::LargeRequestBody,
        AlertType::LatencySpike,
        AlertType::EndpointSpray,
        AlertType::ParameterEnumeration,
        AlertType::DistributedParameterEnumeration,
        AlertType::UnseenParameter,
        AlertType::AnomalousParameterType,
        AlertType::Injection,
        AlertType::BruteForce,
        AlertType::CredentialStuffing,
        AlertType::AuthBypass,
        AlertType::MaliciousIp,
        AlertType::SuspiciousUserAgent,
    ];

    /// The wire id (`endpoint_spray`).
    pub fn id(self) -> &'static str {
        match self {
            AlertType::PopulationTrafficSpike => "population_traffic_spike",
            AlertType::ClientTrafficSpike => "client_traffic_spike",
            AlertType::LargeResponse => "large_response",
            AlertType::LargeRequestBody => "large_request_body",
            AlertType::LatencySpike => "latency_spike",
            AlertType::EndpointSpray => "endpoint_spray",
            AlertType::ParameterEnumeration => "parameter_enumeration",
            AlertType::DistributedParameterEnumeration => "distributed_parameter_enumeration",
            AlertType::UnseenParameter => "unseen_parameter",
            AlertType::AnomalousParameterType => "anomalous_parameter_type",
            AlertType::Injection => "injection",
            AlertType::BruteForce => "brute_force",
            AlertType::CredentialStuffing => "credential_stuffing",
            AlertType::AuthBypass => "auth_bypass",
            AlertType::MaliciousIp => "malicious_ip",
            AlertType::SuspiciousUserAgent => "suspicious_user_agent",
        }
    }

    pub fn parse(id: &str) -> Option<AlertType> {
        AlertType::ALL.into_iter().find(|t| t.id() == id)
    }
}

/// Alert severity, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Informational,
    Low,
    Medium,
    High,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where an alert stands in its lifecycle. Only operators change it: the engine raises
/// alerts `Active`, and its updates never touch the status (an acknowledged, resolved or
/// dismissed alert keeps it while the same actor goes on; a recurrence after the dedup window
/// is a new alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Active,
    Acknowledged,
    Resolved,
    Dismissed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Active,
        AlertStatus::Acknowledged,
        AlertStatus::Resolved,
        AlertStatus::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Active => "active",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
            AlertStatus::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Who an alert is about: an address and/or a hashed principal, and the agent as known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct Actor {
    pub ip: Option<IpAddr>,
    /// Hex keyed hash of the credential.
    pub principal: Option<String>,
    /// User-agent product token or suspicious-agent label.
    pub user_agent: Option<String>,
}

/// One observed-vs-baseline figure (`requests_per_min`: observed 940, baseline 12).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Figure {
    pub name: String,
    pub observed: f64,
    /// 0 when there is no baseline (signature detectors).
    pub baseline: f64,
    pub unit: String,
}

/// What the engine knows about an alert: everything but its operator-owned lifecycle
/// (status, who changed it), which the controller keeps beside it. Deterministic for the
/// same input: the id is derived from the tenant-relative dedup key and the event time the
/// alert opened, so a replay of the same traffic produces the same alert ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertFacts {
    pub id: String,
    pub kind: Option<AlertType>,
    pub severity: Option<Severity>,
    pub host: String,
    /// Empty for alerts about a whole host or actor.
    pub method: String,
    pub template: String,
    pub actor: Actor,
    /// More actors, for distributed alerts (at most 32).
    pub actors: Vec<Actor>,
    pub sensors: BTreeSet<String>,
    /// Occurrences folded in (windows or requests, per type).
    pub count: u64,
    /// Event time.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Observed-vs-baseline figures; peaks are kept across updates.
    pub figures: Vec<Figure>,
    /// Redacted evidence: rule ids, classes, counts, labels — never a request value.
    pub evidence: Vec<String>,
}

/// One change the engine made to the tenant's alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertChange {
    /// A new alert.
    Raised(AlertFacts),
    /// An alert already raised got more occurrences (count, last seen, peak figures).
    Updated(AlertFacts),
}

impl AlertChange {
    pub fn facts(&self) -> &AlertFacts {
        match self {
            AlertChange::Raised(f) | AlertChange::Updated(f) => f,
        }
    }
}
