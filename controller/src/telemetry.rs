//! The controller's OpenTelemetry: the span of each ingested batch ([`BatchSpan`]), joined to
//! the sensor's trace through the batch's `traceparent`, and the analysis time of each batch
//! as an OTLP histogram ([`register_histograms`]). The controller's counters, per-tenant usage
//! and commit histogram travel from the metrics registry (`crate::metrics`), exported by
//! `picket_runtime::otel::export_registry`. The per-RPC spans are the gRPC edge's
//! `grpc::trace_layer`.
//!
//! Everything here does nothing unless `picket_runtime::otel` was initialised.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use picket_runtime::otel::{self, opentelemetry};
use picket_shared::{SensorId, TenantId};
use std::sync::OnceLock;
use std::time::Duration;

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
        if let Some(m) = instruments()
            && !cost.duplicate
        {
            m.analysis_seconds.record(cost.analysis.as_secs_f64(), &[]);
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
    analysis_seconds: Histogram<f64>,
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

/// Registers the histogram only OTLP carries (analysis time; the registry holds the rest of the
/// controller's metrics and `picket_runtime::otel::export_registry` exports them). Once, after
/// `otel::init`; nothing when telemetry is off.
pub fn register_histograms() {
    if !otel::enabled() || INSTRUMENTS.get().is_some() {
        return;
    }
    let _ = INSTRUMENTS.set(Instruments {
        analysis_seconds: otel::meter()
            .f64_histogram("picket_controller_analysis_duration")
            .with_description("Handing a committed batch to threat analysis")
            .with_unit("s")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
    });
}
