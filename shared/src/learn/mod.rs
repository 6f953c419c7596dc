//! Learned templating on top of [`crate::template::template_path`]: a path position under a
//! shared prefix whose values are many and rarely repeat (user names, slugs, opaque keys that
//! the typed rules cannot recognise) is promoted to a parameter; templates known from an API
//! specification (pushed by the controller) win over both.
//!
//! Learning resists poisoning by the traffic it watches:
//! - **Evidence** comes only from requests the API answered as existing ([`Evidence::counts`]:
//!   not 400, 404, 405 or 501). A spray of made-up paths is templated (and stays visible as
//!   its own endpoints) but teaches nothing, and creates no learning state.
//! - **Each client is one vote.** A position is promoted only once [`LearnerLimits::min_clients`]
//!   distinct clients have each brought a value nobody brought before, and its rates are
//!   counted over distinct (client, value) pairs, so a client that sends a thousand paths
//!   weighs what one sending one path does.
//! - **Stable prefixes stay literal.** A position where two or more of the values are parents
//!   of established sub-paths (positions seen from `min_clients` clients) is locked as a
//!   literal prefix and never promoted: `/api`, `/v1`, `/cart` of a real API.
//! - **Established templates are never re-cut.** Decisions are final (a parameter stays one, a
//!   locked prefix stays literal), and when a position is promoted, every value already seen
//!   from `min_clients` clients (`/users/me` beside `/users/{id}`) keeps its own template.
//!
//! Memory is bounded: at most [`LearnerLimits::max_positions`] positions (20,000 by default),
//! created only by evidence. A learning position holds at most `promote_after_distinct` values
//! (16 by default; 12 bytes each: a 32-bit hash, a 32-bit client bitmap and a flag), at most
//! `min_clients` 32-bit client hashes (8 by default), a 64-bit client bitmap and two counters
//! in a 64-byte state: with its map entry and the two allocations about 350 bytes, so about
//! 7 MB for a full table of learning positions. A promoted position
//! keeps at most `promote_after_distinct` 32-bit literal hashes, a locked prefix nothing. When
//! the table is full, learning positions seen from fewer than `min_clients` clients are evicted
//! first (noise goes before established traffic), then all learning positions; decided ones
//! are kept. Evicted positions are counted in [`TemplateLearner::evicted`].

mod position;

use crate::template::{
    MAX_PATH_BYTES, MAX_SEGMENTS, PARAM, is_identifier, path_of, truncate_at_char,
};
use position::{Observed, Positions};
use std::borrow::Cow;

/// The segment that stands for everything past [`MAX_SEGMENTS`].
const DEEP: &str = "{...}";

/// A literal segment as a template holds it: control characters replaced (tabs survive
/// [`is_identifier`]'s trimming), borrowed when there are none.
fn printable(raw: &str) -> Cow<'_, str> {
    // ASCII segments (nearly all) need only a byte check for C0 controls and DEL.
    let plain = if raw.is_ascii() {
        !raw.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        !raw.chars().any(char::is_control)
    };
    if !plain {
        Cow::Owned(
            raw.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    }
}

/// Limits and thresholds of the learner.
#[derive(Debug, Clone, Copy)]
pub struct LearnerLimits {
    /// Distinct values at one position before it may become a parameter.
    pub promote_after_distinct: usize,
    /// Distinct clients that must each have brought a new value at a position before it may
    /// become a parameter; also the clients that make a value or a sub-path *established*.
    pub min_clients: usize,
    /// Promote when this share (percent) of the distinct (client, value) pairs at the position
    /// carried a new value: values of a parameter rarely repeat, a vocabulary of
    /// sub-resources does.
    pub min_distinct_pct: u32,
    /// Or when this share (percent) of the distinct values look like names rather than words
    /// (hold a digit, a dot, an `@` or an upper-case letter): user names, slugs, keys.
    pub min_namelike_pct: u32,
    /// Positions tracked at once.
    pub max_positions: usize,
}

impl Default for LearnerLimits {
    fn default() -> Self {
        Self {
            promote_after_distinct: 16,
            min_clients: 8,
            min_distinct_pct: 50,
            min_namelike_pct: 25,
            max_positions: 20_000,
        }
    }
}

/// What a request tells the learner besides its path: how the API answered it, and who sent
/// it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Response status; 0 when the source does not see responses (a mirror).
    pub status: u16,
    /// Any stable key of the client (a hash of its address or principal); 0 when unknown, so
    /// all requests without a client are one client.
    pub client: u64,
}

impl Evidence {
    /// Whether the request may teach the learner: the API answered it as an existing
    /// resource. 400, 404, 405 and 501 say the path (or its method) does not exist; a source
    /// without responses (status 0) cannot tell, and counts.
    pub fn counts(&self) -> bool {
        !matches!(self.status, 400 | 404 | 405 | 501)
    }
}

/// One segment of a known template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param,
}

/// A template from a specification, e.g. `/pets/{petId}` on `api.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    host: String,
    template: String,
    segs: Vec<Seg>,
    literals: usize,
}

/// Path positions learned per host, plus templates known from specifications.
#[derive(Debug)]
pub struct TemplateLearner {
    positions: Positions,
    known: Vec<Known>,
}

/// FNV-1a over bytes: positions and values are hashed for every request, and these hashes only
/// key a bounded map, so speed matters more than collision resistance here.
fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash_of(v: &str) -> u64 {
    fnv(0, v.as_bytes())
}

/// The 32-bit hash a position remembers a value by.
fn value_hash(seg: &str) -> u32 {
    let h = hash_of(seg);
    // Folding keeps both halves' entropy; the truncation is the point.
    (h ^ (h >> 32)) as u32
}

/// The key of the position below `prefix` reached through the value hashed `value`: derived
/// from the value's 32-bit hash, so a position can find its values' sub-positions.
fn child_key(prefix: u64, value: u32) -> u64 {
    let mut z = prefix.rotate_left(5) ^ 0x9e37_79b9_7f4a_7c15 ^ u64::from(value);
    // splitmix64's finalizer spreads the value's bits over the key.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash_pair(prefix: u64, seg: &str) -> u64 {
    child_key(prefix, value_hash(seg))
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl TemplateLearner {
    pub fn new(limits: LearnerLimits) -> Self {
        debug_assert!(limits.promote_after_distinct >= 2);
        debug_assert!(limits.min_clients >= 1);
        Self {
            positions: Positions::new(limits),
            known: Vec::new(),
        }
    }

    /// Times the position table was full and learning positions were evicted.
    pub fn resets(&self) -> u64 {
        self.positions.resets
    }

    /// Learning positions evicted because the table was full (cumulative).
    pub fn evicted(&self) -> u64 {
        self.positions.evicted
    }

    /// Positions tracked now (learning and decided); at most `max_positions`.
    pub fn positions(&self) -> usize {
        self.positions.len()
    }

    /// Replaces the templates known from specifications. An empty host applies to every host.
    pub fn set_known(&mut self, templates: &[(String, String)]) {
        self.known = templates
            .iter()
            .map(|(host, template)| {
                let segs: Vec<Seg> = split(template)
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Seg::Param
                        } else {
                            Seg::Lit(s.to_owned())
                        }
                    })
                    .collect();
                let literals = segs.iter().filter(|s| matches!(s, Seg::Lit(_))).count();
                let template = if segs.is_empty() {
                    "/".to_owned()
                } else {
                    template.trim_end_matches('/').to_owned()
                };
                Known {
                    host: host.to_ascii_lowercase(),
                    template,
                    segs,
                    literals,
                }
            })
            .collect();
        // Most specific first: more literal segments win.
        self.known.sort_by_key(|k| std::cmp::Reverse(k.literals));
    }

    fn known_match(&self, host: &str, target: &str) -> Option<&str> {
        if self.known.is_empty() {
            return None;
        }
        let path = path_of(target);
        let segs: Vec<&str> = split(path).collect();
        self.known
            .iter()
            .filter(|k| k.host.is_empty() || k.host == host)
            .find(|k| {
                k.segs.len() == segs.len()
                    && k.segs.iter().zip(&segs).all(|(t, s)| match t {
                        Seg::Param => true,
                        Seg::Lit(l) => l == s,
                    })
            })
            .map(|k| k.template.as_str())
    }

    /// The template of a request target on `host`, learning from it.
    pub fn template(&mut self, host: &str, target: &str, evidence: Evidence) -> String {
        let mut out = String::new();
        self.template_into(host, target, evidence, &mut out);
        out
    }

    /// [`TemplateLearner::template`] written into `out` (cleared first), so a caller templating
    /// request after request reuses one buffer.
    ///
    /// Same result as learning over [`template_path`]'s output, in one pass over the target:
    /// each segment is judged, hashed and emitted once.
    ///
    /// [`template_path`]: crate::template::template_path
    pub fn template_into(
        &mut self,
        host: &str,
        target: &str,
        evidence: Evidence,
        out: &mut String,
    ) {
        out.clear();
        if let Some(t) = self.known_match(host, target) {
            out.push_str(t);
            return;
        }
        let path = path_of(target);
        let path = truncate_at_char(path, MAX_PATH_BYTES);
        let client = evidence.counts().then_some(evidence.client);
        let mut prefix = hash_of(host);
        for (index, raw) in split(path).enumerate() {
            let chosen: Cow<'_, str> = if index == MAX_SEGMENTS {
                Cow::Borrowed(DEEP)
            } else if is_identifier(raw) {
                Cow::Borrowed(PARAM)
            } else {
                // Only an observed literal is learned from; it is printable (see template_path).
                let literal = printable(raw);
                match self.positions.observe(prefix, &literal, client) {
                    Observed::Param => Cow::Borrowed(PARAM),
                    Observed::Literal => literal,
                }
            };
            out.push('/');
            out.push_str(&chosen);
            prefix = hash_pair(prefix, &chosen);
            if index == MAX_SEGMENTS {
                break;
            }
        }
        if out.is_empty() {
            out.push('/');
        }
    }
}

#[cfg(test)]
mod tests;
