//! The sensor's OpenTelemetry: one span per sealed batch, from seal to acknowledgement
//! ([`BatchTraces`]), whose W3C `traceparent` travels inside the wire batch so the
//! controller's span for it joins the same trace; and the seal-to-ack delivery latency as an
//! OTLP histogram ([`register_histograms`]). The sensor's counters travel from the metrics
//! registry (`crate::metrics`), exported by `picket_runtime::otel::export_registry`.
//!
//! Everything here does nothing unless `picket_runtime::otel` was initialised: each entry
//! point checks [`otel::enabled`] first.

use crate::aggregate::Sealed;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{KeyValue, metrics::Histogram};
use picket_runtime::otel::{self, opentelemetry};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// Batch spans tracked at once; beyond, the oldest is ended unacknowledged (a long outage
/// keeps at most this many open spans in memory, whatever the spool holds).
pub const MAX_TRACKED_BATCHES: usize = 4_096;

/// The span of one sealed batch while it waits for its acknowledgement.
struct Tracked {
    span: otel::Span,
    traceparent: String,
    sealed_at: Instant,
}

/// Open batch spans by sequence number (one numbering run: the outbox's epoch).
#[derive(Default)]
pub struct BatchTraces {
    open: Mutex<BTreeMap<u64, Tracked>>,
}

/// A batch span started at seal time, not yet numbered.
pub struct Started(Tracked);

impl BatchTraces {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Tracked>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the span of a batch just sealed (`None` when telemetry is off), and records its
    /// size.
    pub fn sealed(&self, epoch: u64, sealed: &Sealed) -> Option<Started> {
        let tracer = otel::tracer()?;
        let span = tracer
            .span_builder("sensor batch")
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new("picket.batch.epoch", epoch as i64),
                KeyValue::new("picket.batch.requests", sealed.requests as i64),
                KeyValue::new("picket.batch.summaries", sealed.endpoints.len() as i64),
                KeyValue::new("picket.batch.notables", sealed.notables.len() as i64),
            ])
            .start(tracer);
        let traceparent = otel::traceparent(span.span_context());
        Some(Started(Tracked {
            span,
            traceparent,
            sealed_at: Instant::now(),
        }))
    }

    /// Numbers a started span with the batch's sequence number (before the batch can be sent).
    pub fn track(&self, seq: u64, started: Started) {
        let mut t = started.0;
        t.span
            .set_attribute(KeyValue::new("picket.batch.seq", seq as i64));
        let mut open = self.lock();
        open.insert(seq, t);
        while open.len() > MAX_TRACKED_BATCHES {
            if let Some((_, mut oldest)) = open.pop_first() {
                oldest.span.set_status(Status::error("no longer tracked"));
                oldest.span.end();
            }
        }
    }

    /// The `traceparent` to send with batch `seq` (empty when it has no span), noting the send.
    pub fn on_send(&self, seq: u64) -> String {
        if !otel::enabled() {
            return String::new();
        }
        let mut open = self.lock();
        match open.get_mut(&seq) {
            Some(t) => {
                t.span.add_event("sent", Vec::new());
                t.traceparent.clone()
            }
            None => String::new(),
        }
    }

    /// Ends the spans of batches up to `through`: those in `acked` as delivered (recording
    /// their seal-to-ack latency), the others as dropped from the outbox.
    pub fn on_ack(&self, through: u64, acked: &[u64]) {
        if !otel::enabled() {
            return;
        }
        let mut open = self.lock();
        let rest = open.split_off(&(through + 1));
        let done = std::mem::replace(&mut *open, rest);
        drop(open);
        let m = instruments();
        for (seq, mut t) in done {
            if acked.contains(&seq) {
                if let Some(m) = m {
                    m.delivery_seconds
                        .record(t.sealed_at.elapsed().as_secs_f64(), &[]);
                }
                t.span.set_status(Status::Ok);
            } else {
                t.span
                    .set_status(Status::error("dropped before acknowledgement"));
            }
            t.span.end();
        }
    }
}

/// The per-batch histograms, created once telemetry is on.
struct Instruments {
    delivery_seconds: Histogram<f64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

fn instruments() -> Option<&'static Instruments> {
    if otel::enabled() {
        INSTRUMENTS.get()
    } else {
        None
    }
}

/// Registers the histogram only OTLP carries (delivery latency; the registry holds the rest of
/// the sensor's metrics and `picket_runtime::otel::export_registry` exports them). Once, after
/// `otel::init`; nothing when telemetry is off.
pub fn register_histograms() {
    if !otel::enabled() || INSTRUMENTS.get().is_some() {
        return;
    }
    let _ = INSTRUMENTS.set(Instruments {
        delivery_seconds: otel::meter()
            .f64_histogram("picket_sensor_delivery_duration")
            .with_description("Time from sealing a batch to the controller's acknowledgement")
            .with_unit("s")
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0,
            ])
            .build(),
    });
}
