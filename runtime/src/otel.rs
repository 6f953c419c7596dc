//! OpenTelemetry over OTLP/gRPC, shared by both binaries: traces and metrics go to one
//! collector (`--otlp-endpoint URL`, `[telemetry] otlp_endpoint`, tuning in
//! `[telemetry.otlp]`). Off by default: without an endpoint no exporter, provider or thread
//! exists and [`enabled`] is false, which every instrumentation point checks first (one
//! relaxed load). The metrics are the process's [`crate::metrics::Registry`] — the same families `/metrics`
//! serves — bridged by [`export_registry`], so there is one source of truth.
//!
//! Nothing here may slow the data path. Finished spans go into a bounded queue
//! ([`OtlpConfig::max_queued_spans`]) drained by the SDK's batch processor on its own
//! thread; a full queue drops the span and counts it (`picket_otel_spans_dropped`). Every
//! export has a deadline ([`OtlpConfig::export_timeout_ms`]) and no retries, so a dead
//! collector costs one failed export per interval on that thread and nothing on the callers'.
//! Metrics are observable instruments read by the SDK's periodic reader on its own thread (one
//! registry snapshot per reading), or per-batch histograms (one record per batch, never per
//! request).
//!
//! The exporter speaks gRPC through the workspace's one tonic (the channel is built lazily,
//! so [`init`] needs a Tokio runtime but no reachable collector).

pub use opentelemetry;

mod bridge;
pub use bridge::export_registry;

use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
    SpanProcessor,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The `[telemetry.otlp]` section of both binaries' configuration: how export behaves once
/// `[telemetry] otlp_endpoint` turns it on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Deadline of one export call (spans or metrics), in milliseconds; no retries.
    pub export_timeout_ms: u64,
    /// Finished spans waiting for export, at most; beyond, spans are dropped and counted.
    pub max_queued_spans: usize,
    /// Spans sent in one export call, at most.
    pub max_export_batch_spans: usize,
    /// How often queued spans are exported, in milliseconds.
    pub span_export_interval_ms: u64,
    /// How often metrics are read and exported, in milliseconds.
    pub metrics_interval_ms: u64,
    /// On shutdown, how long flushing spans and metrics may take, in milliseconds.
    pub shutdown_timeout_ms: u64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            export_timeout_ms: 5_000,
            max_queued_spans: 4_096,
            max_export_batch_spans: 512,
            span_export_interval_ms: 1_000,
            metrics_interval_ms: 10_000,
            shutdown_timeout_ms: 3_000,
        }
    }
}

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("telemetry.{key} must be {expected}, found {found}")]
    Invalid {
        key: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("building the OTLP exporter for {0}: {1}")]
    Exporter(String, opentelemetry_otlp::ExporterBuildError),
}

/// Checks the collector URL once, at load.
pub fn validate_endpoint(url: &str) -> Result<(), OtelError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(OtelError::Invalid {
            key: "otlp_endpoint",
            expected: "an http:// or https:// URL",
            found: url.to_owned(),
        })
    }
}

impl OtlpConfig {
    /// Checks ranges once, at load.
    pub fn validate(&self) -> Result<(), OtelError> {
        let positive = |key: &'static str, v: u64| {
            if v == 0 {
                Err(OtelError::Invalid {
                    key,
                    expected: "greater than 0",
                    found: v.to_string(),
                })
            } else {
                Ok(())
            }
        };
        positive("otlp.export_timeout_ms", self.export_timeout_ms)?;
        positive("otlp.max_queued_spans", self.max_queued_spans as u64)?;
        positive(
            "otlp.max_export_batch_spans",
            self.max_export_batch_spans as u64,
        )?;
        positive("otlp.span_export_interval_ms", self.span_export_interval_ms)?;
        positive("otlp.metrics_interval_ms", self.metrics_interval_ms)?;
        positive("otlp.shutdown_timeout_ms", self.shutdown_timeout_ms)?;
        Ok(())
    }
}

/// Who is reporting: the resource attributes of every span and metric.
#[derive(Debug, Clone)]
pub struct ServiceIdentity {
    /// `service.name`: `picket-sensor` or `picket-controller`.
    pub name: &'static str,
    /// `service.version`.
    pub version: &'static str,
    /// `picket.sensor.id`, on sensors.
    pub sensor_id: Option<String>,
}

/// A span of the process's tracer.
pub type Span = opentelemetry_sdk::trace::Span;

static ENABLED: AtomicBool = AtomicBool::new(false);
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// True once [`init`] installed an exporter: instrumentation does nothing before.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// The process's tracer, when telemetry is on.
pub fn tracer() -> Option<&'static SdkTracer> {
    if enabled() { TRACER.get() } else { None }
}

/// The process's meter (instruments are created once by their owners).
pub fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("picket")
}

/// Running telemetry; [`Telemetry::shutdown`] flushes it.
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

/// Installs OTLP export of traces and metrics to `endpoint` when there is one; `Ok(None)`
/// (and nothing installed) otherwise. Call it once, inside the Tokio runtime that will serve
/// the exporter's gRPC channel.
pub fn init(
    endpoint: Option<&str>,
    cfg: &OtlpConfig,
    who: &ServiceIdentity,
) -> Result<Option<Telemetry>, OtelError> {
    let Some(endpoint) = endpoint.map(str::to_owned) else {
        return Ok(None);
    };
    validate_endpoint(&endpoint)?;
    cfg.validate()?;
    let timeout = Duration::from_millis(cfg.export_timeout_ms);
    let resource = resource(who);

    let span_exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(timeout)
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .build()
        .map_err(|e| OtelError::Exporter(endpoint.clone(), e))?;
    let dropped = Arc::new(AtomicU64::new(0));
    let queued = Arc::new(AtomicU64::new(0));
    let batch = BatchSpanProcessor::builder(CountingExporter {
        inner: span_exporter,
        queued: queued.clone(),
    })
    .with_batch_config(
        BatchConfigBuilder::default()
            // One more than ours, so the SDK's queue never drops a span ours admitted.
            .with_max_queue_size(cfg.max_queued_spans + 1)
            .with_max_export_batch_size(cfg.max_export_batch_spans.min(cfg.max_queued_spans))
            .with_scheduled_delay(Duration::from_millis(cfg.span_export_interval_ms))
            .build(),
    )
    .build();
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(BoundedProcessor {
            inner: batch,
            queued,
            dropped: dropped.clone(),
            max_queued: cfg.max_queued_spans as u64,
        })
        .with_resource(resource.clone())
        .build();

    let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(timeout)
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .build()
        .map_err(|e| OtelError::Exporter(endpoint.clone(), e))?;
    let reader = PeriodicReader::builder(metric_exporter)
        .with_interval(Duration::from_millis(cfg.metrics_interval_ms))
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();

    opentelemetry::global::set_meter_provider(meter_provider.clone());
    let _ = TRACER.set(tracer_provider.tracer("picket"));
    ENABLED.store(true, Relaxed);
    meter()
        .u64_observable_counter("picket_otel_spans_dropped")
        .with_description("Finished spans dropped because the export queue was full")
        .with_unit("{span}")
        .with_callback(move |o| o.observe(dropped.load(Relaxed), &[]))
        .build();
    tracing::info!(%endpoint, service = who.name, "exporting traces and metrics over OTLP");
    Ok(Some(Telemetry {
        tracer_provider,
        meter_provider,
        shutdown_timeout: Duration::from_millis(cfg.shutdown_timeout_ms),
    }))
}

fn resource(who: &ServiceIdentity) -> Resource {
    let mut attrs = vec![KeyValue::new("service.version", who.version)];
    if let Some(id) = &who.sensor_id {
        attrs.push(KeyValue::new("picket.sensor.id", id.clone()));
    }
    Resource::builder_empty()
        .with_service_name(who.name)
        .with_attributes(attrs)
        .build()
}

impl Telemetry {
    /// Stops recording, then flushes queued spans and a last reading of every metric, within
    /// the configured deadline (what is not out by then is lost, never waited for).
    pub async fn shutdown(self) {
        ENABLED.store(false, Relaxed);
        let deadline = self.shutdown_timeout;
        let flush = tokio::task::spawn_blocking(move || {
            let spans = self.tracer_provider.shutdown_with_timeout(deadline);
            let metrics = self.meter_provider.shutdown_with_timeout(deadline);
            (spans, metrics)
        });
        match tokio::time::timeout(deadline + Duration::from_millis(200), flush).await {
            Ok(Ok((spans, metrics))) => {
                if let Err(e) = spans.and(metrics) {
                    tracing::warn!(error = %e, "telemetry flush incomplete");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "telemetry flush task failed"),
            Err(_) => tracing::warn!(?deadline, "telemetry flush gave up at its deadline"),
        }
    }
}

/// Admits a finished span to the export queue only while fewer than `max_queued` wait, and
/// counts the ones it turns away: the SDK's own queue drops silently (one log line), and the
/// count is what tells an operator the collector cannot keep up.
#[derive(Debug)]
struct BoundedProcessor {
    inner: BatchSpanProcessor,
    queued: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    max_queued: u64,
}

impl SpanProcessor for BoundedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let admitted = self
            .queued
            .fetch_update(Relaxed, Relaxed, |q| (q < self.max_queued).then_some(q + 1))
            .is_ok();
        if admitted {
            self.inner.on_end(span);
        } else {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        // The exporter learns the resource attributes through here.
        self.inner.set_resource(resource);
    }
}

/// The OTLP span exporter, telling [`BoundedProcessor`] when queued spans have left.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    queued: Arc<AtomicU64>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        // Taken off the queue whether the export succeeds or not: a failed batch is gone.
        let n = batch.len() as u64;
        let result = self.inner.export(batch).await;
        let _ = self
            .queued
            .fetch_update(Relaxed, Relaxed, |q| Some(q.saturating_sub(n)));
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The W3C `traceparent` of a span, to carry across a process boundary.
pub fn traceparent(span: &SpanContext) -> String {
    use opentelemetry::propagation::TextMapPropagator;
    let cx = Context::new().with_remote_span_context(span.clone());
    let mut carrier = HashMap::with_capacity(1);
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent").unwrap_or_default()
}

/// The remote parent named by a W3C `traceparent`, when it is valid.
pub fn remote_parent(traceparent: &str) -> Option<Context> {
    use opentelemetry::propagation::TextMapPropagator;
    if traceparent.is_empty() || traceparent.len() > 128 {
        return None;
    }
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    #[test]
    fn traceparent_round_trips() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let tp = traceparent(&sc);
        assert_eq!(
            tp,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let cx = remote_parent(&tp).unwrap();
        assert_eq!(cx.span().span_context().trace_id(), sc.trace_id());
        assert!(remote_parent("").is_none());
        assert!(remote_parent("00-zz-00f067aa0ba902b7-01").is_none());
    }

    #[test]
    fn off_by_default_and_validated() {
        let cfg = OtlpConfig::default();
        assert!(cfg.validate().is_ok());
        let who = ServiceIdentity {
            name: "t",
            version: "0",
            sensor_id: None,
        };
        assert!(init(None, &cfg, &who).unwrap().is_none());
        assert!(!enabled());
        assert!(validate_endpoint("collector:4317").is_err());
        assert!(validate_endpoint("http://collector:4317").is_ok());
        let zero = OtlpConfig {
            metrics_interval_ms: 0,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
    }
}
