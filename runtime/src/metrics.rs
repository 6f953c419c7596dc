//! A small metrics registry: counters, gauges and fixed-bucket histograms on atomics, plus
//! *collect callbacks* that read counters a component already keeps (the sensor's
//! `SensorStats`, the controller's ingest counters and store) at scrape time, so the data path
//! pays nothing extra. [`Registry::snapshot`] is the one read API (the Prometheus text
//! rendering in [`Registry::render`] and an OTLP bridge both read it);
//! [`Registry::render`] writes the Prometheus text exposition format 0.0.4.
//!
//! Cardinality is bounded by construction: a metric's label *keys* are a fixed subset of
//! [`LabelKey`] (tenant id, sensor id, source name, rejection reason, RPC method and code —
//! never a client address, a path or free text), and every metric holds at most
//! `max_series` label sets ([`DEFAULT_MAX_SERIES`]); what is refused beyond that is counted
//! in `picket_metrics_series_refused_total{metric}`.

pub mod render;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

/// Label sets one metric may hold before further ones are refused (and counted).
pub const DEFAULT_MAX_SERIES: usize = 1_000;

/// Name of the family counting refused series.
pub const SERIES_REFUSED: &str = "picket_metrics_series_refused_total";

/// The only label keys a Picket metric may carry. Each has a bounded value set: ids the
/// controller validates, configured source names, or fixed label sets in the code. Adding a
/// key here is a reviewed decision, not a call-site one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelKey {
    /// A tenant id (bounded by the tenants that exist, and by the series cap).
    Tenant,
    /// A sensor id within a tenant.
    Sensor,
    /// A configured traffic source of a sensor (`nginx-json:/var/log/…`, `als:…`).
    Source,
    /// A rejection reason: a `&'static str` label of the parser that rejected the line.
    Reason,
    /// A gRPC method of the controller's fixed service set (`other` for anything else).
    Method,
    /// A gRPC status code name (`OK`, `Unauthenticated`, …): 17 values.
    Code,
    /// A metric name (of `picket_metrics_series_refused_total`).
    Metric,
}

impl LabelKey {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelKey::Tenant => "tenant",
            LabelKey::Sensor => "sensor",
            LabelKey::Source => "source",
            LabelKey::Reason => "reason",
            LabelKey::Method => "method",
            LabelKey::Code => "code",
            LabelKey::Metric => "metric",
        }
    }
}

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (resets only when the process restarts).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted in fixed buckets, with their sum and count.
    Histogram,
}

/// A metric's static description: `picket_<component>_<name>_<unit>`, help text, kind, and
/// its label keys (in order; every sample gives exactly one value per key).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Desc {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub labels: &'static [LabelKey],
}

impl Desc {
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [LabelKey],
    ) -> Desc {
        Desc {
            name,
            help,
            kind: MetricKind::Counter,
            labels,
        }
    }

    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [LabelKey],
    ) -> Desc {
        Desc {
            name,
            help,
            kind: MetricKind::Gauge,
            labels,
        }
    }

    pub const fn histogram(name: &'static str, help: &'static str) -> Desc {
        Desc {
            name,
            help,
            kind: MetricKind::Histogram,
            labels: &[],
        }
    }

    /// Whether the name follows the house rule (checked in debug builds at registration).
    fn well_formed(&self) -> bool {
        let charset = self
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let suffix = match self.kind {
            MetricKind::Counter => self.name.ends_with("_total"),
            _ => !self.name.ends_with("_total"),
        };
        charset && suffix && self.name.starts_with("picket_")
    }
}

/// One metric with every series it has now.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub samples: Vec<Sample>,
}

/// One series: its label values (keys in the family's order) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(LabelKey, String)>,
    pub value: Value,
}

/// The value of a series.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(u64),
    Gauge(i64),
    Histogram(HistogramValue),
}

/// A histogram's state: `cumulative[i]` observations were `<= bounds[i]`; `count` is all of
/// them (the `+Inf` bucket).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    pub bounds: &'static [f64],
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

/// A counter without labels; clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A gauge without labels; clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Relaxed);
    }
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

#[derive(Debug)]
struct HistogramCells {
    bounds: &'static [f64],
    /// One cell per bound plus the overflow (`+Inf`) cell; not cumulative.
    buckets: Vec<AtomicU64>,
    /// `f64` bits of the sum.
    sum: AtomicU64,
}

/// A histogram with fixed bucket bounds and no labels; clones share the cells. Observing is a
/// short scan of the bounds and three relaxed atomic updates.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCells>);

impl Histogram {
    /// A histogram over `bounds` (ascending, finite), not registered anywhere.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds must ascend");
        Histogram(Arc::new(HistogramCells {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }))
    }

    pub fn observe(&self, v: f64) {
        let c = &self.0;
        let i = c
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(c.bounds.len());
        c.buckets[i].fetch_add(1, Relaxed);
        // Only this update can fail and retry; observations are per batch, never per request.
        let _ = c.sum.fetch_update(Relaxed, Relaxed, |s| {
            Some((f64::from_bits(s) + v).to_bits())
        });
    }

    /// The current state (count derived from the buckets, so the two always agree).
    pub fn value(&self) -> HistogramValue {
        let c = &self.0;
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(c.bounds.len());
        for cell in &c.buckets[..c.bounds.len()] {
            running += cell.load(Relaxed);
            cumulative.push(running);
        }
        let count = running + c.buckets[c.bounds.len()].load(Relaxed);
        HistogramValue {
            bounds: c.bounds,
            cumulative,
            count,
            sum: f64::from_bits(c.sum.load(Relaxed)),
        }
    }
}

/// A counter with labels, holding at most the registry's `max_series` label sets; updates for
/// a new label set beyond that are refused and counted.
#[derive(Debug, Clone)]
pub struct CounterVec {
    desc: Desc,
    series: Arc<Mutex<HashMap<Vec<String>, u64>>>,
    max_series: usize,
    refused: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl CounterVec {
    /// Adds `n` to the series of `values` (one per label key, in order).
    pub fn inc_by(&self, values: &[&str], n: u64) {
        debug_assert_eq!(values.len(), self.desc.labels.len(), "{}", self.desc.name);
        // One small allocation per update: labelled counters count RPCs, not requests.
        let key: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
        let mut m = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = m.get_mut(&key) {
            *v += n;
        } else if m.len() < self.max_series {
            m.insert(key, n);
        } else {
            drop(m);
            refuse(&self.refused, self.desc.name, 1);
        }
    }

    pub fn inc(&self, values: &[&str]) {
        self.inc_by(values, 1);
    }

    fn samples(&self) -> Vec<Sample> {
        let m = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        m.iter()
            .map(|(vals, n)| Sample {
                labels: self
                    .desc
                    .labels
                    .iter()
                    .copied()
                    .zip(vals.iter().cloned())
                    .collect(),
                value: Value::Counter(*n),
            })
            .collect()
    }
}

fn refuse(refused: &Mutex<BTreeMap<&'static str, u64>>, name: &'static str, n: u64) {
    *refused
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name)
        .or_default() += n;
}

/// Where collect callbacks put what they read, one call per series.
pub struct Collector {
    families: BTreeMap<&'static str, MetricFamily>,
    max_series: usize,
    refused: BTreeMap<&'static str, u64>,
}

impl Collector {
    /// Reports a counter series; `values` gives one value per label key of `desc`.
    pub fn counter(&mut self, desc: &Desc, values: &[&str], v: u64) {
        debug_assert_eq!(desc.kind, MetricKind::Counter, "{}", desc.name);
        self.push(desc, values, Value::Counter(v));
    }

    /// Reports a gauge series.
    pub fn gauge(&mut self, desc: &Desc, values: &[&str], v: i64) {
        debug_assert_eq!(desc.kind, MetricKind::Gauge, "{}", desc.name);
        self.push(desc, values, Value::Gauge(v));
    }

    fn push(&mut self, desc: &Desc, values: &[&str], value: Value) {
        debug_assert!(desc.well_formed(), "metric name {:?}", desc.name);
        debug_assert_eq!(values.len(), desc.labels.len(), "{}", desc.name);
        let fam = family_entry(&mut self.families, desc);
        if fam.samples.len() >= self.max_series {
            *self.refused.entry(desc.name).or_default() += 1;
            return;
        }
        let labels = desc.labels.iter().copied();
        fam.samples.push(Sample {
            labels: labels.zip(values.iter().map(|s| (*s).to_owned())).collect(),
            value,
        });
    }
}

fn family_entry<'a>(
    families: &'a mut BTreeMap<&'static str, MetricFamily>,
    desc: &Desc,
) -> &'a mut MetricFamily {
    families.entry(desc.name).or_insert_with(|| MetricFamily {
        name: desc.name,
        help: desc.help,
        kind: desc.kind,
        samples: Vec::new(),
    })
}

type CollectFn = Box<dyn Fn(&mut Collector) + Send + Sync>;

enum Owned {
    Counter(Desc, Counter),
    Gauge(Desc, Gauge),
    Histogram(Desc, Histogram),
    CounterVec(CounterVec),
}

/// The metrics of one process. Register at start-up; read with [`Registry::snapshot`].
pub struct Registry {
    max_series: usize,
    owned: Mutex<Vec<Owned>>,
    collectors: Mutex<Vec<CollectFn>>,
    /// Refused updates of labelled metrics, by metric name (collect refusals add per scrape).
    refused: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("max_series", &self.max_series)
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(DEFAULT_MAX_SERIES)
    }
}

impl Registry {
    /// A registry whose metrics hold at most `max_series` label sets each.
    pub fn new(max_series: usize) -> Registry {
        Registry {
            max_series: max_series.max(1),
            owned: Mutex::new(Vec::new()),
            collectors: Mutex::new(Vec::new()),
            refused: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn own(&self, m: Owned) {
        self.owned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(m);
    }

    /// Registers an unlabelled counter.
    pub fn counter(&self, desc: Desc) -> Counter {
        debug_assert!(
            desc.well_formed() && desc.labels.is_empty(),
            "{}",
            desc.name
        );
        let c = Counter::default();
        self.own(Owned::Counter(desc, c.clone()));
        c
    }

    /// Registers an unlabelled gauge.
    pub fn gauge(&self, desc: Desc) -> Gauge {
        debug_assert!(
            desc.well_formed() && desc.labels.is_empty(),
            "{}",
            desc.name
        );
        let g = Gauge::default();
        self.own(Owned::Gauge(desc, g.clone()));
        g
    }

    /// Registers a histogram built with [`Histogram::new`] (it may already be in use).
    pub fn histogram(&self, desc: Desc, h: Histogram) -> Histogram {
        debug_assert!(
            desc.well_formed() && desc.kind == MetricKind::Histogram,
            "{}",
            desc.name
        );
        self.own(Owned::Histogram(desc, h.clone()));
        h
    }

    /// Registers a labelled counter.
    pub fn counter_vec(&self, desc: Desc) -> CounterVec {
        debug_assert!(
            desc.well_formed() && desc.kind == MetricKind::Counter,
            "{}",
            desc.name
        );
        let v = CounterVec {
            desc,
            series: Arc::new(Mutex::new(HashMap::new())),
            max_series: self.max_series,
            refused: self.refused.clone(),
        };
        self.own(Owned::CounterVec(v.clone()));
        v
    }

    /// Registers a callback run at every snapshot: it reads counters kept elsewhere and
    /// reports them through the [`Collector`]. It must be quick and must not block on I/O
    /// beyond a bounded read (it runs on the scraping request).
    pub fn collect(&self, f: impl Fn(&mut Collector) + Send + Sync + 'static) {
        self.collectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(f));
    }

    /// Every metric and series now, sorted by name. Series within a family are sorted by
    /// their label values, so two snapshots of the same state render identically.
    pub fn snapshot(&self) -> Vec<MetricFamily> {
        let mut c = Collector {
            families: BTreeMap::new(),
            max_series: self.max_series,
            refused: BTreeMap::new(),
        };
        for f in self
            .collectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            f(&mut c);
        }
        for (name, n) in std::mem::take(&mut c.refused) {
            refuse(&self.refused, name, n);
        }
        let mut families = c.families;
        for m in self
            .owned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let (desc, samples) = match m {
                Owned::Counter(d, v) => (d, vec![unlabelled(Value::Counter(v.get()))]),
                Owned::Gauge(d, v) => (d, vec![unlabelled(Value::Gauge(v.get()))]),
                Owned::Histogram(d, h) => (d, vec![unlabelled(Value::Histogram(h.value()))]),
                Owned::CounterVec(v) => (&v.desc, v.samples()),
            };
            family_entry(&mut families, desc).samples.extend(samples);
        }
        let refused_desc = Desc::counter(
            SERIES_REFUSED,
            "Series refused because their metric reached its series cap (updates, and series left out of each scrape)",
            &[LabelKey::Metric],
        );
        let refused = family_entry(&mut families, &refused_desc);
        for (name, n) in self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            refused.samples.push(Sample {
                labels: vec![(LabelKey::Metric, (*name).to_owned())],
                value: Value::Counter(*n),
            });
        }
        let mut out: Vec<MetricFamily> = families.into_values().collect();
        for f in &mut out {
            f.samples.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        out
    }

    /// The snapshot in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        render::text(&self.snapshot())
    }
}

fn unlabelled(value: Value) -> Sample {
    Sample {
        labels: Vec::new(),
        value,
    }
}

#[cfg(test)]
mod tests;
