//! One endpoint in one window of the batch under construction, laid out compactly: the batch
//! under construction is most of a busy sensor's memory (a slot per endpoint and window, an
//! entry per client of each), so its tables hold fixed-size entries and keyed 64-bit hashes
//! rather than maps of maps, and report how many bytes they grew by.

use super::kmv::{RefSample, ref_value};
use super::{MAX_REFS_PER_CLIENT, TOP_CLIENTS};
use crate::identity::{AuthScheme, Principal};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use picket_shared::{ClientActivity, EndpointSummary};
use std::hash::BuildHasher;
use std::net::IpAddr;

/// Who a client is: its address and its principal, either may be unknown.
pub(super) type ActorKey = (Option<IpAddr>, Option<Principal>);

/// Approximate heap bytes of `grown` more table entries of `T` (entry plus control byte, at
/// the table's maximum load of 7/8).
pub(super) fn table_bytes<T>(grown: usize) -> usize {
    grown * (size_of::<T>() + 1) * 8 / 7
}

/// A set of 64-bit keyed hashes (uniform already, so each is its own table hash). Distinct
/// counts through 64-bit hashes are exact but for collisions (~2⁻⁴⁰ at 4,096 entries).
#[derive(Default)]
pub(super) struct HashSet64(HashTable<u64>);

impl HashSet64 {
    /// Inserts `h`; returns whether it was new, and adds to `bytes` what the table grew by.
    pub(super) fn insert(&mut self, h: u64, bytes: &mut usize) -> bool {
        let before = self.0.capacity();
        let new = match self.0.entry(h, |v| *v == h, |v| *v) {
            Entry::Occupied(_) => false,
            Entry::Vacant(e) => {
                e.insert(h);
                true
            }
        };
        *bytes += table_bytes::<u64>(self.0.capacity().saturating_sub(before));
        new
    }

    pub(super) fn contains(&self, h: u64) -> bool {
        self.0.find(h, |v| *v == h).is_some()
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// What one client did on one endpoint in one window. Counts are `u32` (saturating): a batch
/// is sealed at least every flush interval, long before one client sends 4 billion requests.
pub(super) struct Actor {
    key: ActorKey,
    requests: u32,
    auth_failures: u32,
    errors: u32,
    /// Distinct object references (at most [`MAX_REFS_PER_CLIENT`]).
    refs: u32,
    /// Index of the client's reference sample in [`Slot::samples`], or [`NO_SAMPLE`] while it
    /// sent no object reference (most endpoints have none: no sample is allocated for them).
    sample: u32,
}

const NO_SAMPLE: u32 = u32::MAX;

/// What one request changed in its client's record on the endpoint, for the client's window
/// summary ([`super::actors`]).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ClientStep {
    /// First request of the client on this endpoint in this window.
    pub(super) new_endpoint: bool,
    /// First 401 or 403 of the client on this endpoint in this window.
    pub(super) first_auth_failure: bool,
}

/// One endpoint in one event-time window.
pub(super) struct Slot {
    pub(super) window: i64,
    /// Index of the endpoint key in the aggregator's key table.
    pub(super) key: u32,
    pub(super) summary: EndpointSummary,
    /// Requests per [`AuthScheme`] (indexed by `scheme as usize`), moved into the summary's
    /// map when sealed.
    pub(super) auth_schemes: [u64; AuthScheme::ALL.len()],
    /// Keyed hashes of client addresses.
    pub(super) clients: HashSet64,
    /// Principals (the first 8 bytes of the keyed hash, already uniform).
    pub(super) principals: HashSet64,
    actors: HashTable<Actor>,
    /// Distinct `(actor, object reference)` pairs, as one mixed hash each.
    refs: HashSet64,
    /// Reference samples of the clients that sent object references.
    samples: Vec<RefSample>,
}

/// Heap bytes of a new slot besides its tables: the summary's maps (statuses, three
/// histograms, parameters) in a typical endpoint.
pub(super) const SLOT_BASE_BYTES: usize = size_of::<Slot>() + 2_048;

impl Slot {
    pub(super) fn new(window: i64, key: u32) -> Slot {
        Slot {
            window,
            key,
            summary: EndpointSummary {
                window_start_ms: window,
                ..Default::default()
            },
            auth_schemes: [0; AuthScheme::ALL.len()],
            clients: HashSet64::default(),
            principals: HashSet64::default(),
            actors: HashTable::new(),
            refs: HashSet64::default(),
            samples: Vec::new(),
        }
    }

    /// Counts a request of the client `key` (`hasher.hash_one(key) == hash`) answered
    /// `status` with object references `refs` (keyed hashes), adding the client when fewer than
    /// `max` are tracked. References new for the client go to `new_refs`; every reference
    /// goes through the client's sample. Adds to `bytes` what the tables grew by.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_client(
        &mut self,
        (key, hash): (ActorKey, u64),
        hasher: &impl BuildHasher,
        max: usize,
        status: u16,
        refs: &[u64],
        new_refs: &mut Vec<u64>,
        bytes: &mut usize,
    ) -> ClientStep {
        let Slot {
            actors,
            refs: pairs,
            samples,
            ..
        } = self;
        let before = (actors.capacity(), samples.capacity());
        let full = actors.len() >= max;
        let rehash = |a: &Actor| hasher.hash_one(a.key);
        let (actor, new_endpoint) = match actors.entry(hash, |a| a.key == key, rehash) {
            Entry::Occupied(e) => (e.into_mut(), false),
            Entry::Vacant(_) if full => return ClientStep::default(),
            Entry::Vacant(e) => {
                let a = Actor {
                    key,
                    requests: 0,
                    auth_failures: 0,
                    errors: 0,
                    refs: 0,
                    sample: NO_SAMPLE,
                };
                (e.insert(a).into_mut(), true)
            }
        };
        let auth_failure = matches!(status, 401 | 403);
        let first_auth_failure = auth_failure && actor.auth_failures == 0;
        actor.requests = actor.requests.saturating_add(1);
        actor.auth_failures = actor.auth_failures.saturating_add(u32::from(auth_failure));
        actor.errors = actor.errors.saturating_add(u32::from(status >= 400));
        if !refs.is_empty() {
            if actor.sample == NO_SAMPLE {
                // At most one sample per tracked client: fewer than u32::MAX.
                actor.sample = samples.len() as u32;
                samples.push(RefSample::default());
            }
            let sample = &mut samples[actor.sample as usize];
            // Both are keyed hashes; an odd multiplier keeps the mix a bijection per actor.
            let mix = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for &r in refs {
                sample.insert(ref_value(r));
                if (actor.refs as usize) < MAX_REFS_PER_CLIENT && pairs.insert(r ^ mix, bytes) {
                    actor.refs += 1;
                    new_refs.push(r);
                }
            }
        }
        *bytes += table_bytes::<Actor>(actors.capacity().saturating_sub(before.0));
        *bytes += size_of::<RefSample>() * samples.capacity().saturating_sub(before.1);
        ClientStep {
            new_endpoint,
            first_auth_failure,
        }
    }

    /// The busiest clients, most requests first (ties broken by address and principal).
    fn top_clients(&mut self) -> Vec<ClientActivity> {
        let mut actors: Vec<&Actor> = self.actors.iter().collect();
        let order =
            |a: &&Actor, b: &&Actor| b.requests.cmp(&a.requests).then_with(|| a.key.cmp(&b.key));
        if actors.len() > TOP_CLIENTS {
            actors.select_nth_unstable_by(TOP_CLIENTS - 1, order);
            actors.truncate(TOP_CLIENTS);
        }
        actors.sort_unstable_by(order);
        actors
            .into_iter()
            .map(|a| ClientActivity {
                client_ip: a.key.0,
                principal: a.key.1.map(Principal::to_hex),
                requests: u64::from(a.requests),
                auth_failures: u64::from(a.auth_failures),
                errors: u64::from(a.errors),
                distinct_object_refs: u64::from(a.refs),
                ref_sample: match self.samples.get(a.sample as usize) {
                    Some(sample) => sample.values().to_vec(),
                    None => Vec::new(),
                },
            })
            .collect()
    }

    /// The finished summary of the slot.
    pub(super) fn finish(mut self) -> EndpointSummary {
        let mut s = std::mem::take(&mut self.summary);
        s.distinct_clients = self.clients.len() as u64;
        s.distinct_principals = self.principals.len() as u64;
        s.top_clients = self.top_clients();
        for (scheme, n) in AuthScheme::ALL.iter().zip(self.auth_schemes) {
            if n > 0 {
                s.auth_schemes.insert(scheme.as_str().to_owned(), n);
            }
        }
        debug_assert!(self.refs.len() <= self.actors.len() * MAX_REFS_PER_CLIENT);
        s
    }
}
