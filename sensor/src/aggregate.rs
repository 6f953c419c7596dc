//! Folds normalized requests into per-endpoint summaries and seals them into batches.
//! Raw values (targets, client addresses) stop here: a sealed batch holds templates and counts.
//!
//! The batch under construction is bounded by endpoints (`max_batch_endpoints`), by actors
//! (`max_batch_actors`) and by its approximate size in memory (`max_batch_bytes`): a busy
//! second with many clients seals early instead of growing the sensor's footprint.
//!
//! Besides one summary per endpoint and window it keeps one [`ActorSummary`] per client and
//! window ([`actors`]), and for the busiest clients of each endpoint a sample of their object
//! references ([`kmv`]).

mod actors;
mod evidence;
mod kmv;
mod slot;

use crate::identity::Principal;
use crate::record::{RequestRecord, Scheme, is_public};
use crate::sources::{Chunk, FilePosition};
use hashbrown::HashTable;
use picket_shared::inject::{self, Verdict};
use picket_shared::learn::{Evidence, LearnerLimits, TemplateLearner};
use picket_shared::{ActorSummary, EndpointKey, EndpointSummary, NotableEvent};
use slot::{SLOT_BASE_BYTES, Slot, table_bytes};
use std::collections::BTreeMap;
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
    /// Actors (client and window) in one batch, at most [`MAX_ACTORS_PER_BATCH`]; reaching
    /// it seals the batch early, so every client of a window gets its summary.
    pub max_batch_actors: usize,
    /// Path-template learning.
    pub learner: LearnerLimits,
    /// Width of the event-time windows, in milliseconds.
    pub window_ms: u32,
    /// Judge path and query for injections (headers and bodies are judged by the sources that
    /// see them, into [`RequestRecord::injections`]).
    pub classify_injections: bool,
}

/// Distinct `location:rule` injection keys kept per endpoint and window.
pub use picket_shared::limits::MAX_INJECTION_KEYS;

/// Clients reported per endpoint and window (the busiest); within what the controller keeps.
pub const TOP_CLIENTS: usize = 32;
const _: () = assert!(TOP_CLIENTS <= picket_shared::limits::MAX_TOP_CLIENTS);
/// Distinct object references remembered per client per endpoint and window.
pub const MAX_REFS_PER_CLIENT: usize = 1_024;
pub use actors::MAX_REFS_PER_ACTOR;
pub use picket_shared::limits::MAX_ACTORS_PER_BATCH;

impl Default for AggregateLimits {
    fn default() -> Self {
        Self {
            max_batch_endpoints: 5_000,
            max_batch_bytes: 2 * 1024 * 1024,
            max_clients_per_endpoint: 4_096,
            max_batch_actors: MAX_ACTORS_PER_BATCH,
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
    /// One summary per client and window, in no particular order.
    pub actors: Vec<ActorSummary>,
    /// Holds records of a source that can wait (see `Chunk::can_wait`).
    pub can_wait: bool,
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
    /// One entry per client and window.
    actors: actors::Actors,
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
    /// The request's object references that were new for its client on its endpoint.
    new_refs: Vec<u64>,
    /// Sensitive-data labels (`query:email`) of the request's URL.
    url_sensitive: Vec<String>,
    /// Client addresses not counted because an endpoint's client set was full.
    pub clients_over_cap: u64,
    notables: Vec<NotableEvent>,
    /// Notable events not kept because the batch already held its maximum (cumulative).
    pub notables_dropped: u64,
    /// Actors (client and window) that got no summary because the batch already held
    /// `max_batch_actors` (cumulative). `fill` seals a batch as soon as it reaches the limit,
    /// so through `fill` nothing is dropped; this counts what direct callers of `add` lose.
    pub actors_dropped: u64,
    /// Batches sealed early because they reached `max_batch_bytes`.
    pub sealed_for_bytes: u64,
    /// Whether the batch under construction holds records of a source that can wait.
    can_wait: bool,
    /// The controller's bounds (from its `Welcome`), applied on top of `limits`.
    wire_max_endpoints: usize,
    wire_max_bytes: usize,
    /// Turns request targets into endpoint templates; lives as long as the sensor.
    pub learner: TemplateLearner,
}

impl Aggregator {
    /// An empty aggregator; `max_batch_actors` is clamped to `1..=MAX_ACTORS_PER_BATCH`.
    pub fn new(mut limits: AggregateLimits) -> Self {
        limits.max_batch_actors = limits.max_batch_actors.clamp(1, MAX_ACTORS_PER_BATCH);
        Self {
            limits,
            hasher: foldhash::quality::RandomState::default(),
            keys: Vec::new(),
            key_ids: HashTable::new(),
            slots: Vec::new(),
            slot_ids: HashTable::new(),
            actors: actors::Actors::default(),
            bytes: 0,
            positions: BTreeMap::new(),
            positions_moved: false,
            requests: 0,
            window: None,
            template: String::new(),
            name: String::new(),
            refs: Vec::new(),
            new_refs: Vec::new(),
            url_sensitive: Vec::new(),
            clients_over_cap: 0,
            notables: Vec::new(),
            notables_dropped: 0,
            actors_dropped: 0,
            sealed_for_bytes: 0,
            can_wait: false,
            wire_max_endpoints: usize::MAX,
            wire_max_bytes: usize::MAX,
            learner: TemplateLearner::new(limits.learner),
        }
    }

    /// Adds records from the front of `chunk` until the batch is full. Returns true when it
    /// is: seal it, then call again while `chunk` has records left. The chunk's position is
    /// taken with its last record, so it only ever lands in the batch that completes it; a
    /// batch that takes only the front of a chunk gets the position after its last record
    /// (from `record_ends`), so a restart from it re-reads none of its records.
    pub fn fill(&mut self, chunk: &mut Chunk) -> bool {
        self.can_wait |= chunk.can_wait && !chunk.records.is_empty();
        let mut used = 0;
        while used < chunk.records.len() {
            self.add(&chunk.records[used]);
            used += 1;
            if used < chunk.records.len() && self.is_full() {
                self.split_chunk(chunk, used);
                return true;
            }
        }
        chunk.records.clear();
        chunk.record_ends.clear();
        if let Some(pos) = chunk.position.take() {
            self.positions.insert(chunk.source.clone(), pos);
            self.positions_moved = true;
        }
        self.is_full()
    }

    /// Applies the controller's announced limits on top of the configured ones: at most
    /// `max_endpoints` summaries per batch, and half of `max_message_bytes` of approximate
    /// memory per batch (the in-memory estimate runs well above the encoded size, so a
    /// batch within it encodes within the message limit). `None` lifts a bound.
    pub fn set_wire_limits(
        &mut self,
        max_endpoints: Option<usize>,
        max_message_bytes: Option<usize>,
    ) {
        self.wire_max_endpoints = max_endpoints.unwrap_or(usize::MAX).max(1);
        self.wire_max_bytes = max_message_bytes.map_or(usize::MAX, |b| (b / 2).max(1));
    }

    /// Removes the `used` records the batch took from the front of `chunk`, moving the
    /// source's position to just after the last of them when the chunk says where its records
    /// end.
    fn split_chunk(&mut self, chunk: &mut Chunk, used: usize) {
        let exact = chunk.record_ends.len() == chunk.records.len();
        if exact {
            if let Some(pos) = chunk.position {
                let offset = chunk.record_ends[used - 1];
                debug_assert!(offset <= pos.offset, "record ends lie within the chunk");
                let at = FilePosition {
                    inode: pos.inode,
                    offset,
                };
                self.positions.insert(chunk.source.clone(), at);
                self.positions_moved = true;
            }
            chunk.record_ends.drain(..used);
        } else {
            chunk.record_ends.clear();
        }
        chunk.records.drain(..used);
    }

    /// Whether the batch reached `max_batch_endpoints`, `max_batch_actors` or
    /// `max_batch_bytes` (or the controller's bounds; counted in `sealed_for_bytes` when the
    /// bytes did it).
    fn is_full(&mut self) -> bool {
        if self.slots.len() >= self.limits.max_batch_endpoints.min(self.wire_max_endpoints)
            || self.actors.len() >= self.limits.max_batch_actors
        {
            return true;
        }
        if self.bytes >= self.limits.max_batch_bytes.min(self.wire_max_bytes) {
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
        if let Some(label) = r.content_type {
            // Bounded by the vocabulary: at most `media::LABELS.len()` keys.
            match s.request_content_types.get_mut(label) {
                Some(n) => *n += 1,
                None => {
                    *bytes += label.len() + 64;
                    s.request_content_types.insert(label.to_owned(), 1);
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
        let actors = self.actors.drain();
        debug_assert!(actors.iter().map(|a| a.requests).sum::<u64>() <= requests);
        Sealed {
            window_ms: self.limits.window_ms,
            endpoints,
            positions: self.positions.clone(),
            window_start_ms: start,
            window_end_ms: end,
            requests,
            notables: std::mem::take(&mut self.notables),
            actors,
            can_wait: std::mem::take(&mut self.can_wait),
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
pub(super) fn principal_hash(p: Principal) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&p.0[..8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod actor_tests;
