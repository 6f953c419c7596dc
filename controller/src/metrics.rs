//! The controller's metrics: what `picket-runtime`'s registry reports at each scrape. Counters
//! the ingest path already keeps (`state::IngestStats`) and the store (connected sensors,
//! each tenant's billed calls this cycle) are read here at scrape time; only the commit
//! latency histogram and the RPC counts (`grpc::rpc_metrics`) are updated as calls happen.
//! Labels: tenant ids (bounded by the tenants that exist and by the series cap), RPC method
//! (a fixed set) and status code.

use crate::metering::Cycle;
use crate::state::State;
use picket_runtime::metrics::{Desc, LabelKey, Registry};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

pub const BATCHES_COMMITTED: Desc = Desc::counter(
    "picket_controller_batches_committed_total",
    "Ingest batches committed (applied and flushed before the ack)",
    &[],
);
pub const BATCHES_DUPLICATE: Desc = Desc::counter(
    "picket_controller_batches_duplicate_total",
    "Ingest batches acknowledged as duplicates (seq at or below the watermark; changed nothing)",
    &[],
);
pub const BATCHES_REJECTED: Desc = Desc::counter(
    "picket_controller_batches_rejected_total",
    "Ingest batches refused (invalid, or the commit failed); the stream ends and the sensor resends",
    &[],
);
pub const REQUESTS_COMMITTED: Desc = Desc::counter(
    "picket_controller_requests_committed_total",
    "Requests in committed batches",
    &[],
);
pub const SUMMARIES_REJECTED: Desc = Desc::counter(
    "picket_controller_summaries_rejected_total",
    "Fields, map entries and list items dropped from batches because they were invalid (summaries are kept)",
    &[],
);
pub const BATCHES_REFUSED: Desc = Desc::counter(
    "picket_controller_batches_refused_total",
    "Batches answered with a definite rejection (never acceptable, e.g. too many endpoints); the sensor sets them aside",
    &[],
);
pub const FIELDS_DROPPED: Desc = Desc::counter(
    "picket_controller_ingest_fields_dropped_total",
    "Invalid fields, map entries and list items dropped from accepted batches, by reason",
    &[LabelKey::Reason],
);
pub const STREAMS_REJECTED: Desc = Desc::counter(
    "picket_controller_streams_rejected_total",
    "Ingest streams ended by a protocol violation of the sensor",
    &[],
);
pub const STREAMS_UNAUTHENTICATED: Desc = Desc::counter(
    "picket_controller_streams_unauthenticated_total",
    "Open ingest streams ended because their token was revoked, rotated out or expired",
    &[],
);
pub const AUDIT_FAILURES: Desc = Desc::counter(
    "picket_controller_audit_failures_total",
    "Audit entries that could not be written (the action itself succeeded)",
    &[],
);
pub const TLS_HANDSHAKES_FAILED: Desc = Desc::counter(
    "picket_controller_tls_handshakes_failed_total",
    "TLS handshakes refused or timed out (no or untrusted client certificate, plaintext clients)",
    &[],
);
pub const TLS_RELOADS: Desc = Desc::counter(
    "picket_controller_tls_reloads_total",
    "TLS certificate files reloaded after a change",
    &[],
);
pub const TLS_RELOADS_FAILED: Desc = Desc::counter(
    "picket_controller_tls_reloads_failed_total",
    "TLS reloads that failed (the previous files stayed in force)",
    &[],
);
pub const SENSORS_CONNECTED: Desc = Desc::gauge(
    "picket_controller_sensors_connected",
    "Sensors with an open ingest stream",
    &[],
);
pub const CYCLE_CALLS: Desc = Desc::gauge(
    "picket_controller_cycle_billed_calls",
    "Billable API calls of the tenant in the current billing cycle (read from the store; resets each cycle)",
    &[LabelKey::Tenant],
);
pub const COMMIT_SECONDS: Desc = Desc::histogram(
    "picket_controller_batch_commit_seconds",
    "Time to apply one ingest batch and flush the store, in seconds",
);
pub const ANALYSIS_LAG: Desc = Desc::gauge(
    "picket_controller_analysis_lag_entries",
    "Committed batches waiting for threat analysis (analysis-log entries behind the worker's cursor)",
    &[],
);
pub const BATCHES_ANALYZED: Desc = Desc::counter(
    "picket_controller_batches_analyzed_total",
    "Analysis-log entries analyzed and stored",
    &[],
);
pub const ANALYSIS_SKIPPED: Desc = Desc::counter(
    "picket_controller_analysis_skipped_total",
    "Analysis-log entries skipped because they could not be decoded or named no valid tenant",
    &[],
);
pub const ANALYSIS_FAILURES: Desc = Desc::counter(
    "picket_controller_analysis_failures_total",
    "Failed analysis passes (store errors); the worker retries",
    &[],
);
pub const ANALYSIS_CHECKPOINTS: Desc = Desc::counter(
    "picket_controller_analysis_checkpoints_total",
    "Detection-state checkpoints stored (engine state written, covered log entries deleted)",
    &[],
);
pub const ALERTS_RAISED: Desc = Desc::counter(
    "picket_controller_alerts_raised_total",
    "Alerts the engine raised",
    &[],
);
pub const ALERTS_UPDATED: Desc = Desc::counter(
    "picket_controller_alerts_updated_total",
    "Alert updates the engine made (more occurrences of a raised alert)",
    &[],
);
pub const ALERTS_SUPPRESSED: Desc = Desc::counter(
    "picket_controller_alerts_suppressed_total",
    "Alerts swallowed by suppression rules",
    &[],
);
pub const ANALYSIS_SECONDS: Desc = Desc::histogram(
    "picket_controller_analysis_seconds",
    "Time to analyze one committed batch and store the result, in seconds",
);
pub const RPCS: Desc = Desc::counter(
    "picket_controller_rpcs_total",
    "gRPC calls by method and status code, counted when the call ends",
    &[LabelKey::Method, LabelKey::Code],
);

pub const POSTURE_EVALUATIONS: Desc = Desc::counter(
    "picket_controller_posture_evaluations_total",
    "Tenant posture evaluations completed",
    &[],
);
pub const POSTURE_FAILURES: Desc = Desc::counter(
    "picket_controller_posture_failures_total",
    "Tenant posture evaluations that failed (retried at the next interval)",
    &[],
);
pub const POSTURE_FINDINGS_DROPPED: Desc = Desc::counter(
    "picket_controller_posture_findings_dropped_total",
    "New posture findings not stored because the tenant held posture.max_findings_per_tenant",
    &[],
);
pub const POSTURE_ENDPOINTS_SKIPPED: Desc = Desc::counter(
    "picket_controller_posture_endpoints_skipped_total",
    "Endpoints left out of a posture evaluation by posture.max_endpoints_evaluated",
    &[],
);
pub const ENDPOINTS_FOLDED: Desc = Desc::counter(
    "picket_controller_endpoints_folded_total",
    "Endpoint summaries stored in an overflow endpoint because the tenant or host was at its inventory cap (read from the store)",
    &[LabelKey::Tenant],
);
pub const RECORD_KEYS_OVERFLOW: Desc = Desc::counter(
    "picket_controller_record_keys_overflow_total",
    "Map keys and set members left out of lifetime endpoint records at their caps (read from the store)",
    &[LabelKey::Tenant],
);
pub const INVENTORY_ENDPOINTS: Desc = Desc::gauge(
    "picket_controller_inventory_endpoints",
    "Endpoints of the tenant counted against inventory.max_endpoints_per_tenant (read from the store)",
    &[LabelKey::Tenant],
);
pub const WATERMARKS_RETIRED: Desc = Desc::counter(
    "picket_controller_watermarks_retired_total",
    "Watermarks of superseded, idle sensor epochs pruned since start (their batches are refused)",
    &[],
);

pub const EPOCHS_TRIMMED: Desc = Desc::counter(
    "picket_controller_epochs_trimmed_total",
    "Sensor epochs retired at a hello because the sensor held inventory.max_epochs_per_sensor (their batches are refused)",
    &[],
);

/// Registers the controller's scrape-time collectors and its commit histogram.
pub fn register(registry: &Registry, state: &Arc<State>) {
    registry.histogram(COMMIT_SECONDS, state.ingest.commit_seconds.clone());
    registry.histogram(ANALYSIS_SECONDS, state.analysis.stats.seconds.clone());
    let st = state.clone();
    registry.collect(move |c| {
        let i = &st.ingest;
        c.counter(&BATCHES_COMMITTED, &[], i.batches_committed.load(Relaxed));
        c.counter(&BATCHES_DUPLICATE, &[], i.batches_duplicate.load(Relaxed));
        c.counter(&BATCHES_REJECTED, &[], i.batches_rejected.load(Relaxed));
        c.counter(&REQUESTS_COMMITTED, &[], i.requests_committed.load(Relaxed));
        c.counter(&SUMMARIES_REJECTED, &[], i.entries_rejected.load(Relaxed));
        c.counter(&BATCHES_REFUSED, &[], i.batches_refused.load(Relaxed));
        for r in crate::validation::DropReason::ALL {
            c.counter(&FIELDS_DROPPED, &[r.as_str()], i.fields_dropped.get(r));
        }
        c.counter(&STREAMS_REJECTED, &[], i.streams_rejected.load(Relaxed));
        let unauthenticated = i.streams_unauthenticated.load(Relaxed);
        c.counter(&STREAMS_UNAUTHENTICATED, &[], unauthenticated);
        let audit_failures = crate::audit::FAILURES.load(Relaxed);
        c.counter(&AUDIT_FAILURES, &[], audit_failures);
        c.gauge(&SENSORS_CONNECTED, &[], st.connected_count() as i64);
        let p = &st.posture_stats;
        c.counter(&POSTURE_EVALUATIONS, &[], p.evaluations.load(Relaxed));
        c.counter(&POSTURE_FAILURES, &[], p.failures.load(Relaxed));
        c.counter(
            &POSTURE_FINDINGS_DROPPED,
            &[],
            p.findings_dropped.load(Relaxed),
        );
        c.counter(
            &POSTURE_ENDPOINTS_SKIPPED,
            &[],
            p.endpoints_skipped.load(Relaxed),
        );
        let retired = crate::maintenance::WATERMARKS_RETIRED.load(Relaxed);
        c.counter(&WATERMARKS_RETIRED, &[], retired);
        let trimmed = crate::maintenance::EPOCHS_TRIMMED.load(Relaxed);
        c.counter(&EPOCHS_TRIMMED, &[], trimmed);
        analysis(&st, c);
        cycle_calls(&st, c);
        limits(&st.quotas, c);
    });
}

/// The analysis worker's counters and its lag (two store reads).
fn analysis(st: &State, c: &mut picket_runtime::metrics::Collector) {
    let a = &st.analysis.stats;
    c.counter(&BATCHES_ANALYZED, &[], a.batches_analyzed.load(Relaxed));
    c.counter(&ANALYSIS_SKIPPED, &[], a.entries_skipped.load(Relaxed));
    c.counter(&ANALYSIS_FAILURES, &[], a.failures.load(Relaxed));
    c.counter(&ANALYSIS_CHECKPOINTS, &[], a.checkpoints.load(Relaxed));
    c.counter(&ALERTS_RAISED, &[], a.alerts_raised.load(Relaxed));
    c.counter(&ALERTS_UPDATED, &[], a.alerts_updated.load(Relaxed));
    c.counter(&ALERTS_SUPPRESSED, &[], a.alerts_suppressed.load(Relaxed));
    match (st.db.analysis_appended(), st.db.analysis_done()) {
        (Ok(appended), Ok(done)) => {
            c.gauge(&ANALYSIS_LAG, &[], appended.saturating_sub(done) as i64);
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "metrics: reading the analysis cursor failed")
        }
    }
}

/// Each tenant's billed calls this cycle and inventory counts, read from the store: two reads
/// per tenant, at most the series cap of them (the rest are counted as refused by the registry).
fn cycle_calls(st: &State, c: &mut picket_runtime::metrics::Collector) {
    let cycle = Cycle::containing(st.now_ms());
    let tenants = match st.db.list_tenants() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: listing tenants failed");
            return;
        }
    };
    for t in tenants
        .iter()
        .take(picket_runtime::metrics::DEFAULT_MAX_SERIES + 1)
    {
        match st.db.cycle_usage(&t.name, cycle.start_ms) {
            Ok(u) => c.gauge(&CYCLE_CALLS, &[t.name.as_str()], u.calls as i64),
            Err(e) => tracing::warn!(tenant = %t.name, error = %e, "metrics: reading usage failed"),
        }
        match st.db.inventory_counts(&t.name) {
            Ok(n) => {
                let tenant = [t.name.as_str()];
                c.counter(&ENDPOINTS_FOLDED, &tenant, n.folded_summaries);
                c.counter(&RECORD_KEYS_OVERFLOW, &tenant, n.keys_overflowed);
                c.gauge(&INVENTORY_ENDPOINTS, &tenant, n.endpoints as i64);
            }
            Err(e) => {
                tracing::warn!(tenant = %t.name, error = %e, "metrics: reading inventory counts failed")
            }
        }
    }
}

/// Ready when the store answers a read and the gRPC server task is still serving.
pub fn readiness(
    state: Arc<State>,
    serving: Arc<std::sync::atomic::AtomicBool>,
) -> picket_runtime::admin::ReadyCheck {
    Arc::new(move || {
        if !serving.load(Relaxed) {
            return Err("the gRPC server is not serving".into());
        }
        state
            .db
            .get_tenant(&picket_shared::TenantId::default_tenant())
            .map(|_| ())
            .map_err(|e| format!("the store does not answer: {e}"))
    })
}

/// Registers the TLS listener's counters (only when the controller serves TLS).
pub fn register_tls(registry: &Registry, tls: Arc<picket_runtime::tls::TlsServer>) {
    registry.collect(move |c| {
        let failed = tls.handshakes_failed.load(Relaxed);
        c.counter(&TLS_HANDSHAKES_FAILED, &[], failed);
        c.counter(&TLS_RELOADS, &[], tls.reloads.load(Relaxed));
        c.counter(&TLS_RELOADS_FAILED, &[], tls.reloads_failed.load(Relaxed));
    });
}

pub const CONNECTIONS_OPEN: Desc = Desc::gauge(
    "picket_controller_connections_open",
    "Connections open on the gRPC listener (limits.max_connections)",
    &[],
);
pub const CONNECTIONS_REFUSED: Desc = Desc::counter(
    "picket_controller_connections_refused_total",
    "Connections closed right after accept because limits.max_connections were open",
    &[],
);
pub const PREFACE_TIMEOUTS: Desc = Desc::counter(
    "picket_controller_connection_preface_timeouts_total",
    "Connections closed because the client's HTTP/2 preface did not arrive within limits.preface_timeout_secs",
    &[],
);

/// Registers the gRPC listener's connection gate counters.
pub fn register_connections(
    registry: &Registry,
    stats: Arc<crate::grpc::connections::ConnectionStats>,
) {
    registry.collect(move |c| {
        c.gauge(&CONNECTIONS_OPEN, &[], stats.open.load(Relaxed) as i64);
        c.counter(&CONNECTIONS_REFUSED, &[], stats.over_capacity.load(Relaxed));
        c.counter(&PREFACE_TIMEOUTS, &[], stats.preface_timeouts.load(Relaxed));
    });
}

pub const RATE_LIMITED: Desc = Desc::counter(
    "picket_controller_rpcs_rate_limited_total",
    "Query calls refused (RESOURCE_EXHAUSTED) by their token's rate limit (limits.query_rps), by the token's tenant",
    &[LabelKey::Tenant],
);
pub const RATE_BUCKETS_EVICTED: Desc = Desc::counter(
    "picket_controller_rate_limit_buckets_evicted_total",
    "Rate-limit buckets dropped at their cap before they had refilled (their token got a fresh burst)",
    &[],
);
pub const STREAMS_REFUSED: Desc = Desc::counter(
    "picket_controller_streams_refused_total",
    "Ingest and watch streams refused at open by a stream cap (RESOURCE_EXHAUSTED), by tenant",
    &[LabelKey::Tenant],
);
pub const STREAMS_ENDED: Desc = Desc::counter(
    "picket_controller_streams_ended_total",
    "Streams ended by a limit (idle_timeout, stall_timeout, max_lifetime)",
    &[LabelKey::Reason],
);
pub const INGEST_STREAMS_OPEN: Desc = Desc::gauge(
    "picket_controller_ingest_streams_open",
    "Open ingest streams (counted against limits.max_streams_*)",
    &[],
);
pub const WATCH_STREAMS_OPEN: Desc = Desc::gauge(
    "picket_controller_watch_streams_open",
    "Open WatchAlerts streams (counted against limits.max_streams_*)",
    &[],
);

/// The rate limiter's and the stream caps' counters.
fn limits(q: &crate::limits::Quotas, c: &mut picket_runtime::metrics::Collector) {
    for (tenant, n) in q.rate.limited.snapshot() {
        c.counter(&RATE_LIMITED, &[tenant.as_str()], n);
    }
    c.counter(&RATE_BUCKETS_EVICTED, &[], q.rate.evicted.load(Relaxed));
    for (tenant, n) in q.streams.refused.snapshot() {
        c.counter(&STREAMS_REFUSED, &[tenant.as_str()], n);
    }
    for why in crate::limits::StreamEnd::ALL {
        c.counter(&STREAMS_ENDED, &[why.as_str()], q.ended(why));
    }
    let (ingest, watch) = q.streams.open();
    c.gauge(&INGEST_STREAMS_OPEN, &[], ingest as i64);
    c.gauge(&WATCH_STREAMS_OPEN, &[], watch as i64);
}
