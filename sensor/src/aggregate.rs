//! Folds normalized requests into per-endpoint summaries and seals them into batches.
//! Raw values (targets, client addresses) stop here: a sealed batch holds templates and counts.

use crate::record::{RequestRecord, Scheme, is_public};
use crate::sources::{Chunk, FilePosition};
use picket_shared::learn::{LearnerLimits, TemplateLearner};
use picket_shared::{EndpointKey, EndpointSummary};
use std::collections::{BTreeMap, HashMap, HashSet};
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
}

impl Default for AggregateLimits {
    fn default() -> Self {
        Self {
            max_batch_endpoints: 5_000,
            max_clients_per_endpoint: 4_096,
            learner: LearnerLimits::default(),
        }
    }
}

#[derive(Default)]
struct Slot {
    summary: EndpointSummary,
    clients: HashSet<IpAddr>,
    principals: HashSet<crate::identity::Principal>,
}

/// A batch ready for delivery, with the source positions it completes.
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    pub endpoints: Vec<(EndpointKey, EndpointSummary)>,
    /// Latest position of every file source, including this batch's lines.
    pub positions: BTreeMap<Arc<str>, FilePosition>,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub requests: u64,
}

/// The batch under construction.
pub struct Aggregator {
    limits: AggregateLimits,
    slots: HashMap<EndpointKey, Slot>,
    positions: BTreeMap<Arc<str>, FilePosition>,
    positions_moved: bool,
    requests: u64,
    window: Option<(i64, i64)>,
    /// Client addresses not counted because an endpoint's client set was full.
    pub clients_over_cap: u64,
    /// Turns request targets into endpoint templates; lives as long as the sensor.
    pub learner: TemplateLearner,
}

impl Aggregator {
    pub fn new(limits: AggregateLimits) -> Self {
        Self {
            limits,
            slots: HashMap::new(),
            positions: BTreeMap::new(),
            positions_moved: false,
            requests: 0,
            window: None,
            clients_over_cap: 0,
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
        let key = EndpointKey {
            host: r.host.clone(),
            method: r.method.clone(),
            template: self.learner.template(&r.host, &r.target),
        };
        let slot = self.slots.entry(key).or_default();
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

    /// Whether sealing now would produce something worth sending.
    pub fn has_content(&self) -> bool {
        !self.slots.is_empty() || self.positions_moved
    }

    /// Takes the batch under construction, leaving an empty one.
    pub fn seal(&mut self) -> Sealed {
        let mut endpoints: Vec<(EndpointKey, EndpointSummary)> = self
            .slots
            .drain()
            .map(|(k, mut slot)| {
                slot.summary.distinct_clients = slot.clients.len() as u64;
                slot.summary.distinct_principals = slot.principals.len() as u64;
                (k, slot.summary)
            })
            .collect();
        endpoints.sort_by(|a, b| a.0.cmp(&b.0));
        let (start, end) = self.window.take().unwrap_or((0, 0));
        self.positions_moved = false;
        let requests = std::mem::take(&mut self.requests);
        debug_assert_eq!(
            requests,
            endpoints.iter().map(|(_, s)| s.requests).sum::<u64>()
        );
        Sealed {
            endpoints,
            positions: self.positions.clone(),
            window_start_ms: start,
            window_end_ms: end,
            requests,
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
            auth_present: false,
            auth: crate::identity::AuthScheme::None,
            principal: None,
            scheme: None,
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
    fn positions_alone_are_content() {
        let mut a = Aggregator::new(AggregateLimits::default());
        a.add_chunk(chunk(vec![], Some(10)));
        assert!(a.has_content());
        let s = a.seal();
        assert_eq!((s.requests, s.endpoints.len()), (0, 0));
        assert!(!a.has_content());
    }
}
