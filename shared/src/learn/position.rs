//! The learner's per-position state: what it has seen, from whom, and what it decided.

use super::{LearnerLimits, child_key, value_hash};
use std::collections::HashMap;

/// What to emit for an observed literal segment.
pub(super) enum Observed {
    Literal,
    Param,
}

/// A value seen at a learning position.
#[derive(Debug, Clone, Copy)]
struct Value {
    hash: u32,
    /// One bit per client that sent it ([`client_bit32`]): a lower bound of its distinct
    /// clients, and at most one bit per client however often it comes back.
    clients: u32,
    namelike: bool,
}

/// Evidence gathered at a position that is still undecided.
#[derive(Debug, Default)]
struct Learning {
    /// Distinct values, in order of arrival; at most `promote_after_distinct`.
    values: Vec<Value>,
    /// 32-bit hashes of the clients that brought a value no one had brought before; at most
    /// `min_clients`.
    introducers: Vec<u32>,
    /// One bit per client that brought any evidence ([`client_bit64`]).
    clients: u64,
    /// Distinct (client, value) pairs, as far as the value bitmaps tell; a request whose value
    /// is no longer tracked counts as a new pair.
    pairs: u32,
    /// Distinct values that look like names.
    namelike: u32,
}

#[derive(Debug)]
enum Position {
    Learning(Learning),
    /// A parameter, except for the values (32-bit hashes) that were established before it
    /// was promoted: they keep their own templates.
    Param(Box<[u32]>),
    /// A stable literal prefix other endpoints live under: never promoted.
    Prefix,
}

/// The positions of all hosts, keyed by the hash of their prefix.
#[derive(Debug)]
pub(super) struct Positions {
    limits: LearnerLimits,
    /// Keyed by hashes of positions; foldhash (seeded per process) picks the buckets.
    map: HashMap<u64, Position, foldhash::fast::RandomState>,
    /// Times the table was full when a new position came.
    pub(super) resets: u64,
    /// Learning positions dropped to make room.
    pub(super) evicted: u64,
}

/// A client key spread over 64 bits (splitmix64), so bitmaps index it evenly.
fn mix(client: u64) -> u64 {
    let mut z = client.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn client_bit64(mixed: u64) -> u64 {
    1 << (mixed & 63)
}

fn client_bit32(mixed: u64) -> u32 {
    1 << ((mixed >> 6) & 31)
}

/// Whether a value reads like a name or key rather than a dictionary word.
fn is_namelike(seg: &str) -> bool {
    seg.bytes()
        .any(|b| b.is_ascii_digit() || b == b'.' || b == b'@' || b.is_ascii_uppercase())
}

impl Positions {
    pub(super) fn new(limits: LearnerLimits) -> Self {
        Self {
            limits,
            map: HashMap::default(),
            resets: 0,
            evicted: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// What to emit for the literal `seg` at the position under `prefix`; learns from it when
    /// `client` is set (the request is evidence, see [`super::Evidence::counts`]).
    pub(super) fn observe(&mut self, prefix: u64, seg: &str, client: Option<u64>) -> Observed {
        let h = value_hash(seg);
        let known = match self.map.get(&prefix) {
            Some(Position::Prefix) => return Observed::Literal,
            Some(Position::Param(kept)) if kept.contains(&h) => return Observed::Literal,
            Some(Position::Param(_)) => return Observed::Param,
            Some(Position::Learning(_)) => true,
            None => false,
        };
        let Some(client) = client else {
            return Observed::Literal;
        };
        // Only evidence creates state: noise costs no memory.
        if !known && !self.make_room() {
            return Observed::Literal;
        }
        let limits = self.limits;
        let pos = self
            .map
            .entry(prefix)
            .or_insert_with(|| Position::Learning(Learning::default()));
        let Position::Learning(l) = pos else {
            return Observed::Literal;
        };
        if !l.learn(h, is_namelike(seg), mix(client), &limits) {
            return Observed::Literal;
        }
        let decided = self.decide(prefix);
        let observed = match &decided {
            Position::Param(kept) if !kept.contains(&h) => Observed::Param,
            _ => Observed::Literal,
        };
        self.map.insert(prefix, decided);
        observed
    }

    /// Makes room for one more position; false when the table is full of decided positions.
    fn make_room(&mut self) -> bool {
        if self.map.len() < self.limits.max_positions {
            return true;
        }
        self.resets += 1;
        let before = self.map.len();
        // Noise first: positions fewer than `min_clients` clients brought evidence to.
        let min_clients = self.limits.min_clients;
        self.map.retain(|_, p| match p {
            Position::Learning(l) => l.clients.count_ones() as usize >= min_clients,
            _ => true,
        });
        if self.map.len() >= self.limits.max_positions {
            self.map.retain(|_, p| !matches!(p, Position::Learning(_)));
        }
        self.evicted += (before - self.map.len()) as u64;
        self.map.len() < self.limits.max_positions
    }

    /// Whether the position under `key` is established: decided, or brought evidence by
    /// `min_clients` clients.
    fn established(&self, key: u64) -> bool {
        match self.map.get(&key) {
            None => false,
            Some(Position::Learning(l)) => {
                l.clients.count_ones() as usize >= self.limits.min_clients
            }
            Some(_) => true,
        }
    }

    /// The final state of a learning position that qualified for promotion: a locked prefix
    /// when two or more of its values are parents of established sub-paths, otherwise a
    /// parameter that keeps its established values literal.
    fn decide(&self, prefix: u64) -> Position {
        let Some(Position::Learning(l)) = self.map.get(&prefix) else {
            return Position::Prefix;
        };
        let parents: Vec<u32> = l
            .values
            .iter()
            .map(|v| v.hash)
            .filter(|h| self.established(child_key(prefix, *h)))
            .collect();
        if parents.len() >= 2 {
            return Position::Prefix;
        }
        let min_clients = self.limits.min_clients;
        let kept: Vec<u32> = l
            .values
            .iter()
            .filter(|v| v.clients.count_ones() as usize >= min_clients || parents.contains(&v.hash))
            .map(|v| v.hash)
            .collect();
        Position::Param(kept.into_boxed_slice())
    }
}

impl Learning {
    /// Counts one evidence request carrying the value hashed `h` from the client `mixed`;
    /// true when the position now qualifies for promotion.
    fn learn(&mut self, h: u32, namelike: bool, mixed: u64, limits: &LearnerLimits) -> bool {
        self.clients |= client_bit64(mixed);
        let bit = client_bit32(mixed);
        if let Some(v) = self.values.iter_mut().find(|v| v.hash == h) {
            if v.clients & bit == 0 {
                v.clients |= bit;
                self.pairs = self.pairs.saturating_add(1);
            }
            return false;
        }
        self.pairs = self.pairs.saturating_add(1);
        // Truncation is fine: these hashes only tell clients apart.
        let client = (mixed >> 32) as u32;
        if self.introducers.len() < limits.min_clients && !self.introducers.contains(&client) {
            self.introducers.push(client);
        }
        self.values.push(Value {
            hash: h,
            clients: bit,
            namelike,
        });
        self.namelike += u32::from(namelike);
        if self.values.len() < limits.promote_after_distinct {
            return false;
        }
        let distinct = self.values.len() as u64;
        let distinct_pct = distinct * 100 / u64::from(self.pairs.max(1));
        let namelike_pct = u64::from(self.namelike) * 100 / distinct;
        let many_clients = self.introducers.len() >= limits.min_clients;
        if many_clients
            && (distinct_pct >= u64::from(limits.min_distinct_pct)
                || namelike_pct >= u64::from(limits.min_namelike_pct))
        {
            return true;
        }
        // Not (yet) a parameter: the set stays at its bound. The value with the fewest
        // clients goes (the oldest of those), so one client's burst cannot hold the set
        // against values many clients use, and a newcomer as rare as the rest replaces the
        // oldest: a vocabulary's words stay, a stream of one-off values keeps flowing through.
        let fewest = self.values.iter().map(|v| v.clients.count_ones()).min();
        if let Some(i) = self
            .values
            .iter()
            .position(|v| Some(v.clients.count_ones()) == fewest)
        {
            let gone = self.values.remove(i);
            self.namelike -= u32::from(gone.namelike);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes the module documentation's memory figures rest on.
    #[test]
    fn state_sizes() {
        assert_eq!(size_of::<Value>(), 12);
        assert!(size_of::<Position>() <= 72, "{}", size_of::<Position>());
    }
}
