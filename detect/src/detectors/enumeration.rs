//! Object-reference enumeration (BOLA), over k-minimum-values sketches of the hashed object
//! references (`ref_sample`, k = 16) merged across the windows of a 5-minute event-time
//! horizon. Distinct references = exact count below k samples, else (k − 1)·2³²/(k-th hash)
//! (about ±25 % at k = 16).
//!
//! - `parameter_enumeration`: one actor's distinct references on one endpoint in the horizon
//!   ≥ [`ENUM_MIN_DISTINCT`] and above [`ENUM_MEAN_FACTOR`] × the endpoint's per-actor mean and
//!   its mean + [`ENUM_SIGMAS`] deviations (the level learns every closed actor horizon), and
//!   either at least [`ENUM_ERROR_SHARE`] of the actor's requests there in the horizon were
//!   answered ≥ 400 (walking ids hits missing and forbidden objects: high) or the count is
//!   [`ENUM_CLEAN_FACTOR`] times that need (an all-200 walk through many objects: medium). A
//!   user reloading one object (1 reference), support staff opening a few hundred pages an hour
//!   (~25 per 5 minutes) and a partner syncing a catalogue of ~80 pages with 200s (a sketch
//!   estimate may read it as 100) stay below. Dedup per (actor, endpoint).
//! - `distributed_parameter_enumeration`: in the endpoint's horizon, ≥ [`DIST_MIN_ACTORS`]
//!   actors whose window was mostly errors (errors or auth failures ≥ half their requests) and
//!   who sent references together reach ≥ [`DIST_MIN_DISTINCT`] distinct references. Many users
//!   fetching their own objects succeed, so they do not count. High; up to 32 actors listed.
//!   Dedup per endpoint.

use super::Client;
use crate::alerts::Candidate;
use crate::model::{AlertType, Severity};
use crate::state::{
    ActorEndpoint, EndpointState, HORIZON_MS, KMV_K, MAX_DIST_ACTORS, floor, kmv_estimate,
    kmv_merge,
};
use picket_shared::EndpointKey;

pub const ENUM_MIN_DISTINCT: f64 = 100.0;
pub const ENUM_MEAN_FACTOR: f64 = 10.0;
pub const ENUM_SIGMAS: f64 = 6.0;
/// Share of the horizon's requests answered ≥ 400 that makes a walk an attack on its own.
pub const ENUM_ERROR_SHARE: f64 = 0.2;
/// How far above the need an all-success walk must go.
pub const ENUM_CLEAN_FACTOR: f64 = 3.0;
pub const DIST_MIN_ACTORS: usize = 10;
pub const DIST_MIN_DISTINCT: f64 = 200.0;

/// Folds the client's references into its horizon (closing the previous one into the
/// endpoint's level) and checks it when `armed`.
pub fn single(
    ep: &mut EndpointState,
    ae: &mut ActorEndpoint,
    c: &Client,
    key: &EndpointKey,
    ts: i64,
    armed: bool,
) -> Option<Candidate> {
    let h = floor(ts, HORIZON_MS);
    if h > ae.horizon_ms {
        if !ae.kmv.is_empty() {
            let d = crate::baseline::decay(h - ae.horizon_ms);
            ep.refs.observe(kmv_estimate(&ae.kmv, KMV_K), d);
        }
        ae.horizon_ms = h;
        ae.kmv.clear();
        ae.h_fired = false;
        ae.h_requests = 0;
        ae.h_errors = 0;
    } else if h < ae.horizon_ms {
        return None;
    }
    ae.h_requests = ae.h_requests.saturating_add(c.requests);
    ae.h_errors = ae.h_errors.saturating_add(c.errors.max(c.auth_failures));
    if c.sample.is_empty() {
        return None;
    }
    kmv_merge(&mut ae.kmv, &c.sample, KMV_K);
    let est = kmv_estimate(&ae.kmv, KMV_K);
    let base = &ep.refs;
    let need = ENUM_MIN_DISTINCT
        .max(ENUM_MEAN_FACTOR * base.mean)
        .max(base.mean + ENUM_SIGMAS * base.sd());
    let failing = ae.h_errors as f64 >= ENUM_ERROR_SHARE * ae.h_requests as f64;
    if !armed || ae.h_fired || est < need || (!failing && est < ENUM_CLEAN_FACTOR * need) {
        return None;
    }
    ae.h_fired = true;
    let severity = if failing {
        Severity::High
    } else {
        Severity::Medium
    };
    let mut a = Candidate::new(AlertType::ParameterEnumeration, severity, key, ts).figure(
        "distinct_refs_per_5min",
        est.round(),
        base.mean,
        "references",
    );
    a.actor = c.actor();
    a.dedup = format!("{}\u{1}{}", c.key, super::volume::endpoint_id(key));
    a.evidence.push(format!("window_refs:{}", c.distinct_refs));
    a.evidence
        .push(format!("errors:{}/{}", ae.h_errors, ae.h_requests));
    Some(a)
}

/// Folds the summary's failing clients into the endpoint horizon and checks it.
pub fn distributed(
    ep: &mut EndpointState,
    clients: &[Client],
    key: &EndpointKey,
    ts: i64,
    armed: bool,
) -> Option<Candidate> {
    let h = floor(ts, HORIZON_MS);
    let d = &mut ep.dist;
    if h > d.start_ms {
        *d = crate::state::DistHorizon {
            start_ms: h,
            ..Default::default()
        };
    } else if h < d.start_ms {
        return None;
    }
    for c in clients {
        let failing = c.errors.max(c.auth_failures) * 2 >= c.requests && c.requests > 0;
        if !failing || c.sample.is_empty() {
            continue;
        }
        kmv_merge(&mut d.kmv, &c.sample, KMV_K);
        if d.actors.len() < MAX_DIST_ACTORS {
            d.actors.insert(c.key.clone());
        }
    }
    let est = kmv_estimate(&d.kmv, KMV_K);
    if !armed || d.fired || d.actors.len() < DIST_MIN_ACTORS || est < DIST_MIN_DISTINCT {
        return None;
    }
    d.fired = true;
    let mut a = Candidate::new(
        AlertType::DistributedParameterEnumeration,
        Severity::High,
        key,
        ts,
    )
    .figure(
        "distinct_refs_per_5min",
        est.round(),
        ep.refs.mean,
        "references",
    )
    .figure("failing_actors", d.actors.len() as f64, 0.0, "actors");
    a.dedup = super::volume::endpoint_id(key);
    for k in d.actors.iter().take(crate::alerts::MAX_ACTORS) {
        a.actors.push(crate::Actor {
            ip: k.parse().ok(),
            principal: k.strip_prefix("p:").map(str::to_owned),
            user_agent: None,
        });
    }
    Some(a)
}
