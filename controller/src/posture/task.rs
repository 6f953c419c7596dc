//! The posture task: re-evaluates every tenant every `evaluate_interval_secs`, and soon after
//! a spec import or an onboarding change (`State::posture_changed`).

use super::evaluate::{api_findings, endpoint_findings, path_exists};
use super::{Finding, PostureConfig};
use crate::error::Result;
use crate::inventory::{EndpointFilter, list_endpoints};
use crate::state::State;
use crate::store::apis::MAX_APIS_PER_CHANGE;
use crate::store::findings::{PostureSnapshot, Reconciled};
use picket_shared::TenantId;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;
/// Endpoints read per store scan while evaluating.
const ENDPOINT_PAGE: usize = 1_024;

/// Runs forever: evaluates all tenants at start, then on every tick or wake-up.
pub async fn run(state: Arc<State>) {
    let period = Duration::from_secs(state.posture.evaluate_interval_secs.max(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.posture_wake.notified() => {}
        }
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || evaluate_all(&st)).await;
    }
}

/// Evaluates every tenant once; failures are logged and counted, the rest go on.
pub fn evaluate_all(state: &State) {
    let tenants = match state.db.list_tenants() {
        Ok(t) => t,
        Err(e) => {
            state.posture_stats.failures.fetch_add(1, Relaxed);
            tracing::warn!(error = %e, "posture: listing tenants failed");
            return;
        }
    };
    for t in tenants {
        match evaluate_tenant(state, &t.name) {
            Ok(r) => {
                state.posture_stats.evaluations.fetch_add(1, Relaxed);
                state
                    .posture_stats
                    .findings_dropped
                    .fetch_add(r.dropped as u64, Relaxed);
            }
            Err(e) => {
                state.posture_stats.failures.fetch_add(1, Relaxed);
                tracing::warn!(tenant = %t.name, error = %e, "posture evaluation failed");
            }
        }
    }
}

/// Evaluates one tenant now and stores the outcome.
pub fn evaluate_tenant(state: &State, tenant: &TenantId) -> Result<Reconciled> {
    let cfg: &PostureConfig = &state.posture;
    let now = state.now_ms();
    let specs = state.specs.tenant(&state.db, tenant)?;
    let mut findings: Vec<Finding> = Vec::new();
    let mut snapshot = PostureSnapshot {
        evaluated_ms: now,
        ..Default::default()
    };
    let mut cursor: Option<String> = None;
    let mut seen = 0usize;
    loop {
        let page = list_endpoints(
            &state.db,
            tenant,
            &EndpointFilter::default(),
            ENDPOINT_PAGE,
            cursor.as_deref(),
            ENDPOINT_PAGE,
        )?;
        for (key, rec) in &page.items {
            if seen >= cfg.max_endpoints_evaluated {
                state.posture_stats.endpoints_skipped.fetch_add(1, Relaxed);
                continue;
            }
            seen += 1;
            let judgement = specs.judge(key, &rec.summary);
            let found = endpoint_findings(tenant.as_str(), key, rec, &judgement, cfg, now);
            let api = snapshot.apis.entry(key.host.clone()).or_default();
            api.requests = api.requests.saturating_add(rec.summary.requests);
            if path_exists(rec) || !found.is_empty() {
                api.endpoints += 1;
            }
            findings.extend(found);
        }
        match page.next_cursor {
            Some(c) if seen < cfg.max_endpoints_evaluated => cursor = Some(c),
            _ => break,
        }
    }
    for rec in state.db.api_records(tenant, MAX_APIS_PER_CHANGE)? {
        let api = snapshot.apis.entry(rec.host.clone()).or_default();
        api.state = rec.state.as_str().to_owned();
        findings.extend(api_findings(
            tenant.as_str(),
            &rec.host,
            rec.state,
            api.requests,
        ));
    }
    let retention_ms = i64::from(cfg.resolved_retention_days) * DAY_MS;
    Ok(state.db.reconcile_findings(
        tenant,
        findings,
        &snapshot,
        retention_ms,
        cfg.max_findings_per_tenant,
    )?)
}
