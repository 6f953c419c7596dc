//! Per-actor detectors.
//!
//! - `endpoint_spray` (baseline-free, always on): within one event-time minute, one actor
//!   touched ≥ [`SPRAY_MIN_ENDPOINTS`] distinct endpoints (counted exactly, up to 64, from the
//!   endpoint summaries' top clients — summing per-window `distinct_endpoints` would overcount)
//!   and got ≥ [`SPRAY_MIN_ERRORS`] answers 403/404/405 (from actor summaries; errors ≥ 400
//!   from the top clients when those say more) that make at least half its requests. A monitor on 20 health endpoints (all 200), a broken client
//!   repeating one 404, a partner syncing a catalogue with 200s: none crosses both. Medium;
//!   high from [`SPRAY_HIGH_ENDPOINTS`]. Dedup per actor.
//! - `brute_force` (always on): one actor's minute on one endpoint has ≥ [`BF_MIN_FAILURES`]
//!   answers 401/403 making at least half its requests. High when the endpoint looks like
//!   authentication (login, signin, token, oauth, session, auth, password in the template)
//!   or the actor used ≥ [`BF_MANY_PRINCIPALS`] principals in the minute; otherwise low (a
//!   script retrying with an expired token). Dedup per (actor, endpoint).

use super::{Client, auth_like};
use crate::alerts::Candidate;
use crate::model::{Actor, AlertType, Severity};
use crate::state::{ActorEndpoint, ActorState, bit};
use picket_shared::EndpointKey;

pub const SPRAY_MIN_ENDPOINTS: usize = 25;
pub const SPRAY_HIGH_ENDPOINTS: usize = 60;
pub const SPRAY_MIN_ERRORS: u64 = 25;
pub const BF_MIN_FAILURES: u64 = 20;
pub const BF_MANY_PRINCIPALS: usize = 5;

/// Spray check for the actor's current minute.
pub fn spray(a: &mut ActorState, key: &str, actor: Actor, host: &str) -> Option<Candidate> {
    let kind = AlertType::EndpointSpray;
    let n = a.endpoints.len();
    // Actor summaries count 403/404/405 exactly; top clients count every error (≥ 400) but
    // only where the actor was among an endpoint's busiest: take the larger evidence.
    let (errors, requests) = if a.errors >= a.client_errors {
        (a.errors, a.requests)
    } else {
        (a.client_errors, a.client_requests)
    };
    if n < SPRAY_MIN_ENDPOINTS
        || errors < SPRAY_MIN_ERRORS
        || errors * 2 < requests
        || a.fired & bit(kind) != 0
    {
        return None;
    }
    a.fired |= bit(kind);
    let severity = if n >= SPRAY_HIGH_ENDPOINTS {
        Severity::High
    } else {
        Severity::Medium
    };
    let ep = EndpointKey {
        host: host.to_owned(),
        method: String::new(),
        template: String::new(),
    };
    let mut c = Candidate::new(kind, severity, &ep, a.minute)
        .figure("distinct_endpoints_per_min", n as f64, 0.0, "endpoints")
        .figure(
            "not_found_forbidden_per_min",
            a.errors as f64,
            0.0,
            "answers",
        );
    c.actor = actor;
    c.dedup = key.to_owned();
    c.evidence.push(format!("requests:{}", a.requests));
    Some(c)
}

/// Brute-force check for the actor's current minute on an endpoint.
pub fn brute_force(
    ae: &mut ActorEndpoint,
    principals: usize,
    c: &Client,
    key: &EndpointKey,
    ts: i64,
) -> Option<Candidate> {
    let kind = AlertType::BruteForce;
    if ae.auth_failures < BF_MIN_FAILURES
        || ae.auth_failures * 2 < ae.requests
        || ae.fired & bit(kind) != 0
    {
        return None;
    }
    ae.fired |= bit(kind);
    let auth = auth_like(&key.template);
    let severity = if auth || principals >= BF_MANY_PRINCIPALS {
        Severity::High
    } else {
        Severity::Low
    };
    let mut a = Candidate::new(kind, severity, key, ts)
        .figure(
            "auth_failures_per_min",
            ae.auth_failures as f64,
            0.0,
            "answers",
        )
        .figure("principals_per_min", principals as f64, 0.0, "principals");
    a.actor = c.actor();
    a.dedup = format!("{}\u{1}{}", c.key, super::volume::endpoint_id(key));
    a.evidence.push(format!("auth_endpoint:{auth}"));
    Some(a)
}
