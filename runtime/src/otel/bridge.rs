//! The metrics registry as OTLP instruments: every family of [`Registry::snapshot`] becomes an
//! observable instrument (counters stay counters, gauges gauges; a histogram, which OTLP has
//! no observable form of, travels in its Prometheus shape: `<name>_bucket` with an `le`
//! attribute, `<name>_sum` and `<name>_count`). The SDK's periodic reader calls them on its
//! own thread; one snapshot serves every instrument of a reading. Families that appear later
//! (a labelled family's first series) are picked up on the next reading interval.

use super::{enabled, meter};
use crate::metrics::{MetricFamily, MetricKind, Registry, Sample, Value};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One registry snapshot, shared by the instruments of one reading.
struct Cache {
    registry: Arc<Registry>,
    max_age: Duration,
    last: Mutex<Option<(Instant, Arc<Vec<MetricFamily>>)>>,
}

impl Cache {
    fn families(&self) -> Arc<Vec<MetricFamily>> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, f)) = last.as_ref()
            && at.elapsed() < self.max_age
        {
            return f.clone();
        }
        let f = Arc::new(self.registry.snapshot());
        *last = Some((Instant::now(), f.clone()));
        f
    }

    fn samples(&self, name: &str, mut each: impl FnMut(&Sample)) {
        let families = self.families();
        if let Some(f) = families.iter().find(|f| f.name == name) {
            f.samples.iter().for_each(&mut each);
        }
    }
}

fn attrs(s: &Sample) -> Vec<KeyValue> {
    s.labels
        .iter()
        .map(|(k, v)| KeyValue::new(k.as_str(), v.clone()))
        .collect()
}

/// Exports `registry` through OTLP for as long as the process runs (nothing when telemetry
/// is off). Call it inside the Tokio runtime, once the registry's metrics are registered.
pub fn export_registry(registry: Arc<Registry>, interval: Duration) {
    if !enabled() {
        return;
    }
    let cache = Arc::new(Cache {
        registry,
        // Shorter than the reading interval: each reading takes one fresh snapshot.
        max_age: (interval / 2).min(Duration::from_secs(1)),
        last: Mutex::new(None),
    });
    let meter = meter();
    let mut known = HashSet::new();
    sync(&meter, &cache, &mut known);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            if !enabled() {
                return;
            }
            sync(&meter, &cache, &mut known);
        }
    });
}

/// Creates instruments for the families not seen before.
fn sync(meter: &Meter, cache: &Arc<Cache>, known: &mut HashSet<&'static str>) {
    for f in cache.families().iter() {
        if known.insert(f.name) {
            instrument(meter, cache, f.name, f.help, f.kind);
        }
    }
}

fn instrument(
    meter: &Meter,
    cache: &Arc<Cache>,
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
) {
    match kind {
        MetricKind::Counter => {
            let c = cache.clone();
            meter
                .u64_observable_counter(name)
                .with_description(help)
                .with_callback(move |o| {
                    c.samples(name, |s| {
                        if let Value::Counter(v) = s.value {
                            o.observe(v, &attrs(s));
                        }
                    })
                })
                .build();
        }
        MetricKind::Gauge => {
            let c = cache.clone();
            meter
                .i64_observable_gauge(name)
                .with_description(help)
                .with_callback(move |o| {
                    c.samples(name, |s| {
                        if let Value::Gauge(v) = s.value {
                            o.observe(v, &attrs(s));
                        }
                    })
                })
                .build();
        }
        MetricKind::Histogram => histogram(meter, cache, name, help),
    }
}

fn histogram(meter: &Meter, cache: &Arc<Cache>, name: &'static str, help: &'static str) {
    let c = cache.clone();
    meter
        .u64_observable_counter(format!("{name}_bucket"))
        .with_description(help)
        .with_callback(move |o| {
            c.samples(name, |s| {
                if let Value::Histogram(h) = &s.value {
                    for (bound, n) in h.bounds.iter().zip(&h.cumulative) {
                        let mut a = attrs(s);
                        a.push(KeyValue::new("le", bound.to_string()));
                        o.observe(*n, &a);
                    }
                    let mut a = attrs(s);
                    a.push(KeyValue::new("le", "+Inf"));
                    o.observe(h.count, &a);
                }
            })
        })
        .build();
    let c = cache.clone();
    meter
        .u64_observable_counter(format!("{name}_count"))
        .with_description(help)
        .with_callback(move |o| {
            c.samples(name, |s| {
                if let Value::Histogram(h) = &s.value {
                    o.observe(h.count, &attrs(s));
                }
            })
        })
        .build();
    let c = cache.clone();
    meter
        .f64_observable_counter(format!("{name}_sum"))
        .with_description(help)
        .with_callback(move |o| {
            c.samples(name, |s| {
                if let Value::Histogram(h) = &s.value {
                    o.observe(h.sum, &attrs(s));
                }
            })
        })
        .build();
}
