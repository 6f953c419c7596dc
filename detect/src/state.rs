//! The engine's persisted state types. Each is one state key; see `table`.
//!
//! - [`EndpointState`] (`e`): per endpoint — learning start, the minute buckets still open
//!   (at most [`MAX_OPEN_BUCKETS`]), the per-minute rate [`Level`], per-client rate level,
//!   per-(actor, 5 min) distinct-reference level, decayed size and latency histograms,
//!   status-class and auth-presence decayed sums, sensitive-class levels, known parameters
//!   with decayed shape weights, candidate new parameters, the distributed-enumeration horizon.
//! - [`ActorState`] (`a`): per actor (address, else principal) — the current minute's
//!   endpoints (exact up to [`MAX_ACTOR_ENDPOINTS_PER_MIN`]), errors, principals.
//! - [`ActorEndpoint`] (`x`): per (actor, endpoint) — the current minute's requests and auth
//!   failures, the actor's own per-minute level there, the current 5-minute reference sketch.
//!
//! Status classes: the summaries carry sizes and latency for all statuses together, so size
//! and latency baselines are per endpoint; the per-class baseline is the decayed count of
//! answers per class (2xx/3xx/4xx/5xx) and of auth failures (401/403).

use crate::baseline::{DecayedHist, Level};
use picket_shared::shape::Shape;
use picket_shared::sketch::LogHistogram;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Width of the event-time buckets rates are folded into.
pub const BUCKET_MS: i64 = 60_000;
/// Width of the reference-enumeration horizon.
pub const HORIZON_MS: i64 = 5 * 60_000;
/// Most open (not yet absorbed) minute buckets per endpoint; the oldest is absorbed early.
pub const MAX_OPEN_BUCKETS: usize = 8;
/// Most clients counted per endpoint bucket.
pub const MAX_BUCKET_CLIENTS: usize = 256;
/// Most failing actors / principals counted per endpoint bucket.
pub const MAX_BUCKET_FAILERS: usize = 64;
/// Most parameters learned per endpoint.
pub const MAX_PARAMS: usize = 256;
/// Most candidate (unseen) parameters per endpoint.
pub const MAX_NEW_PARAMS: usize = 32;
/// Most sensitive classes with a level per endpoint.
pub const MAX_SENSITIVE_CLASSES: usize = 16;
/// Distinct endpoints counted exactly per actor and minute.
pub const MAX_ACTOR_ENDPOINTS_PER_MIN: usize = 64;
/// Principals counted per actor and minute.
pub const MAX_ACTOR_PRINCIPALS: usize = 16;
/// Size of the k-minimum-values reference sketches (the sensor's sample size).
pub const KMV_K: usize = picket_shared::limits::MAX_REF_SAMPLE;
/// Actors remembered per distributed-enumeration horizon.
pub const MAX_DIST_ACTORS: usize = 64;

/// One open minute of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bucket {
    pub requests: u64,
    /// Answers per class 2xx, 3xx, 4xx, 5xx.
    pub classes: [u64; 4],
    /// 401 and 403 answers.
    pub auth_fail: u64,
    /// Lower bound of 2xx answers without credentials.
    pub unauth_2xx: u64,
    /// Requests that carried credentials.
    pub auth_present: u64,
    pub lat: LogHistogram,
    pub req: LogHistogram,
    pub resp: LogHistogram,
    pub clients: BTreeMap<String, u64>,
    pub fail_actors: BTreeSet<String>,
    pub fail_principals: BTreeSet<String>,
    /// `response:<class>` counts.
    pub sensitive: BTreeMap<String, u64>,
    /// Alert types already fired for this bucket (bit per `AlertType` index).
    pub fired: u32,
}

/// A learned parameter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Param {
    pub shapes: BTreeMap<Shape, f64>,
    pub last_ms: i64,
}

/// The distributed-enumeration horizon of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistHorizon {
    pub start_ms: i64,
    pub kmv: Vec<u32>,
    pub actors: BTreeSet<String>,
    pub fired: bool,
}

/// Everything learned about one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointState {
    pub first_ms: i64,
    pub last_ms: i64,
    /// Start of the newest absorbed bucket.
    pub absorbed: Option<i64>,
    pub rate: Level,
    pub client_rate: Level,
    pub refs: Level,
    /// Decayed answers per class and auth failures, and when they were last decayed.
    pub classes: [f64; 4],
    pub auth_fail: f64,
    pub requests: f64,
    pub auth_present: f64,
    pub sums_ms: i64,
    pub resp: DecayedHist,
    pub req: DecayedHist,
    pub lat: DecayedHist,
    pub hist_ms: i64,
    pub sensitive: BTreeMap<String, Level>,
    pub params: BTreeMap<String, Param>,
    /// Candidate parameters: clients seen with them (upper bound).
    pub new_params: BTreeMap<String, u64>,
    pub buckets: BTreeMap<i64, Bucket>,
    pub dist: DistHorizon,
}

/// One actor's current minute across endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorState {
    pub last_ms: i64,
    pub minute: i64,
    /// Stable hashes of the endpoints touched, sorted.
    pub endpoints: Vec<u64>,
    pub requests: u64,
    /// 403, 404 and 405 answers (from actor summaries).
    pub errors: u64,
    /// Requests and error answers (≥ 400) seen through endpoint summaries' top clients: the
    /// fallback when the batch's actor summaries were capped.
    pub client_requests: u64,
    pub client_errors: u64,
    pub principals: Vec<u64>,
    pub fired: u32,
}

/// One actor on one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorEndpoint {
    pub last_ms: i64,
    pub minute: i64,
    pub requests: u64,
    pub auth_failures: u64,
    pub fired: u32,
    /// The actor's own requests per active minute here.
    pub own: Level,
    pub horizon_ms: i64,
    pub kmv: Vec<u32>,
    pub h_fired: bool,
    /// Requests and answers ≥ 400 (errors, 401/403) of the horizon, for the enumeration gate.
    #[serde(default)]
    pub h_requests: u64,
    #[serde(default)]
    pub h_errors: u64,
}

/// Merges the ascending sketch `b` into `a`, keeping the `k` smallest distinct hashes.
pub fn kmv_merge(a: &mut Vec<u32>, b: &[u32], k: usize) {
    a.extend_from_slice(b);
    a.sort_unstable();
    a.dedup();
    a.truncate(k);
}

/// Distinct values estimated from a k-minimum-values sketch: exact below `k` samples, else
/// (k − 1) · 2^32 / (k-th smallest hash).
pub fn kmv_estimate(v: &[u32], k: usize) -> f64 {
    if v.len() < k || k < 2 {
        return v.len() as f64;
    }
    let kth = f64::from(v[k - 1]).max(1.0);
    (k as f64 - 1.0) * 4_294_967_296.0 / kth
}

/// The bit of an alert type in a `fired` mask.
pub fn bit(kind: crate::AlertType) -> u32 {
    let i = crate::AlertType::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0);
    1 << i
}

/// Start of the bucket of width `w` holding `ts`.
pub fn floor(ts: i64, w: i64) -> i64 {
    ts.div_euclid(w) * w
}

/// Rough heap + inline bytes of an endpoint state (for the memory bound).
pub fn endpoint_bytes(e: &EndpointState) -> usize {
    let hist = |h: &DecayedHist| h.buckets.len() * 48;
    let params: usize = e
        .params
        .iter()
        .map(|(k, p)| k.len() + 64 + p.shapes.len() * 40)
        .sum();
    let buckets: usize = e
        .buckets
        .values()
        .map(|b| {
            400 + (b.lat.0.len() + b.req.0.len() + b.resp.0.len()) * 40
                + b.clients.keys().map(|k| k.len() + 48).sum::<usize>()
                + (b.fail_actors.len() + b.fail_principals.len()) * 96
        })
        .sum();
    std::mem::size_of::<EndpointState>()
        + hist(&e.resp)
        + hist(&e.req)
        + hist(&e.lat)
        + e.sensitive.len() * 120
        + params
        + e.new_params.len() * 80
        + buckets
        + e.dist.kmv.len() * 4
        + e.dist.actors.len() * 64
}

/// Rough bytes of an actor state.
pub fn actor_bytes(a: &ActorState) -> usize {
    std::mem::size_of::<ActorState>() + (a.endpoints.len() + a.principals.len()) * 8
}

/// Rough bytes of an actor-endpoint state.
pub fn actor_endpoint_bytes(a: &ActorEndpoint) -> usize {
    std::mem::size_of::<ActorEndpoint>() + a.kmv.len() * 4
}
