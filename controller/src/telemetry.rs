//! The controller's OpenTelemetry: the span of each ingested batch ([`BatchSpan`]), joined to
//! the sensor's trace through the batch's `traceparent`, and the controller's metrics
//! ([`register`]): observable instruments over the ingest counters, requests handed to
//! analysis and each tenant's metered calls this cycle, read when the exporter asks, plus
//! per-batch histograms (commit and analysis time, batch size). The per-RPC spans are the
//! gRPC edge's `grpc::trace_layer`.
//!
//! Everything here does nothing unless `picket_runtime::otel` was initialised.

use crate::metering::Cycle;
use crate::state::State;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use picket_runtime::otel::{self, opentelemetry};
use picket_shared::{SensorId, TenantId};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Tenants reported per metrics reading, at most (label values stay bounded).
pub const MAX_TENANTS_REPORTED: usize = 10_000;

/// What one batch cost, for its span and the histograms.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchCost {
    /// Represented requests of the batch.
    pub requests: u64,
    /// Applying it and flushing the store.
    pub commit: Duration,
    /// Handing it to threat analysis.
    pub analysis: Duration,
    /// Already committed before (a resend).
    pub duplicate: bool,
}

/// The span of one ingested batch (inert when telemetry is off).
pub struct BatchSpan(Option<otel::Span>);

impl BatchSpan {
    /// Starts the span of a batch as it arrives, a child of the sensor's batch span when
    /// `traceparent` names one.
    pub fn start(
        traceparent: &str,
        tenant: &TenantId,
        sensor: &SensorId,
        epoch: u64,
        seq: u64,
        summaries: usize,
    ) -> Self {
        let Some(tracer) = otel::tracer() else {
            return Self(None);
        };
        let parent = otel::remote_parent(traceparent).unwrap_or_default();
        let span = tracer
            .span_builder("controller ingest batch")
            .with_kind(SpanKind::Consumer)
            .with_attributes([
                KeyValue::new("picket.tenant", tenant.to_string()),
                KeyValue::new("picket.sensor.id", sensor.to_string()),
                KeyValue::new("picket.batch.epoch", epoch as i64),
                KeyValue::new("picket.batch.seq", seq as i64),
                KeyValue::new("picket.batch.summaries", summaries as i64),
            ])
            .start_with_context(tracer, &parent);
        Self(Some(span))
    }

    /// Ends the span of an applied batch and records its cost.
    pub fn applied(mut self, cost: BatchCost) {
        if let Some(m) = instruments() {
            m.commit_seconds.record(cost.commit.as_secs_f64(), &[]);
            if !cost.duplicate {
                m.analysis_seconds.record(cost.analysis.as_secs_f64(), &[]);
                m.batch_requests.record(cost.requests, &[]);
            }
        }
        if let Some(span) = self.0.as_mut() {
            span.set_attributes([
                KeyValue::new("picket.batch.requests", cost.requests as i64),
                KeyValue::new("picket.batch.duplicate", cost.duplicate),
                KeyValue::new("picket.commit_ms", cost.commit.as_secs_f64() * 1e3),
                KeyValue::new("picket.analysis_ms", cost.analysis.as_secs_f64() * 1e3),
            ]);
            span.set_status(Status::Ok);
        }
    }

    /// Ends the span of a batch that was refused or failed.
    pub fn failed(mut self, why: &str) {
        if let Some(span) = self.0.as_mut() {
            span.set_status(Status::error(why.to_owned()));
        }
    }
}

impl Drop for BatchSpan {
    fn drop(&mut self) {
        if let Some(mut span) = self.0.take() {
            span.end();
        }
    }
}

struct Instruments {
    commit_seconds: Histogram<f64>,
    analysis_seconds: Histogram<f64>,
    batch_requests: Histogram<u64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

fn instruments() -> Option<&'static Instruments> {
    if otel::enabled() {
        INSTRUMENTS.get()
    } else {
        None
    }
}

const SECONDS_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Registers the controller's metrics over `state` (call once, after `otel::init`; does
/// nothing when telemetry is off).
pub fn register(state: &Arc<State>) {
    if !otel::enabled() {
        return;
    }
    register_histograms();
    let meter = otel::meter();
    ingest_counters(&meter, state);
    per_tenant(&meter, state);
}

/// Registers the per-batch histograms only (once; nothing when telemetry is off).
pub fn register_histograms() {
    if !otel::enabled() || INSTRUMENTS.get().is_some() {
        return;
    }
    let meter = otel::meter();
    let _ = INSTRUMENTS.set(Instruments {
        commit_seconds: meter
            .f64_histogram("picket_controller_commit_duration")
            .with_description("Applying a batch and flushing the store, before its ack")
            .with_unit("s")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
        analysis_seconds: meter
            .f64_histogram("picket_controller_analysis_duration")
            .with_description("Handing a committed batch to threat analysis")
            .with_unit("s")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
        batch_requests: meter
            .u64_histogram("picket_controller_batch_requests")
            .with_description("Represented requests per committed batch")
            .with_unit("{request}")
            .with_boundaries(vec![
                1.0,
                10.0,
                100.0,
                1_000.0,
                10_000.0,
                100_000.0,
                1_000_000.0,
            ])
            .build(),
    });
}

fn ingest_counters(meter: &opentelemetry::metrics::Meter, state: &Arc<State>) {
    type Pick = fn(&State) -> u64;
    let counters: [(&'static str, &'static str, &'static str, Pick); 5] = [
        (
            "picket_controller_batches_committed",
            "Batches applied and made durable",
            "{batch}",
            |s| s.ingest.batches_committed.load(Relaxed),
        ),
        (
            "picket_controller_batches_duplicate",
            "Batches already committed before (resends), acknowledged unchanged",
            "{batch}",
            |s| s.ingest.batches_duplicate.load(Relaxed),
        ),
        (
            "picket_controller_requests_committed",
            "Represented requests in committed batches",
            "{request}",
            |s| s.ingest.requests_committed.load(Relaxed),
        ),
        (
            "picket_controller_summaries_rejected",
            "Endpoint summaries dropped because a field was invalid",
            "{summary}",
            |s| s.ingest.entries_rejected.load(Relaxed),
        ),
        (
            "picket_controller_streams_rejected",
            "Ingest streams ended by a protocol error",
            "{stream}",
            |s| s.ingest.streams_rejected.load(Relaxed),
        ),
    ];
    for (name, help, unit, pick) in counters {
        let state = state.clone();
        meter
            .u64_observable_counter(name)
            .with_description(help)
            .with_unit(unit)
            .with_callback(move |o| o.observe(pick(&state), &[]))
            .build();
    }
}

/// Per tenant: metered calls this billing cycle (the counter restarts with each cycle) and
/// requests handed to analysis since the controller started.
fn per_tenant(meter: &opentelemetry::metrics::Meter, state: &Arc<State>) {
    let s = state.clone();
    meter
        .u64_observable_counter("picket_controller_usage_calls")
        .with_description("Billable API calls metered this billing cycle, per tenant")
        .with_unit("{call}")
        .with_callback(move |o| {
            let cycle = Cycle::containing(s.now_ms());
            for tenant in tenants(&s) {
                if let Ok(u) = s.db.cycle_usage(&tenant, cycle.start_ms) {
                    o.observe(u.calls, &[KeyValue::new("tenant", tenant.to_string())]);
                }
            }
        })
        .build();
    let s = state.clone();
    meter
        .u64_observable_counter("picket_controller_analysis_requests")
        .with_description("Requests handed to threat analysis, per tenant")
        .with_unit("{request}")
        .with_callback(move |o| {
            for tenant in tenants(&s) {
                let n = s.analysis.received(&tenant);
                o.observe(n, &[KeyValue::new("tenant", tenant.to_string())]);
            }
        })
        .build();
}

fn tenants(state: &State) -> Vec<TenantId> {
    match state.db.list_tenants() {
        Ok(t) => t
            .into_iter()
            .take(MAX_TENANTS_REPORTED)
            .map(|t| t.name)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "listing tenants for metrics failed");
            Vec::new()
        }
    }
}
