//! The sensor's OpenTelemetry: one span per sealed batch, from seal to acknowledgement
//! ([`BatchTraces`]), whose W3C `traceparent` travels inside the wire batch so the
//! controller's span for it joins the same trace; and the sensor's metrics ([`register`]):
//! observable instruments that read [`SensorStats`] when the exporter asks (no cost in
//! between), plus per-batch histograms (batch size, delivery latency).
//!
//! Everything here does nothing unless `picket_runtime::otel` was initialised: each entry
//! point checks [`otel::enabled`] first.

use crate::aggregate::Sealed;
use crate::stats::SensorStats;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{KeyValue, metrics::Histogram};
use picket_runtime::otel::{self, opentelemetry};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
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
        if let Some(m) = instruments() {
            m.batch_requests.record(sealed.requests, &[]);
            m.batch_endpoints.record(sealed.endpoints.len() as u64, &[]);
        }
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
    batch_requests: Histogram<u64>,
    batch_endpoints: Histogram<u64>,
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

/// Registers the sensor's metrics over `stats` (call once, after `otel::init`; does nothing
/// when telemetry is off).
pub fn register(stats: &Arc<SensorStats>) {
    if !otel::enabled() {
        return;
    }
    let meter = otel::meter();
    let _ = INSTRUMENTS.set(Instruments {
        batch_requests: meter
            .u64_histogram("picket_sensor_batch_requests")
            .with_description("Requests per sealed batch")
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
        batch_endpoints: meter
            .u64_histogram("picket_sensor_batch_summaries")
            .with_description("Endpoint summaries per sealed batch")
            .with_unit("{summary}")
            .with_boundaries(vec![1.0, 10.0, 100.0, 1_000.0, 5_000.0])
            .build(),
        delivery_seconds: meter
            .f64_histogram("picket_sensor_delivery_duration")
            .with_description("Time from sealing a batch to the controller's acknowledgement")
            .with_unit("s")
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0,
            ])
            .build(),
    });
    per_source(&meter, stats);
    totals(&meter, stats);
}

/// Lines received, parsed and rejected per source, and rejections by reason.
fn per_source(meter: &opentelemetry::metrics::Meter, stats: &Arc<SensorStats>) {
    type Pick = fn(&picket_shared::SourceCounters) -> u64;
    let by_source: [(&'static str, &'static str, Pick); 3] = [
        (
            "picket_sensor_lines_received",
            "Lines or entries read",
            |s| s.received,
        ),
        (
            "picket_sensor_lines_parsed",
            "Lines or entries parsed into requests",
            |s| s.parsed,
        ),
        (
            "picket_sensor_lines_rejected",
            "Lines or entries rejected",
            |s| s.rejected,
        ),
    ];
    for (name, help, pick) in by_source {
        let stats = stats.clone();
        meter
            .u64_observable_counter(name)
            .with_description(help)
            .with_unit("{line}")
            .with_callback(move |o| {
                for s in stats.snapshot().sources {
                    o.observe(pick(&s), &[KeyValue::new("source", s.source)]);
                }
            })
            .build();
    }
    let s = stats.clone();
    meter
        .u64_observable_counter("picket_sensor_lines_rejected_by_reason")
        .with_description("Lines or entries rejected, by reason")
        .with_unit("{line}")
        .with_callback(move |o| {
            for (reason, n) in s.snapshot().rejected_by_reason {
                o.observe(n, &[KeyValue::new("reason", reason)]);
            }
        })
        .build();
}

/// Batch and delivery counters, and the spool's size.
fn totals(meter: &opentelemetry::metrics::Meter, stats: &Arc<SensorStats>) {
    type Pick = fn(&SensorStats) -> u64;
    let counters: [(&'static str, &'static str, &'static str, Pick); 8] = [
        (
            "picket_sensor_batches_spooled",
            "Batches written to the on-disk spool",
            "{batch}",
            |s| s.batches_spooled.load(Relaxed),
        ),
        (
            "picket_sensor_batches_sent",
            "Batches sent (resends included)",
            "{batch}",
            |s| s.batches_sent.load(Relaxed),
        ),
        (
            "picket_sensor_batches_acked",
            "Batches acknowledged by the controller",
            "{batch}",
            |s| s.batches_acked.load(Relaxed),
        ),
        (
            "picket_sensor_batches_dropped",
            "Batches dropped from a full outbox or spool",
            "{batch}",
            |s| s.batches_dropped.load(Relaxed),
        ),
        (
            "picket_sensor_requests_acked",
            "Requests in batches the controller acknowledged",
            "{request}",
            |s| s.requests_acked.load(Relaxed),
        ),
        (
            "picket_sensor_requests_dropped",
            "Requests lost to a full outbox, spool or aggregator queue",
            "{request}",
            |s| s.requests_dropped.load(Relaxed) + s.queue_full_drops.load(Relaxed),
        ),
        (
            "picket_sensor_notables_dropped",
            "Notable events not sent because their batch was full",
            "{event}",
            |s| s.notables_dropped.load(Relaxed),
        ),
        (
            "picket_sensor_spool_errors",
            "Spool writes that failed",
            "{batch}",
            |s| s.spool_errors.load(Relaxed),
        ),
    ];
    for (name, help, unit, pick) in counters {
        let stats = stats.clone();
        meter
            .u64_observable_counter(name)
            .with_description(help)
            .with_unit(unit)
            .with_callback(move |o| o.observe(pick(&stats), &[]))
            .build();
    }
    let s = stats.clone();
    meter
        .u64_observable_gauge("picket_sensor_spool_size")
        .with_description("Bytes the spool of unacknowledged batches holds")
        .with_unit("By")
        .with_callback(move |o| o.observe(s.spool_bytes.load(Relaxed), &[]))
        .build();
}
