//! The hand-off from ingest to threat analysis. Metering decides per endpoint summary whether
//! it is analyzed (cap mode stops analysis once the entitlement is used); only summaries it
//! lets through are submitted here, so this is the one gate analysis input passes.
//!
//! The detection engine (next milestone) consumes from this input; until then it counts what
//! it receives, per tenant, which makes the cap observable and testable.

use picket_shared::{EndpointKey, EndpointSummary, TenantId};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Counters of what reached analysis.
#[derive(Debug, Default)]
pub struct AnalysisInput {
    received: Mutex<HashMap<TenantId, u64>>,
}

impl AnalysisInput {
    /// Hands summaries on to analysis.
    pub fn submit(&self, tenant: &TenantId, summaries: &[&(EndpointKey, EndpointSummary)]) {
        let requests: u64 = summaries.iter().map(|(_, s)| s.requests).sum();
        if requests == 0 {
            return;
        }
        let mut m = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        *m.entry(tenant.clone()).or_default() += requests;
    }

    /// Requests of `tenant` handed to analysis since the controller started.
    pub fn received(&self, tenant: &TenantId) -> u64 {
        let m = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(tenant).copied().unwrap_or(0)
    }
}
