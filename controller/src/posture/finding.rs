//! The posture finding model: kinds with their severity and remediation, stable ids.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Most detail strings (parameter names, status codes) one finding carries.
pub const MAX_FINDING_DETAILS: usize = 16;

/// How bad a finding is: the alerts' scale (ordered from least to most severe).
pub use picket_detect::Severity;

/// Points one open finding of `severity` deducts from its endpoint's (or, API-wide, its
/// API's) score; see `score`.
pub fn weight(severity: Severity) -> u32 {
    match severity {
        Severity::High => 40,
        Severity::Medium => 20,
        Severity::Low => 5,
        Severity::Informational => 1,
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Unauthenticated,
    Inactive,
    ExternallyExposed,
    SensitiveResponse,
    SensitiveUrl,
    NoRateLimit,
    Shadow,
    Zombie,
    Drift,
    Plaintext,
    OnboardApi,
    InventoryCapped,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Unauthenticated,
        Kind::Inactive,
        Kind::ExternallyExposed,
        Kind::SensitiveResponse,
        Kind::SensitiveUrl,
        Kind::NoRateLimit,
        Kind::Shadow,
        Kind::Zombie,
        Kind::Drift,
        Kind::Plaintext,
        Kind::OnboardApi,
        Kind::InventoryCapped,
    ];

    /// The wire and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unauthenticated => "unauthenticated_endpoint",
            Kind::Inactive => "inactive_endpoint",
            Kind::ExternallyExposed => "externally_exposed",
            Kind::SensitiveResponse => "sensitive_data_in_response",
            Kind::SensitiveUrl => "sensitive_data_in_url",
            Kind::NoRateLimit => "no_rate_limiting",
            Kind::Shadow => "shadow_endpoint",
            Kind::Zombie => "zombie_endpoint",
            Kind::Drift => "spec_drift",
            Kind::Plaintext => "plaintext_http",
            Kind::OnboardApi => "onboard_api",
            Kind::InventoryCapped => "inventory_capped",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The default severity of the kind.
    pub fn severity(self) -> Severity {
        match self {
            Kind::Unauthenticated | Kind::SensitiveResponse | Kind::Zombie => Severity::High,
            Kind::SensitiveUrl
            | Kind::NoRateLimit
            | Kind::Shadow
            | Kind::Plaintext
            | Kind::OnboardApi
            | Kind::InventoryCapped => Severity::Medium,
            Kind::Drift | Kind::ExternallyExposed => Severity::Low,
            Kind::Inactive => Severity::Informational,
        }
    }

    /// What to do about it.
    pub fn remediation(self) -> &'static str {
        match self {
            Kind::Unauthenticated => {
                "require authentication on the endpoint, or document it as public on purpose"
            }
            Kind::Inactive => "remove the endpoint from the gateway if it is no longer used",
            Kind::ExternallyExposed => {
                "confirm the endpoint is meant to be reachable from the internet; restrict it otherwise"
            }
            Kind::SensitiveResponse => {
                "stop returning sensitive data, or mask it and restrict who may call the endpoint"
            }
            Kind::SensitiveUrl => {
                "move sensitive values out of the path and query string into the request body or headers"
            }
            Kind::NoRateLimit => "rate-limit clients at the gateway (answer 429 above a budget)",
            Kind::Shadow => "document the endpoint in the API's spec, or remove it",
            Kind::Zombie => "retire the deprecated operation and move its callers to its successor",
            Kind::Drift => {
                "update the spec with the parameters and status codes observed, or fix the implementation"
            }
            Kind::Plaintext => "serve the API over TLS only and redirect plain HTTP",
            Kind::OnboardApi => "onboard the API (picketctl apis onboard HOST) so it is analyzed",
            Kind::InventoryCapped => {
                "new endpoints are folded into this overflow endpoint: check the sensor for bogus traffic (random paths or hosts), or raise the [inventory] caps"
            }
        }
    }
}

/// One finding as the evaluator states it (no history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    /// The API (host) it concerns.
    pub host: String,
    /// Empty for API-wide findings.
    pub method: String,
    /// The endpoint's path template; empty for API-wide findings.
    pub endpoint: String,
    /// Numbers that justify it (`requests`, `unauthenticated_2xx_at_least`, …).
    pub evidence: BTreeMap<String, u64>,
    /// Names behind it (undocumented parameters and status codes, sensitive classes), at most
    /// [`MAX_FINDING_DETAILS`].
    pub details: Vec<String>,
}

impl Finding {
    /// A finding of `kind` on an endpoint (`method`, `endpoint` empty for the API itself).
    pub fn new(tenant: &str, kind: Kind, host: &str, method: &str, endpoint: &str) -> Self {
        Finding {
            id: finding_id(tenant, kind, host, method, endpoint),
            kind,
            severity: kind.severity(),
            host: host.to_owned(),
            method: method.to_owned(),
            endpoint: endpoint.to_owned(),
            evidence: BTreeMap::new(),
            details: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: u64) -> Self {
        self.evidence.insert(name.to_owned(), value);
        self
    }

    pub fn with_details(mut self, details: impl IntoIterator<Item = String>) -> Self {
        self.details = details.into_iter().take(MAX_FINDING_DETAILS).collect();
        self
    }
}

/// The stable id of a finding: the same tenant, API, endpoint and kind always give the same
/// id, so a re-evaluation updates a finding instead of adding one. 16 hex digits of SHA-256.
pub fn finding_id(tenant: &str, kind: Kind, host: &str, method: &str, endpoint: &str) -> String {
    let mut h = Sha256::new();
    for part in [tenant, kind.as_str(), host, method, endpoint] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// Whether a finding's condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    Resolved,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::Resolved => "resolved",
        }
    }
}

/// A finding as stored: the latest facts plus its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub finding: Finding,
    pub status: FindingStatus,
    /// The evaluation that first raised it.
    pub first_seen_ms: i64,
    /// The latest evaluation in which it held.
    pub last_seen_ms: i64,
    /// When it resolved (0 while open).
    pub resolved_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = finding_id("t", Kind::Shadow, "h", "GET", "/a");
        assert_eq!(a, finding_id("t", Kind::Shadow, "h", "GET", "/a"));
        assert_eq!(a.len(), 16);
        for other in [
            finding_id("u", Kind::Shadow, "h", "GET", "/a"),
            finding_id("t", Kind::Zombie, "h", "GET", "/a"),
            finding_id("t", Kind::Shadow, "h", "POST", "/a"),
            finding_id("t", Kind::Shadow, "h", "GET", "/b"),
            finding_id("t", Kind::Shadow, "hG", "ET", "/a"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert!(!k.remediation().is_empty());
        }
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
    }
}
