//! Security posture: findings per endpoint (and per API) with severity, evidence and
//! remediation, rolled into 0–100 scores per API and per tenant.
//!
//! `evaluate` judges lifetime endpoint records, spec judgements (`crate::specs::drift`) and
//! onboarding states as pure logic; `task` re-evaluates every tenant periodically and when a
//! spec import or onboarding change asks for it, and reconciles the result with the stored
//! findings (`crate::store::findings`): a finding keeps its id (derived from tenant, API,
//! endpoint and kind) and first-seen time across evaluations, resolves itself when its
//! condition ends, and is purged `resolved_retention_days` after it resolved. `score` holds
//! the documented formula. Imports run `task` → `evaluate` → `finding`, `score` → `finding`.

pub mod evaluate;
pub mod finding;
pub mod report;
pub mod score;
pub mod task;

use serde::Deserialize;
use std::sync::atomic::AtomicU64;

pub use finding::{Finding, FindingRecord, FindingStatus, Kind, Severity};

/// Posture settings (`[posture]`); every threshold with its unit and default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostureConfig {
    /// Seconds between re-evaluations of every tenant. Default 60.
    pub evaluate_interval_secs: u64,
    /// An endpoint with no call for this many days is inactive. Default 30.
    pub inactive_days: u32,
    /// A client rate at or above this many requests per minute (in any one event-time window)
    /// on an endpoint that never answered 429 is "no rate limiting observed". Default 1200.
    pub rate_limit_rpm: u64,
    /// Days a resolved finding is kept before it is purged. Default 30.
    pub resolved_retention_days: u32,
    /// Most findings stored per tenant (open and resolved); the least severe new ones are
    /// dropped and counted, the oldest resolved ones purged first. Default 10000.
    pub max_findings_per_tenant: usize,
    /// Most endpoints one evaluation of a tenant reads. Default 100000.
    pub max_endpoints_evaluated: usize,
}

impl Default for PostureConfig {
    fn default() -> Self {
        Self {
            evaluate_interval_secs: 60,
            inactive_days: 30,
            rate_limit_rpm: 1_200,
            resolved_retention_days: 30,
            max_findings_per_tenant: 10_000,
            max_endpoints_evaluated: 100_000,
        }
    }
}

impl PostureConfig {
    /// Checks the bounds once, at load.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            (
                "posture.evaluate_interval_secs",
                self.evaluate_interval_secs,
            ),
            ("posture.inactive_days", u64::from(self.inactive_days)),
            ("posture.rate_limit_rpm", self.rate_limit_rpm),
            (
                "posture.max_findings_per_tenant",
                self.max_findings_per_tenant as u64,
            ),
            (
                "posture.max_endpoints_evaluated",
                self.max_endpoints_evaluated as u64,
            ),
        ] {
            if v == 0 {
                return Err(format!("{key} must be at least 1, found 0"));
            }
        }
        if self.evaluate_interval_secs > 86_400 {
            return Err(format!(
                "posture.evaluate_interval_secs must be at most 86400 (a day), found {}",
                self.evaluate_interval_secs
            ));
        }
        Ok(())
    }
}

/// Posture counters (read by the metrics collector).
#[derive(Debug, Default)]
pub struct PostureStats {
    /// Tenant evaluations completed.
    pub evaluations: AtomicU64,
    /// Evaluations that failed (store errors); retried at the next interval.
    pub failures: AtomicU64,
    /// Findings not stored because a tenant reached `max_findings_per_tenant`.
    pub findings_dropped: AtomicU64,
    /// Endpoints left out of an evaluation by `max_endpoints_evaluated`.
    pub endpoints_skipped: AtomicU64,
}

#[cfg(test)]
mod tests;
