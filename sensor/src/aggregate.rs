//! Folds normalized requests into per-endpoint summaries and seals them into batches.
//! Raw values (targets, client addresses) stop here: a sealed batch holds templates and counts.
//!
//! The batch under construction is bounded by endpoints (`max_batch_endpoints`) and by its
//! approximate size in memory (`max_batch_bytes`): a busy second with many clients seals early
//! instead of growing the sensor's footprint.

mod slot;

use crate::identity::Principal;
use crate::record::{RequestRecord, Scheme, is_public};
use crate::sources::{Chunk, FilePosition};
use hashbrown::HashTable;
use picket_shared::inject::{self, Verdict};
use picket_shared::learn::{Evidence, LearnerLimits, TemplateLearner};
use picket_shared::sensitive::{Sensitive, classify};
use picket_shared::shape::{Shape, percent_decoded, shape_of};
use picket_shared::summary::{
    MAX_NOTABLE_LABELS, MAX_NOTABLES_PER_BATCH, MAX_PARAMS_PER_ENDPOINT, ParamStats,
};
use picket_shared::{EndpointKey, EndpointSummary, NotableEvent, NotableKind};
use slot::{SLOT_BASE_BYTES, Slot, table_bytes};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Limits of one batch under construction.
#[derive(Debug, Clone, Copy)]
pub struct AggregateLimits {
    /// Distinct endpoints in one batch; reaching it seals the batch early.
    pub max_batch_endpoints: usize,
    /// Approximate bytes the batch under construction may hold in memory (its endpoints,
    /// clients, principals and object references); reaching it seals the batch early.
    pub max_batch_bytes: usize,
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
            max_batch_bytes: 2 * 1024 * 1024,
            max_clients_per_endpoint: 4_096,
            learner: LearnerLimits::default(),
            window_ms: 1_000,
            classify_injections: true,
        }
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
    /// Seeded per process: hashes endpoint keys, clients and object-reference values (the
    /// hashes never leave the process; only counts do).
    hasher: foldhash::quality::RandomState,
    /// Endpoint keys of this batch, and their index by `(host, method, template)` hash.
    keys: Vec<EndpointKey>,
    key_ids: HashTable<u32>,
    /// One slot per endpoint and window, and their index by `(window, key)` hash.
    slots: Vec<Slot>,
    slot_ids: HashTable<u32>,
    /// Approximate heap bytes held by the batch under construction.
    bytes: usize,
    positions: BTreeMap<Arc<str>, FilePosition>,
    positions_moved: bool,
    requests: u64,
    window: Option<(i64, i64)>,
    /// Scratch buffers reused from request to request.
    template: String,
    name: String,
    refs: Vec<u64>,
    /// Sensitive-data labels (`query:email`) of the request's URL.
    url_sensitive: Vec<String>,
    /// Client addresses not counted because an endpoint's client set was full.
    pub clients_over_cap: u64,
    notables: Vec<NotableEvent>,
    /// Notable events not kept because the batch already held its maximum (cumulative).
    pub notables_dropped: u64,
    /// Batches sealed early because they reached `max_batch_bytes`.
    pub sealed_for_bytes: u64,
    /// Turns request targets into endpoint templates; lives as long as the sensor.
    pub learner: TemplateLearner,
}

/// Counts one parameter (named `location:name`) of a request in `s`.
fn add_param(
    s: &mut EndpointSummary,
    name: &str,
    shape: Shape,
    sensitive: Option<Sensitive>,
    bytes: &mut usize,
) {
    if let Some(class) = sensitive {
        let location = name.split(':').next().unwrap_or("");
        *s.sensitive
            .entry(format!("{location}:{}", class.as_str()))
            .or_default() += 1;
    }
    let count = |stats: &mut ParamStats| {
        stats.count += 1;
        *stats.shapes.entry(shape).or_default() += 1;
    };
    if let Some(stats) = s.params.get_mut(name) {
        count(stats);
    } else if s.params.len() < MAX_PARAMS_PER_ENDPOINT {
        *bytes += name.len() + size_of::<ParamStats>() + 64;
        count(s.params.entry(name.to_owned()).or_default());
    }
}

impl Aggregator {
    pub fn new(limits: AggregateLimits) -> Self {
        Self {
            limits,
            hasher: foldhash::quality::RandomState::default(),
            keys: Vec::new(),
            key_ids: HashTable::new(),
            slots: Vec::new(),
            slot_ids: HashTable::new(),
            bytes: 0,
            positions: BTreeMap::new(),
            positions_moved: false,
            requests: 0,
            window: None,
            template: String::new(),
            name: String::new(),
            refs: Vec::new(),
            url_sensitive: Vec::new(),
            clients_over_cap: 0,
            notables: Vec::new(),
            notables_dropped: 0,
            sealed_for_bytes: 0,
            learner: TemplateLearner::new(limits.learner),
        }
    }

    /// Adds a chunk. Returns true when the batch is full and should be sealed now (it may have
    /// gone past its bounds by part of the chunk; [`Aggregator::fill`] stops at them).
    pub fn add_chunk(&mut self, chunk: Chunk) -> bool {
        for r in &chunk.records {
            self.add(r);
        }
        if let Some(pos) = chunk.position {
            self.positions.insert(chunk.source, pos);
            self.positions_moved = true;
        }
        self.is_full()
    }

    /// Adds records from the front of `chunk` until the batch is full. Returns true when it
    /// is: seal it, then call again while `chunk` has records left. The chunk's position is
    /// taken with its last record, so it only ever lands in the batch that completes it.
    pub fn fill(&mut self, chunk: &mut Chunk) -> bool {
        let mut used = 0;
        while used < chunk.records.len() {
            self.add(&chunk.records[used]);
            used += 1;
            if used < chunk.records.len() && self.is_full() {
                chunk.records.drain(..used);
                return true;
            }
        }
        chunk.records.clear();
        if let Some(pos) = chunk.position.take() {
            self.positions.insert(chunk.source.clone(), pos);
            self.positions_moved = true;
        }
        self.is_full()
    }

    /// Whether the batch reached `max_batch_endpoints` or `max_batch_bytes` (counted in
    /// `sealed_for_bytes` when the bytes did it).
    fn is_full(&mut self) -> bool {
        if self.slots.len() >= self.limits.max_batch_endpoints {
            return true;
        }
        if self.bytes >= self.limits.max_batch_bytes {
            self.sealed_for_bytes += 1;
            return true;
        }
        false
    }

    /// Approximate heap bytes held by the batch under construction.
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// The index of the slot of `(window, host, method, template)`, created when new.
    fn slot_index(&mut self, window: i64, host: &str, method: &str, template: &str) -> usize {
        let Self {
            hasher,
            keys,
            key_ids,
            slots,
            slot_ids,
            bytes,
            ..
        } = self;
        let h = hasher.hash_one((host, method, template));
        let eq = |id: &u32| {
            let k = &keys[*id as usize];
            k.template == template && k.host == host && k.method == method
        };
        let key = match key_ids.find(h, eq) {
            Some(id) => *id,
            None => {
                let id = keys.len() as u32;
                keys.push(EndpointKey {
                    host: host.to_owned(),
                    method: method.to_owned(),
                    template: template.to_owned(),
                });
                let before = key_ids.capacity();
                let rehash = |id: &u32| {
                    let k = &keys[*id as usize];
                    hasher.hash_one((k.host.as_str(), k.method.as_str(), k.template.as_str()))
                };
                key_ids.insert_unique(h, id, rehash);
                *bytes += size_of::<EndpointKey>() + host.len() + method.len() + template.len();
                *bytes += table_bytes::<u32>(key_ids.capacity().saturating_sub(before));
                id
            }
        };
        let h = hasher.hash_one((window, key));
        let found = slot_ids.find(h, |i| {
            let s = &slots[*i as usize];
            s.window == window && s.key == key
        });
        if let Some(i) = found {
            return *i as usize;
        }
        let i = slots.len();
        slots.push(Slot::new(window, key));
        let before = slot_ids.capacity();
        let rehash = |i: &u32| {
            let s = &slots[*i as usize];
            hasher.hash_one((s.window, s.key))
        };
        slot_ids.insert_unique(h, i as u32, rehash);
        *bytes += SLOT_BASE_BYTES + table_bytes::<u32>(slot_ids.capacity().saturating_sub(before));
        i
    }

    fn add(&mut self, r: &RequestRecord) {
        let mut template = std::mem::take(&mut self.template);
        self.learner
            .template_into(&r.host, &r.target, learner_evidence(r), &mut template);
        let width = i64::from(self.limits.window_ms.max(1));
        let window = r.ts_ms.div_euclid(width) * width;
        let i = self.slot_index(window, &r.host, &r.method, &template);
        self.add_params(i, r, &template);
        let mut verdict = Verdict::default();
        if self.limits.classify_injections {
            inject::scan_target(&r.target, &mut verdict);
        }
        self.notable(r, &template, &verdict);
        self.template = template;
        self.add_client(i, r);
        let Self {
            slots,
            hasher,
            bytes,
            ..
        } = self;
        let slot = &mut slots[i];
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
            if let Some(n) = s.injections.get_mut(&key) {
                *n += 1;
            } else if s.injections.len() < MAX_INJECTION_KEYS {
                *bytes += key.len() + 64;
                s.injections.insert(key, 1);
            }
        }
        if let Some(label) = r.agent {
            match s.suspicious_agents.get_mut(label) {
                Some(n) => *n += 1,
                None => {
                    s.suspicious_agents.insert(label.to_owned(), 1);
                }
            }
        }
        s.request_bytes_hist.record(r.request_bytes);
        s.response_bytes_hist.record(r.response_bytes);
        s.auth_present += u64::from(r.auth_present);
        s.plaintext_requests += u64::from(r.scheme == Some(Scheme::Http));
        slot.auth_schemes[r.auth as usize] += 1;
        if let Some(p) = r.principal
            && slot.principals.len() < self.limits.max_clients_per_endpoint
        {
            slot.principals.insert(principal_hash(p), bytes);
        }
        if let Some(ip) = r.client_ip {
            slot.summary.public_client_requests += u64::from(is_public(ip));
            let h = hasher.hash_one(ip);
            if slot.clients.len() < self.limits.max_clients_per_endpoint {
                slot.clients.insert(h, bytes);
            } else if !slot.clients.contains(h) {
                self.clients_over_cap += 1;
            }
        }
        self.requests += 1;
        let (lo, hi) = self.window.get_or_insert((r.ts_ms, r.ts_ms));
        *lo = (*lo).min(r.ts_ms);
        *hi = (*hi).max(r.ts_ms);
    }

    /// Query, path and body parameters of a request (keyed `location:name`, with the
    /// sensitive-data class of each value), and the hashes of its object references (the raw
    /// values at the template's parameter positions), gathered in `self.refs`.
    fn add_params(&mut self, i: usize, r: &RequestRecord, template: &str) {
        let Self {
            slots,
            hasher,
            bytes,
            name,
            refs,
            url_sensitive,
            ..
        } = self;
        let s = &mut slots[i].summary;
        url_sensitive.clear();
        if let Some(q) = picket_shared::params::query_string(&r.target) {
            picket_shared::params::for_each_urlencoded(q, |n, shape, sensitive| {
                name.clear();
                name.push_str("query:");
                name.push_str(n);
                if let Some(class) = sensitive {
                    url_sensitive.push(format!("query:{}", class.as_str()));
                }
                add_param(s, name, shape, sensitive, bytes);
            });
        }
        refs.clear();
        let path = picket_shared::template::path_of(&r.target);
        let mut previous = "";
        let segments = path.split('/').filter(|s| !s.is_empty());
        for (i, (raw, t)) in segments
            .zip(template.split('/').filter(|s| !s.is_empty()))
            .enumerate()
        {
            if t.starts_with('{') {
                refs.push(hasher.hash_one((t, raw)));
            }
            if let Some(inner) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                name.clear();
                name.push_str("path:");
                match (inner, previous) {
                    ("id", p) if !p.is_empty() && !p.starts_with('{') => {
                        name.push_str(p);
                        name.push_str(".id");
                    }
                    ("id", _) => {
                        // Writing to a String cannot fail.
                        let _ = write!(name, "id@{i}");
                    }
                    (n, _) => name.push_str(n),
                }
                let value = percent_decoded(raw, false);
                let sensitive = classify(&value);
                if let Some(class) = sensitive {
                    url_sensitive.push(format!("path:{}", class.as_str()));
                }
                add_param(s, name, shape_of(&value), sensitive, bytes);
            }
            previous = t;
        }
        for p in &r.body_params {
            name.clear();
            name.push_str("body:");
            name.push_str(&p.name);
            add_param(s, name, p.shape, p.sensitive, bytes);
        }
    }

    /// The client's activity: requests, failures, errors and distinct object references.
    fn add_client(&mut self, i: usize, r: &RequestRecord) {
        let Self {
            slots,
            hasher,
            bytes,
            refs,
            limits,
            ..
        } = self;
        let slot = &mut slots[i];
        let key = (r.client_ip, r.principal);
        let h = hasher.hash_one(key);
        let before = slot.actors_capacity();
        let Some(actor) = slot.actor(key, h, hasher, limits.max_clients_per_endpoint) else {
            return;
        };
        actor.requests = actor.requests.saturating_add(1);
        actor.auth_failures = actor
            .auth_failures
            .saturating_add(u32::from(matches!(r.status, 401 | 403)));
        actor.errors = actor.errors.saturating_add(u32::from(r.status >= 400));
        let mut known = actor.refs as usize;
        let mut added = 0;
        for &rf in refs.iter() {
            if known >= MAX_REFS_PER_CLIENT {
                break;
            }
            if slot.add_ref(h, rf, bytes) {
                known += 1;
                added += 1;
            }
        }
        if added > 0
            && let Some(actor) = slot.actor(key, h, hasher, usize::MAX)
        {
            actor.refs += added;
        }
        *bytes += table_bytes::<slot::Actor>(slot.actors_capacity().saturating_sub(before));
    }

    /// Records a flagged request (injection, sensitive data in the URL, suspicious agent) as a
    /// redacted event: labels only.
    fn notable(&mut self, r: &RequestRecord, template: &str, verdict: &Verdict) {
        let mut kinds = Vec::new();
        let mut labels = Vec::new();
        for f in verdict.findings.iter().chain(&r.injections) {
            labels.push(format!("{}:{}", f.location.as_str(), f.hit.rule));
        }
        if !labels.is_empty() {
            kinds.push(NotableKind::Injection);
        }
        if !self.url_sensitive.is_empty() {
            kinds.push(NotableKind::SensitiveInUrl);
            labels.extend(self.url_sensitive.iter().cloned());
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
        self.bytes += 256 + labels.iter().map(String::len).sum::<usize>();
        self.notables.push(NotableEvent {
            ts_ms: r.ts_ms,
            endpoint: EndpointKey {
                host: r.host.clone(),
                method: r.method.clone(),
                template: template.to_owned(),
            },
            kinds,
            labels,
            client_ip: r.client_ip,
            principal: r.principal.map(Principal::to_hex),
            status: r.status,
        });
    }

    /// Whether sealing now would produce something worth sending.
    pub fn has_content(&self) -> bool {
        !self.slots.is_empty() || self.positions_moved || !self.notables.is_empty()
    }

    /// Takes the batch under construction, leaving an empty one.
    pub fn seal(&mut self) -> Sealed {
        self.key_ids.clear();
        self.slot_ids.clear();
        self.bytes = 0;
        let keys = std::mem::take(&mut self.keys);
        let mut endpoints: Vec<(EndpointKey, EndpointSummary)> = self
            .slots
            .drain(..)
            .map(|slot| (keys[slot.key as usize].clone(), slot.finish()))
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

/// What the template learner learns from besides the path: the status, and the client as its
/// address (or, without one, its principal), so each client is one vote.
fn learner_evidence(r: &RequestRecord) -> Evidence {
    let client = match (r.client_ip, r.principal) {
        (Some(std::net::IpAddr::V4(v4)), _) => u64::from(v4.to_bits()),
        // An IPv6 client is its /64: one subscriber can rotate through the rest at will.
        (Some(std::net::IpAddr::V6(v6)), _) => ((v6.to_bits() >> 64) as u64) ^ (1 << 63),
        (None, Some(p)) => principal_hash(p),
        (None, None) => 0,
    };
    Evidence {
        status: r.status,
        client,
    }
}

/// A principal as a set member: its first 8 bytes (a keyed hash already, so uniform).
fn principal_hash(p: Principal) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&p.0[..8]);
    u64::from_le_bytes(b)
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
        let params: Vec<(&str, u64)> = users
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.count))
            .collect();
        assert_eq!(params, vec![("path:users.id", 3), ("query:x", 1)]);
        assert_eq!(users.auth_schemes, BTreeMap::from([("none".to_owned(), 3)]));
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
    fn fill_stops_at_the_endpoint_bound_and_keeps_the_position_for_the_last_part() {
        let limits = AggregateLimits {
            max_batch_endpoints: 2,
            ..Default::default()
        };
        let mut a = Aggregator::new(limits);
        let records = ["/a", "/b", "/c", "/d", "/e"]
            .iter()
            .map(|p| rec(p, 1, "1.1.1.1", 200))
            .collect();
        let mut c = chunk(records, Some(50));
        let mut batches = Vec::new();
        while a.fill(&mut c) {
            batches.push(a.seal());
        }
        batches.push(a.seal());
        let shape: Vec<(usize, Option<u64>)> = batches
            .iter()
            .map(|b| (b.endpoints.len(), b.positions.get("f").map(|p| p.offset)))
            .collect();
        assert_eq!(shape, vec![(2, None), (2, None), (1, Some(50))]);
        assert!(c.records.is_empty() && c.position.is_none());
    }

    #[test]
    fn seals_early_when_over_the_byte_budget() {
        let limits = AggregateLimits {
            max_batch_bytes: 256 * 1024,
            ..Default::default()
        };
        let mut a = Aggregator::new(limits);
        // One endpoint, one window: few clients stay well under the budget.
        let few: Vec<_> = (0..10)
            .map(|i| rec("/a", 1, &format!("81.0.0.{i}"), 200))
            .collect();
        assert!(!a.add_chunk(chunk(few, None)));
        let small = a.approx_bytes();
        assert!(small > 0 && small < limits.max_batch_bytes);
        // Many distinct clients with object references grow it past the budget.
        let mut full = false;
        for round in 0..100u32 {
            let many: Vec<_> = (0..1000u32)
                .map(|i| {
                    let n = round * 1000 + i;
                    let ip = format!("81.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
                    rec(&format!("/orders/{n}"), 1, &ip, 200)
                })
                .collect();
            if a.add_chunk(chunk(many, None)) {
                full = true;
                break;
            }
        }
        assert!(full, "the byte budget must seal the batch");
        assert_eq!(a.sealed_for_bytes, 1);
        assert!(a.approx_bytes() >= limits.max_batch_bytes);
        let sealed = a.seal();
        assert_eq!(sealed.endpoints.len(), 2);
        assert_eq!(a.approx_bytes(), 0);
        let orders = &sealed.endpoints[1].1;
        assert_eq!(orders.distinct_clients, orders.requests);
        assert_eq!(orders.top_clients.len(), TOP_CLIENTS);
        assert_eq!(orders.top_clients[0].distinct_object_refs, 1);
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

    #[test]
    fn answers_that_say_missing_do_not_teach_the_templates() {
        let names = |status: u16| -> Vec<RequestRecord> {
            (0..60)
                .map(|i| {
                    let ip = format!("10.0.{}.{}", i / 200, i % 200 + 1);
                    rec(&format!("/api/v1/shopper_{i}x"), i, &ip, status)
                })
                .collect()
        };
        let templates = |a: &mut Aggregator| -> Vec<String> {
            let sealed = a.seal();
            sealed
                .endpoints
                .into_iter()
                .map(|(k, _)| k.template)
                .collect()
        };
        // Sixty clients probing sixty made-up names, all answered 404: nothing is learned.
        let mut a = Aggregator::new(AggregateLimits::default());
        a.add_chunk(chunk(names(404), None));
        let probed = templates(&mut a);
        assert_eq!(probed.len(), 60, "each probe stays visible: {probed:?}");
        assert!(probed.iter().all(|t| !t.contains("{id}")), "{probed:?}");
        assert_eq!(a.learner.positions(), 0);
        // The same names answered 200 are a parameter.
        a.add_chunk(chunk(names(200), None));
        assert!(templates(&mut a).contains(&"/api/v1/{id}".to_owned()));
    }

    #[test]
    fn one_address_is_one_vote() {
        let mut a = Aggregator::new(AggregateLimits::default());
        let probes = (0..300)
            .map(|i| rec(&format!("/api/v1/shopper_{i}x"), i, "203.0.113.9", 200))
            .collect();
        a.add_chunk(chunk(probes, None));
        let sealed = a.seal();
        assert_eq!(sealed.endpoints.len(), 300);
        assert!(
            sealed
                .endpoints
                .iter()
                .all(|(k, _)| !k.template.contains("{id}"))
        );
    }
}
