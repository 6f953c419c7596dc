//! Folds normalized requests into per-endpoint summaries and seals them into batches.
//! Raw values (targets, client addresses) stop here: a sealed batch holds templates and counts.

use crate::identity::Principal;
use crate::record::{RequestRecord, Scheme, is_public};
use crate::sources::{Chunk, FilePosition};
use picket_shared::inject::{self, Verdict};
use picket_shared::learn::{LearnerLimits, TemplateLearner};
use picket_shared::sensitive::{Sensitive, classify};
use picket_shared::shape::{Shape, percent_decode, shape_of};
use picket_shared::summary::MAX_PARAMS_PER_ENDPOINT;
use picket_shared::summary::{MAX_NOTABLE_LABELS, MAX_NOTABLES_PER_BATCH};
use picket_shared::{ClientActivity, EndpointKey, EndpointSummary, NotableEvent, NotableKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;

/// Limits of one batch under construction.
#[derive(Debug, Clone, Copy)]
pub struct AggregateLimits {
    /// Distinct endpoints in one batch; reaching it seals the batch early.
    pub max_batch_endpoints: usize,
    /// Distinct client addresses remembered per endpoint per batch; more are not counted.
    pub max_clients_per_endpoint: usize,
    /// Path-template learning.
    pub learner: LearnerLimits,
    /// Width of the event-time windows, in milliseconds.
    pub window_ms: u32,
    /// Judge path and query for injections (headers and bodies are judged by the sources that
    /// see them, into [`RequestRecord::injections`]).
    pub classify_injections: bool,
}

/// Query, path and body parameters of a request, keyed `location:name`, with the sensitive-data
/// class of each value.
fn request_params(r: &RequestRecord, template: &str) -> Vec<(String, Shape, Option<Sensitive>)> {
    let mut out: Vec<(String, Shape, Option<Sensitive>)> = picket_shared::params::query(&r.target)
        .into_iter()
        .map(|p| (format!("query:{}", p.name), p.shape, p.sensitive))
        .collect();
    let path = r.target.split(['?', '#']).next().unwrap_or("");
    let mut previous = "";
    let segments = path.split('/').filter(|s| !s.is_empty());
    for (i, (raw, t)) in segments
        .zip(template.split('/').filter(|s| !s.is_empty()))
        .enumerate()
    {
        if let Some(inner) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            let name = match (inner, previous) {
                ("id", p) if !p.is_empty() && !p.starts_with('{') => format!("path:{p}.id"),
                ("id", _) => format!("path:id@{i}"),
                (n, _) => format!("path:{n}"),
            };
            let value = percent_decode(raw, false);
            out.push((name, shape_of(&value), classify(&value)));
        }
        previous = t;
    }
    out.extend(
        r.body_params
            .iter()
            .map(|p| (format!("body:{}", p.name), p.shape, p.sensitive)),
    );
    out
}

/// Distinct `location:rule` injection keys kept per endpoint and window.
pub const MAX_INJECTION_KEYS: usize = 64;

/// Clients reported per endpoint and window (the busiest).
pub const TOP_CLIENTS: usize = 32;
/// Distinct object references remembered per client per endpoint and window.
pub const MAX_REFS_PER_CLIENT: usize = 1_024;

impl Default for AggregateLimits {
    fn default() -> Self {
        Self {
            max_batch_endpoints: 5_000,
            max_clients_per_endpoint: 4_096,
            learner: LearnerLimits::default(),
            window_ms: 1_000,
            classify_injections: true,
        }
    }
}

#[derive(Default)]
struct Slot {
    summary: EndpointSummary,
    clients: HashSet<IpAddr>,
    principals: HashSet<Principal>,
    actors: HashMap<(Option<IpAddr>, Option<Principal>), Actor>,
}

/// What one client did on one endpoint in one window.
#[derive(Default)]
struct Actor {
    requests: u64,
    auth_failures: u64,
    errors: u64,
    refs: HashSet<u64>,
}

impl Slot {
    /// The busiest clients, most requests first.
    fn top_clients(&self) -> Vec<ClientActivity> {
        let mut actors: Vec<_> = self.actors.iter().collect();
        actors.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.cmp(b.0)));
        actors
            .into_iter()
            .take(TOP_CLIENTS)
            .map(|((ip, principal), a)| ClientActivity {
                client_ip: *ip,
                principal: principal.map(Principal::to_hex),
                requests: a.requests,
                auth_failures: a.auth_failures,
                errors: a.errors,
                distinct_object_refs: a.refs.len() as u64,
            })
            .collect()
    }
}

/// A batch ready for delivery, with the source positions it completes.
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    /// Width of the windows of `endpoints`.
    pub window_ms: u32,
    pub endpoints: Vec<(EndpointKey, EndpointSummary)>,
    /// Latest position of every file source, including this batch's lines.
    pub positions: BTreeMap<Arc<str>, FilePosition>,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub requests: u64,
    /// Flagged requests of this batch, redacted.
    pub notables: Vec<NotableEvent>,
}

/// The batch under construction.
pub struct Aggregator {
    limits: AggregateLimits,
    slots: HashMap<(i64, EndpointKey), Slot>,
    /// Hashes object-reference values; seeded per process, the hashes never leave it.
    refs_hasher: RandomState,
    positions: BTreeMap<Arc<str>, FilePosition>,
    positions_moved: bool,
    requests: u64,
    window: Option<(i64, i64)>,
    /// Client addresses not counted because an endpoint's client set was full.
    pub clients_over_cap: u64,
    notables: Vec<NotableEvent>,
    /// Notable events not kept because the batch already held its maximum (cumulative).
    pub notables_dropped: u64,
    /// Turns request targets into endpoint templates; lives as long as the sensor.
    pub learner: TemplateLearner,
}

impl Aggregator {
    pub fn new(limits: AggregateLimits) -> Self {
        Self {
            limits,
            slots: HashMap::new(),
            refs_hasher: RandomState::new(),
            positions: BTreeMap::new(),
            positions_moved: false,
            requests: 0,
            window: None,
            clients_over_cap: 0,
            notables: Vec::new(),
            notables_dropped: 0,
            learner: TemplateLearner::new(limits.learner),
        }
    }

    /// Adds a chunk. Returns true when the batch is full and should be sealed now.
    pub fn add_chunk(&mut self, chunk: Chunk) -> bool {
        for r in &chunk.records {
            self.add(r);
        }
        if let Some(pos) = chunk.position {
            self.positions.insert(chunk.source, pos);
            self.positions_moved = true;
        }
        self.slots.len() >= self.limits.max_batch_endpoints
    }

    fn add(&mut self, r: &RequestRecord) {
        let template = self.learner.template(&r.host, &r.target);
        let refs = self.object_refs(&r.target, &template);
        let params = request_params(r, &template);
        let mut verdict = Verdict::default();
        if self.limits.classify_injections {
            inject::scan_target(&r.target, &mut verdict);
        }
        let key = EndpointKey {
            host: r.host.clone(),
            method: r.method.clone(),
            template,
        };
        self.notable(r, &key, &verdict, &params);
        let width = i64::from(self.limits.window_ms.max(1));
        let window = r.ts_ms.div_euclid(width) * width;
        let slot = self.slots.entry((window, key)).or_default();
        slot.summary.window_start_ms = window;
        for (name, shape, sensitive) in params {
            if let Some(class) = sensitive {
                let location = name.split(':').next().unwrap_or("");
                *slot
                    .summary
                    .sensitive
                    .entry(format!("{location}:{}", class.as_str()))
                    .or_default() += 1;
            }
            let known = slot.summary.params.contains_key(&name);
            if !known && slot.summary.params.len() >= MAX_PARAMS_PER_ENDPOINT {
                continue;
            }
            let stats = slot.summary.params.entry(name).or_default();
            stats.count += 1;
            *stats.shapes.entry(shape).or_default() += 1;
        }
        let max_clients = self.limits.max_clients_per_endpoint;
        if slot.actors.len() < max_clients || slot.actors.contains_key(&(r.client_ip, r.principal))
        {
            let actor = slot.actors.entry((r.client_ip, r.principal)).or_default();
            actor.requests += 1;
            actor.auth_failures += u64::from(matches!(r.status, 401 | 403));
            actor.errors += u64::from(r.status >= 400);
            for h in refs {
                if actor.refs.len() >= MAX_REFS_PER_CLIENT {
                    break;
                }
                actor.refs.insert(h);
            }
        }
        let s = &mut slot.summary;
        if s.requests == 0 {
            s.first_seen_ms = r.ts_ms;
            s.last_seen_ms = r.ts_ms;
        } else {
            s.first_seen_ms = s.first_seen_ms.min(r.ts_ms);
            s.last_seen_ms = s.last_seen_ms.max(r.ts_ms);
        }
        s.requests += 1;
        *s.statuses.entry(r.status).or_default() += 1;
        s.request_bytes_sum = s.request_bytes_sum.saturating_add(r.request_bytes);
        s.response_bytes_sum = s.response_bytes_sum.saturating_add(r.response_bytes);
        s.latency_us_sum = s.latency_us_sum.saturating_add(r.latency_us);
        s.latency_us_max = s.latency_us_max.max(r.latency_us);
        s.latency_us_hist.record(r.latency_us);
        for f in verdict.findings.iter().chain(&r.injections) {
            let key = format!("{}:{}", f.location.as_str(), f.hit.rule);
            if s.injections.len() < MAX_INJECTION_KEYS || s.injections.contains_key(&key) {
                *s.injections.entry(key).or_default() += 1;
            }
        }
        if let Some(label) = r.agent {
            *s.suspicious_agents.entry(label.to_owned()).or_default() += 1;
        }
        s.request_bytes_hist.record(r.request_bytes);
        s.response_bytes_hist.record(r.response_bytes);
        s.auth_present += u64::from(r.auth_present);
        s.plaintext_requests += u64::from(r.scheme == Some(Scheme::Http));
        *s.auth_schemes
            .entry(r.auth.as_str().to_owned())
            .or_default() += 1;
        if let Some(p) = r.principal
            && slot.principals.len() < self.limits.max_clients_per_endpoint
        {
            slot.principals.insert(p);
        }
        if let Some(ip) = r.client_ip {
            s.public_client_requests += u64::from(is_public(ip));
            if slot.clients.len() < self.limits.max_clients_per_endpoint {
                slot.clients.insert(ip);
            } else if !slot.clients.contains(&ip) {
                self.clients_over_cap += 1;
            }
        }
        self.requests += 1;
        let (lo, hi) = self.window.get_or_insert((r.ts_ms, r.ts_ms));
        *lo = (*lo).min(r.ts_ms);
        *hi = (*hi).max(r.ts_ms);
    }

    /// Records a flagged request (injection, sensitive data in the URL, suspicious agent) as a
    /// redacted event: labels only.
    fn notable(
        &mut self,
        r: &RequestRecord,
        key: &EndpointKey,
        verdict: &Verdict,
        params: &[(String, Shape, Option<Sensitive>)],
    ) {
        let mut kinds = Vec::new();
        let mut labels = Vec::new();
        for f in verdict.findings.iter().chain(&r.injections) {
            labels.push(format!("{}:{}", f.location.as_str(), f.hit.rule));
        }
        if !labels.is_empty() {
            kinds.push(NotableKind::Injection);
        }
        let in_url = params.iter().filter_map(|(name, _, s)| {
            let location = name.split(':').next().unwrap_or("");
            s.filter(|_| location == "query" || location == "path")
                .map(|s| format!("{location}:{}", s.as_str()))
        });
        let before = labels.len();
        labels.extend(in_url);
        if labels.len() > before {
            kinds.push(NotableKind::SensitiveInUrl);
        }
        if let Some(agent) = r.agent {
            kinds.push(NotableKind::SuspiciousAgent);
            labels.push(format!("agent:{agent}"));
        }
        if kinds.is_empty() {
            return;
        }
        if self.notables.len() >= MAX_NOTABLES_PER_BATCH {
            self.notables_dropped += 1;
            return;
        }
        labels.sort();
        labels.dedup();
        labels.truncate(MAX_NOTABLE_LABELS);
        self.notables.push(NotableEvent {
            ts_ms: r.ts_ms,
            endpoint: key.clone(),
            kinds,
            labels,
            client_ip: r.client_ip,
            principal: r.principal.map(Principal::to_hex),
            status: r.status,
        });
    }

    /// Hashes of the raw values at the template's parameter positions (object identifiers).
    fn object_refs(&self, target: &str, template: &str) -> Vec<u64> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        let raw = path.split('/').filter(|s| !s.is_empty());
        let tpl = template.split('/').filter(|s| !s.is_empty());
        raw.zip(tpl)
            .filter(|(_, t)| t.starts_with('{'))
            .map(|(v, t)| self.refs_hasher.hash_one((t, v)))
            .collect()
    }

    /// Whether sealing now would produce something worth sending.
    pub fn has_content(&self) -> bool {
        !self.slots.is_empty() || self.positions_moved || !self.notables.is_empty()
    }

    /// Takes the batch under construction, leaving an empty one.
    pub fn seal(&mut self) -> Sealed {
        let mut endpoints: Vec<(EndpointKey, EndpointSummary)> = self
            .slots
            .drain()
            .map(|((_, k), mut slot)| {
                slot.summary.distinct_clients = slot.clients.len() as u64;
                slot.summary.distinct_principals = slot.principals.len() as u64;
                slot.summary.top_clients = slot.top_clients();
                (k, slot.summary)
            })
            .collect();
        endpoints.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.window_start_ms.cmp(&b.1.window_start_ms))
        });
        let (start, end) = self.window.take().unwrap_or((0, 0));
        self.positions_moved = false;
        let requests = std::mem::take(&mut self.requests);
        debug_assert_eq!(
            requests,
            endpoints.iter().map(|(_, s)| s.requests).sum::<u64>()
        );
        Sealed {
            window_ms: self.limits.window_ms,
            endpoints,
            positions: self.positions.clone(),
            window_start_ms: start,
            window_end_ms: end,
            requests,
            notables: std::mem::take(&mut self.notables),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(target: &str, ts: i64, ip: &str, status: u16) -> RequestRecord {
        RequestRecord {
            ts_ms: ts,
            method: "GET".into(),
            host: "api".into(),
            target: target.into(),
            status,
            request_bytes: 10,
            response_bytes: 100,
            latency_us: 1000,
            client_ip: ip.parse().ok(),
            ..Default::default()
        }
    }

    fn chunk(records: Vec<RequestRecord>, offset: Option<u64>) -> Chunk {
        Chunk {
            source: "f".into(),
            records,
            position: offset.map(|o| FilePosition {
                inode: 1,
                offset: o,
            }),
        }
    }

    #[test]
    fn folds_by_template_and_counts_clients() {
        let mut a = Aggregator::new(AggregateLimits::default());
        a.add_chunk(chunk(
            vec![
                rec("/users/1", 5, "8.8.8.8", 200),
                rec("/users/2?x=1", 3, "10.0.0.1", 404),
                rec("/users/3", 9, "8.8.8.8", 200),
                rec("/health", 4, "10.0.0.1", 200),
            ],
            Some(77),
        ));
        let sealed = a.seal();
        assert_eq!(sealed.requests, 4);
        assert_eq!((sealed.window_start_ms, sealed.window_end_ms), (3, 9));
        assert_eq!(sealed.positions.get("f").map(|p| p.offset), Some(77));
        let users = &sealed
            .endpoints
            .iter()
            .find(|(k, _)| k.template == "/users/{id}")
            .unwrap()
            .1;
        assert_eq!(
            (
                users.requests,
                users.distinct_clients,
                users.public_client_requests
            ),
            (3, 2, 2)
        );
        assert_eq!((users.first_seen_ms, users.last_seen_ms), (3, 9));
        assert_eq!(users.statuses.get(&404), Some(&1));
        assert!(!a.has_content());
    }

    #[test]
    fn seals_early_when_full_and_caps_clients() {
        let limits = AggregateLimits {
            max_batch_endpoints: 2,
            max_clients_per_endpoint: 1,
            ..Default::default()
        };
        let mut a = Aggregator::new(limits);
        assert!(!a.add_chunk(chunk(
            vec![rec("/a", 1, "1.1.1.1", 200), rec("/a", 1, "1.1.1.2", 200)],
            None
        )));
        assert_eq!(a.clients_over_cap, 1);
        assert!(a.add_chunk(chunk(vec![rec("/b", 1, "1.1.1.1", 200)], None)));
        assert_eq!(a.seal().endpoints.len(), 2);
    }

    #[test]
    fn event_time_windows_and_busiest_clients() {
        let mut a = Aggregator::new(AggregateLimits::default());
        let mut recs = Vec::new();
        // One client walks 30 distinct ids and fails auth twice; another repeats one id.
        for i in 0..30 {
            recs.push(rec(
                &format!("/orders/{i}"),
                10_100 + i,
                "81.2.69.1",
                if i < 2 { 401 } else { 200 },
            ));
        }
        for _ in 0..5 {
            recs.push(rec("/orders/7", 10_500, "81.2.69.2", 200));
        }
        recs.push(rec("/orders/8", 11_200, "81.2.69.2", 404));
        a.add_chunk(chunk(recs, None));
        let sealed = a.seal();
        assert_eq!(sealed.window_ms, 1_000);
        let windows: Vec<(i64, u64)> = sealed
            .endpoints
            .iter()
            .map(|(_, s)| (s.window_start_ms, s.requests))
            .collect();
        assert_eq!(windows, vec![(10_000, 35), (11_000, 1)]);
        let first = &sealed.endpoints[0].1.top_clients;
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].client_ip, "81.2.69.1".parse().ok());
        assert_eq!(
            (
                first[0].requests,
                first[0].auth_failures,
                first[0].distinct_object_refs
            ),
            (30, 2, 30)
        );
        assert_eq!((first[1].requests, first[1].distinct_object_refs), (5, 1));
        assert_eq!(sealed.endpoints[1].1.top_clients[0].errors, 1);
    }

    #[test]
    fn injection_hits_counted_by_location_and_rule() {
        let mut a = Aggregator::new(AggregateLimits::default());
        let mut from_body = rec("/login", 1, "8.8.8.8", 200);
        from_body.injections.push(inject::Finding {
            hit: inject::Hit {
                class: inject::Class::Nosqli,
                rule: "nosqli.operator",
            },
            location: inject::Location::Body,
        });
        a.add_chunk(chunk(
            vec![
                rec("/search?q=1%27%20union%20select%201,2--", 1, "8.8.8.8", 200),
                rec("/search?q=shoes", 2, "8.8.8.8", 200),
                rec("/files/..%2f..%2fetc%2fpasswd", 3, "8.8.8.8", 404),
                from_body,
            ],
            None,
        ));
        let sealed = a.seal();
        let all: BTreeMap<String, u64> = sealed
            .endpoints
            .iter()
            .flat_map(|(_, s)| s.injections.clone())
            .collect();
        assert_eq!(all.get("query:sqli.union-select"), Some(&1));
        assert_eq!(all.get("path:traversal.dot-dot"), Some(&1));
        assert_eq!(all.get("body:nosqli.operator"), Some(&1));
        assert!(!all.keys().any(|k| k.contains("shoes")));

        let mut off = Aggregator::new(AggregateLimits {
            classify_injections: false,
            ..Default::default()
        });
        off.add_chunk(chunk(
            vec![rec("/s?q=1%27%20union%20select%201,2--", 1, "8.8.8.8", 200)],
            None,
        ));
        assert!(off.seal().endpoints[0].1.injections.is_empty());
    }

    #[test]
    fn flagged_requests_become_bounded_redacted_notables() {
        let mut a = Aggregator::new(AggregateLimits::default());
        let mut scanner = rec("/ok", 5, "8.8.8.8", 200);
        scanner.agent = Some("scanner:sqlmap");
        a.add_chunk(chunk(
            vec![
                rec("/s?q=1%27%20or%201=1--", 1, "8.8.8.8", 200),
                rec("/s?email=a.person@example.com", 2, "8.8.8.8", 200),
                rec("/s?q=shoes", 3, "8.8.8.8", 200),
                scanner,
            ],
            None,
        ));
        let sealed = a.seal();
        let kinds: Vec<Vec<NotableKind>> =
            sealed.notables.iter().map(|n| n.kinds.clone()).collect();
        assert_eq!(
            kinds,
            [
                vec![NotableKind::Injection],
                vec![NotableKind::SensitiveInUrl],
                vec![NotableKind::SuspiciousAgent]
            ]
        );
        assert!(
            sealed.notables[0]
                .labels
                .iter()
                .all(|l| l.starts_with("query:sqli."))
        );
        assert_eq!(sealed.notables[1].labels, ["query:email"]);
        assert_eq!(sealed.notables[2].labels, ["agent:scanner:sqlmap"]);
        let text = format!("{:?}", sealed.notables);
        assert!(!text.contains("person@") && !text.contains("1=1"));

        let flood: Vec<RequestRecord> = (0..MAX_NOTABLES_PER_BATCH + 10)
            .map(|i| {
                rec(
                    &format!("/s?q={i}%27%20union%20select%201--"),
                    1,
                    "8.8.8.8",
                    200,
                )
            })
            .collect();
        a.add_chunk(chunk(flood, None));
        assert_eq!(a.seal().notables.len(), MAX_NOTABLES_PER_BATCH);
        assert_eq!(a.notables_dropped, 10);
    }

    #[test]
    fn positions_alone_are_content() {
        let mut a = Aggregator::new(AggregateLimits::default());
        a.add_chunk(chunk(vec![], Some(10)));
        assert!(a.has_content());
        let s = a.seal();
        assert_eq!((s.requests, s.endpoints.len()), (0, 0));
        assert!(!a.has_content());
    }
}
