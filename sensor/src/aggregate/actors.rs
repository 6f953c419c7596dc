//! Actor summaries: what each client (address and principal, the key of the slots' client
//! tables) did across all endpoints in one event-time window. Fixed-size entries in one table
//! per batch, keyed by window and client; distinct endpoints and auth-failure endpoints are
//! read off the slots' client tables (a client new in a slot is an endpoint new for it), so
//! they cost no set of their own; distinct object references across endpoints are one
//! batch-wide set of mixed hashes, probed only for references new on their endpoint.

use super::slot::{ActorKey, ClientStep, HashSet64, table_bytes};
use crate::identity::{AgentProduct, Principal};
use crate::record::RequestRecord;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use picket_shared::ActorSummary;

/// Distinct object references counted per actor and window, across its endpoints.
pub const MAX_REFS_PER_ACTOR: usize = 4_096;

/// One client in one window. Counts are `u32` (saturating), as in the slots.
struct WindowActor {
    /// The table hash (the client's keyed hash mixed with the window), kept so the table
    /// grows without rehashing keys.
    hash: u64,
    window: i64,
    key: ActorKey,
    /// The first agent product the client sent in the window.
    agent: AgentProduct,
    requests: u32,
    endpoints: u32,
    unauthorized: u32,
    forbidden: u32,
    not_found: u32,
    method_not_allowed: u32,
    server_errors: u32,
    rate_limited: u32,
    auth_present: u32,
    refs: u32,
    auth_failure_endpoints: u32,
}

/// The actors of the batch under construction.
#[derive(Default)]
pub(super) struct Actors {
    table: HashTable<WindowActor>,
    /// Distinct `(actor, object reference)` pairs across endpoints, one mixed hash each.
    refs: HashSet64,
    /// Actors refused because the table was full, so each is counted once.
    refused: HashSet64,
}

/// Adds `n` to a saturating `u32` count.
fn bump(count: &mut u32, n: bool) {
    *count = count.saturating_add(u32::from(n));
}

impl Actors {
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Counts request `r` of the client `key` (keyed hash `client_hash`) in `window`, with
    /// what it changed on its endpoint (`step`) and the object references new there
    /// (`new_refs`). Returns whether the actor is new and refused, counting nothing, because
    /// `max` actors are already tracked (each refused actor once a batch). Adds to `bytes`
    /// what the tables grew by.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add(
        &mut self,
        window: i64,
        (key, client_hash): (ActorKey, u64),
        r: &RequestRecord,
        step: ClientStep,
        new_refs: &[u64],
        max: usize,
        bytes: &mut usize,
    ) -> bool {
        // The client hash is keyed and uniform; an odd multiple of the window keeps the mix a
        // bijection per window (equality still compares window and key).
        let hash = client_hash ^ (window as u64).wrapping_mul(0xff51_afd7_ed55_8ccd);
        let before = self.table.capacity();
        let full = self.table.len() >= max;
        let found = self.table.entry(
            hash,
            |a| a.window == window && a.key == key,
            |a: &WindowActor| a.hash,
        );
        let a = match found {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(_) if full => return self.refused.insert(hash, bytes),
            Entry::Vacant(e) => e.insert(WindowActor::new(hash, window, key)).into_mut(),
        };
        if a.agent.is_empty() {
            a.agent = r.agent_product;
        }
        bump(&mut a.requests, true);
        bump(&mut a.unauthorized, r.status == 401);
        bump(&mut a.forbidden, r.status == 403);
        bump(&mut a.not_found, r.status == 404);
        bump(&mut a.method_not_allowed, r.status == 405);
        bump(&mut a.server_errors, (500..600).contains(&r.status));
        bump(&mut a.rate_limited, r.status == 429);
        bump(&mut a.auth_present, r.auth_present);
        bump(&mut a.endpoints, step.new_endpoint);
        bump(&mut a.auth_failure_endpoints, step.first_auth_failure);
        if !new_refs.is_empty() {
            let mix = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for &rf in new_refs {
                if a.refs as usize >= MAX_REFS_PER_ACTOR {
                    break;
                }
                bump(&mut a.refs, self.refs.insert(rf ^ mix, bytes));
            }
        }
        *bytes += table_bytes::<WindowActor>(self.table.capacity().saturating_sub(before));
        false
    }

    /// Takes the actor summaries, in no particular order (sorting thousands of them per batch
    /// would cost more than counting them did), leaving the table empty.
    pub(super) fn drain(&mut self) -> Vec<ActorSummary> {
        self.refs = HashSet64::default();
        self.refused = HashSet64::default();
        // Taken, not drained: the next batch starts small and its growth is accounted again.
        let table = std::mem::take(&mut self.table);
        table.into_iter().map(WindowActor::summary).collect()
    }
}

impl WindowActor {
    fn new(hash: u64, window: i64, key: ActorKey) -> WindowActor {
        WindowActor {
            hash,
            window,
            key,
            agent: AgentProduct::default(),
            requests: 0,
            endpoints: 0,
            unauthorized: 0,
            forbidden: 0,
            not_found: 0,
            method_not_allowed: 0,
            server_errors: 0,
            rate_limited: 0,
            auth_present: 0,
            refs: 0,
            auth_failure_endpoints: 0,
        }
    }

    fn summary(self) -> ActorSummary {
        ActorSummary {
            window_start_ms: self.window,
            client_ip: self.key.0,
            principal: self.key.1.map(Principal::to_hex),
            agent: (!self.agent.is_empty()).then(|| self.agent.as_str().to_owned()),
            requests: u64::from(self.requests),
            distinct_endpoints: u64::from(self.endpoints),
            unauthorized: u64::from(self.unauthorized),
            forbidden: u64::from(self.forbidden),
            not_found: u64::from(self.not_found),
            method_not_allowed: u64::from(self.method_not_allowed),
            server_errors: u64::from(self.server_errors),
            rate_limited: u64::from(self.rate_limited),
            auth_present: u64::from(self.auth_present),
            distinct_object_refs: u64::from(self.refs),
            auth_failure_endpoints: u64::from(self.auth_failure_endpoints),
        }
    }
}
