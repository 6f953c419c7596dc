//! The traffic-summary model: what a sensor sends and a controller applies.
//!
//! A summary never holds raw request values: hosts, methods and path *templates* only.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identity of an endpoint within a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointKey {
    pub host: String,
    pub method: String,
    pub template: String,
}

/// Aggregate of the requests to one endpoint within one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSummary {
    pub requests: u64,
    /// Responses by status code (0 when the gateway logged none).
    pub statuses: BTreeMap<u16, u64>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub request_bytes_sum: u64,
    pub response_bytes_sum: u64,
    pub latency_us_sum: u64,
    pub latency_us_max: u64,
    pub auth_present: u64,
    pub distinct_clients: u64,
    pub public_client_requests: u64,
    pub plaintext_requests: u64,
    /// Requests per authentication scheme (`none`, `basic`, `bearer`, `jwt`, `api_key`, ...).
    pub auth_schemes: BTreeMap<String, u64>,
    /// Distinct principals; like `distinct_clients`, an upper bound once merged.
    pub distinct_principals: u64,
    /// Start of the event-time window (0 for lifetime aggregates).
    pub window_start_ms: i64,
    /// The busiest clients in the window (per batch; not merged into lifetime records).
    pub top_clients: Vec<ClientActivity>,
    /// Parameters seen, keyed `location:name` (`query:page`, `path:users.id`, `body:items[].sku`).
    pub params: BTreeMap<String, ParamStats>,
    /// Values of a sensitive-data class seen, keyed `location:class` (`query:email`,
    /// `path:payment_card`, `body:us_ssn`).
    pub sensitive: BTreeMap<String, u64>,
    /// Requests from suspicious user agents, by label (`scanner:sqlmap`, `payload:jndi`).
    pub suspicious_agents: BTreeMap<String, u64>,
    /// Injection rule hits, keyed `location:rule` (`query:sqli.union-select`,
    /// `body:nosqli.operator`).
    #[serde(default)]
    pub injections: BTreeMap<String, u64>,
    /// Requests per request media-type label ([`crate::media::LABELS`]: `json`, `xml`, `form`,
    /// ...), from sources that see the `Content-Type` header; never the header's value.
    #[serde(default)]
    pub request_content_types: BTreeMap<String, u64>,
    /// Distributions (mergeable sketches) of latency and sizes.
    pub latency_us_hist: crate::sketch::LogHistogram,
    pub request_bytes_hist: crate::sketch::LogHistogram,
    pub response_bytes_hist: crate::sketch::LogHistogram,
}

pub use crate::limits::{MAX_NOTABLE_LABELS, MAX_NOTABLES_PER_BATCH, MAX_PARAMS_PER_ENDPOINT};

/// How often a parameter appeared, and with which value shapes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamStats {
    pub count: u64,
    pub shapes: BTreeMap<crate::shape::Shape, u64>,
}

impl ParamStats {
    pub fn add(&mut self, other: &ParamStats) {
        self.count = self.count.saturating_add(other.count);
        for (shape, n) in &other.shapes {
            let slot = self.shapes.entry(*shape).or_default();
            *slot = slot.saturating_add(*n);
        }
    }
}

/// One client's activity on one endpoint in one window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientActivity {
    pub client_ip: Option<std::net::IpAddr>,
    /// Hex principal (keyed hash of the credential), if any.
    pub principal: Option<String>,
    pub requests: u64,
    pub auth_failures: u64,
    pub errors: u64,
    pub distinct_object_refs: u64,
    /// The smallest distinct keyed 32-bit hashes of the object references of the window, at
    /// most [`crate::limits::MAX_REF_SAMPLE`], ascending: a k-minimum-values sketch, so the
    /// controller can estimate distinct references across windows and clients. Hashes are
    /// keyed per sensor process and reveal no identifier.
    #[serde(default)]
    pub ref_sample: Vec<u32>,
}

/// One client's activity across all endpoints in one event-time window: what per-endpoint
/// summaries cannot show (how many endpoints it touched, how often it was told "no").
/// Counts only, never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorSummary {
    /// Start of the event-time window (the batch's `window_ms` wide).
    pub window_start_ms: i64,
    pub client_ip: Option<std::net::IpAddr>,
    /// Hex principal (keyed hash of the credential), if any.
    pub principal: Option<String>,
    /// First product token of the user agent (`curl/8.5.0`, `Mozilla/5.0`), at most
    /// [`crate::limits::MAX_AGENT_PRODUCT_BYTES`]; the rest of the header never travels.
    pub agent: Option<String>,
    pub requests: u64,
    /// Distinct endpoints (host, method, template) the client touched in the window.
    pub distinct_endpoints: u64,
    /// Answers 401, 403, 404, 405 and 5xx.
    pub unauthorized: u64,
    pub forbidden: u64,
    pub not_found: u64,
    pub method_not_allowed: u64,
    pub server_errors: u64,
    /// Answers 429 (rate limited).
    pub rate_limited: u64,
    /// Requests that carried credentials.
    pub auth_present: u64,
    /// Distinct object references across the endpoints of the window.
    pub distinct_object_refs: u64,
    /// Distinct endpoints on which the client got 401 or 403.
    pub auth_failure_endpoints: u64,
}

impl EndpointSummary {
    /// Folds `other` into `self`. Counts add, extremes widen. `distinct_clients` adds too, so
    /// across batches it is an upper bound, not an exact count.
    pub fn merge(&mut self, other: &EndpointSummary) {
        if self.requests == 0 {
            self.first_seen_ms = other.first_seen_ms;
            self.last_seen_ms = other.last_seen_ms;
        } else if other.requests > 0 {
            self.first_seen_ms = self.first_seen_ms.min(other.first_seen_ms);
            self.last_seen_ms = self.last_seen_ms.max(other.last_seen_ms);
        }
        self.requests = self.requests.saturating_add(other.requests);
        for (status, n) in &other.statuses {
            let slot = self.statuses.entry(*status).or_default();
            *slot = slot.saturating_add(*n);
        }
        self.request_bytes_sum = self
            .request_bytes_sum
            .saturating_add(other.request_bytes_sum);
        self.response_bytes_sum = self
            .response_bytes_sum
            .saturating_add(other.response_bytes_sum);
        self.latency_us_sum = self.latency_us_sum.saturating_add(other.latency_us_sum);
        self.latency_us_max = self.latency_us_max.max(other.latency_us_max);
        self.auth_present = self.auth_present.saturating_add(other.auth_present);
        self.distinct_clients = self.distinct_clients.saturating_add(other.distinct_clients);
        self.public_client_requests = self
            .public_client_requests
            .saturating_add(other.public_client_requests);
        self.plaintext_requests = self
            .plaintext_requests
            .saturating_add(other.plaintext_requests);
        for (scheme, n) in &other.auth_schemes {
            let slot = self.auth_schemes.entry(scheme.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
        self.distinct_principals = self
            .distinct_principals
            .saturating_add(other.distinct_principals);
        for (class, n) in &other.sensitive {
            let slot = self.sensitive.entry(class.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
        for (label, n) in &other.suspicious_agents {
            let slot = self.suspicious_agents.entry(label.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
        for (rule, n) in &other.injections {
            let slot = self.injections.entry(rule.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
        for (label, n) in &other.request_content_types {
            let slot = self.request_content_types.entry(label.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
        self.latency_us_hist.merge(&other.latency_us_hist);
        self.request_bytes_hist.merge(&other.request_bytes_hist);
        self.response_bytes_hist.merge(&other.response_bytes_hist);
        for (name, stats) in &other.params {
            if let Some(mine) = self.params.get_mut(name) {
                mine.add(stats);
            } else if self.params.len() < MAX_PARAMS_PER_ENDPOINT {
                self.params.insert(name.clone(), stats.clone());
            }
        }
    }
}

/// Counters of one traffic source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCounters {
    pub source: String,
    pub received: u64,
    pub parsed: u64,
    pub rejected: u64,
}

/// Cumulative counters of a sensor since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SensorCounters {
    pub received: u64,
    pub parsed: u64,
    pub rejected: u64,
    pub batches_sent: u64,
    pub batches_acked: u64,
    pub batches_dropped: u64,
    pub requests_dropped: u64,
    /// Batches written to the sensor's on-disk spool.
    pub batches_spooled: u64,
    /// Bytes in the spool when the batch was sealed.
    pub spool_bytes: u64,
    /// Whether the controller's last directive paused threat analysis (plan cap).
    pub analysis_paused: bool,
    /// Notable events not sent because a batch already carried its maximum.
    pub notables_dropped: u64,
    /// Actor summaries not sent because a batch already carried its maximum.
    pub actors_dropped: u64,
    /// Batches set aside because the controller will never accept them.
    pub batches_rejected: u64,
    /// Requests in those batches.
    pub requests_rejected: u64,
    pub sources: Vec<SourceCounters>,
    pub rejected_by_reason: BTreeMap<String, u64>,
}

/// Why a single request is worth reporting on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotableKind {
    /// An injection rule matched.
    Injection,
    /// A sensitive-data class (email, card, key, …) travelled in the URL.
    SensitiveInUrl,
    /// The user agent names an attack tool or carries a payload.
    SuspiciousAgent,
}

impl NotableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotableKind::Injection => "injection",
            NotableKind::SensitiveInUrl => "sensitive_in_url",
            NotableKind::SuspiciousAgent => "suspicious_agent",
        }
    }

    pub fn parse(s: &str) -> Option<NotableKind> {
        [
            NotableKind::Injection,
            NotableKind::SensitiveInUrl,
            NotableKind::SuspiciousAgent,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One flagged request, redacted: where it went, who sent it, and the labels of what was found
/// (`query:sqli.union-select`, `query:email`, `agent:scanner:sqlmap`) — never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotableEvent {
    /// Event time of the request (Unix ms).
    pub ts_ms: i64,
    pub endpoint: EndpointKey,
    pub kinds: Vec<NotableKind>,
    pub labels: Vec<String>,
    pub client_ip: Option<std::net::IpAddr>,
    /// The keyed hash of the request's credential, hex.
    pub principal: Option<String>,
    pub status: u16,
}

/// One batch from a sensor, in domain form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Width of the event-time windows of the batch's summaries.
    pub window_ms: u32,
    pub stream_epoch: u64,
    pub seq: u64,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub endpoints: Vec<(EndpointKey, EndpointSummary)>,
    pub counters: SensorCounters,
    /// Flagged requests, individually.
    #[serde(default)]
    pub notables: Vec<NotableEvent>,
    /// Per-client activity across endpoints, per window (at most
    /// [`crate::limits::MAX_ACTORS_PER_BATCH`]).
    #[serde(default)]
    pub actors: Vec<ActorSummary>,
}

impl BatchSummary {
    /// Requests represented by the batch.
    pub fn requests(&self) -> u64 {
        // Saturating: the counts come from a sensor.
        self.endpoints
            .iter()
            .fold(0u64, |a, (_, s)| a.saturating_add(s.requests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(requests: u64, first: i64, last: i64, status: u16) -> EndpointSummary {
        EndpointSummary {
            requests,
            statuses: BTreeMap::from([(status, requests)]),
            first_seen_ms: first,
            last_seen_ms: last,
            latency_us_max: requests * 10,
            ..Default::default()
        }
    }

    /// Sums of sensor-supplied counts saturate: no overflow panic, no wrap to small numbers.
    #[test]
    fn hostile_counts_saturate() {
        let mut a = summary(1, 1, 2, 200);
        a.requests = u64::MAX;
        a.statuses.insert(200, u64::MAX);
        a.latency_us_hist.0.insert(3, u64::MAX);
        let mut b = summary(7, 1, 2, 200);
        b.latency_us_hist.0.insert(3, 7);
        a.merge(&b);
        assert_eq!(a.requests, u64::MAX);
        assert_eq!(a.statuses.get(&200), Some(&u64::MAX));
        assert_eq!(a.latency_us_hist.count(), u64::MAX);
        assert!(a.latency_us_hist.quantile(0.99).is_some());
        let key = EndpointKey {
            host: "h".into(),
            method: "GET".into(),
            template: "/".into(),
        };
        let batch = BatchSummary {
            endpoints: vec![(key.clone(), a.clone()), (key, a)],
            ..Default::default()
        };
        assert_eq!(batch.requests(), u64::MAX);
    }

    #[test]
    fn merge_adds_counts_and_widens_range() {
        let mut a = EndpointSummary::default();
        a.merge(&summary(2, 100, 200, 200));
        a.merge(&summary(3, 50, 150, 404));
        assert_eq!(a.requests, 5);
        assert_eq!((a.first_seen_ms, a.last_seen_ms), (50, 200));
        assert_eq!(a.statuses.get(&200), Some(&2));
        assert_eq!(a.statuses.get(&404), Some(&3));
        assert_eq!(a.latency_us_max, 30);
    }

    #[test]
    fn merging_empty_keeps_range() {
        let mut a = summary(1, 10, 20, 200);
        a.merge(&EndpointSummary::default());
        assert_eq!((a.first_seen_ms, a.last_seen_ms, a.requests), (10, 20, 1));
    }
}
