//! Authentication detectors over an endpoint's running minute (armed endpoints only).
//!
//! - `credential_stuffing`: the minute has ≥ [`STUFF_MIN_FAILURES`] answers 401/403, they are
//!   ≥ [`STUFF_MIN_RATIO`] of its requests and above 3 × the learned failure ratio + 0.1, and
//!   they come from ≥ [`STUFF_MIN_FAILERS`] failing actors or failing principals. Users behind
//!   one NAT (one address, many principals, mostly succeeding) stay under the ratio. High on
//!   an authentication-like endpoint, medium otherwise. Up to 32 failing actors listed. Dedup
//!   per endpoint.
//! - `auth_bypass`: the endpoint is learned as authenticated (≥ [`AUTH_MIN_LEARNED`] decayed
//!   requests, credentials on ≥ [`AUTH_LEARNED_RATIO`] of them) and the minute has ≥
//!   [`BYPASS_MIN`] 2xx answers without credentials (lower bound per summary: 2xx −
//!   auth_present). Actor: the busiest top client without a principal. High. Dedup per endpoint.

use super::Client;
use crate::alerts::Candidate;
use crate::model::{AlertType, Severity};
use crate::state::{Bucket, EndpointState, bit};
use picket_shared::{EndpointKey, EndpointSummary};

pub const STUFF_MIN_FAILURES: u64 = 50;
pub const STUFF_MIN_RATIO: f64 = 0.5;
pub const STUFF_MIN_FAILERS: usize = 10;
pub const AUTH_MIN_LEARNED: f64 = 50.0;
pub const AUTH_LEARNED_RATIO: f64 = 0.99;
pub const BYPASS_MIN: u64 = 5;

/// Both checks after `s` joined bucket `b`.
pub fn check(
    ep: &EndpointState,
    b: &mut Bucket,
    s: &EndpointSummary,
    clients: &[Client],
    key: &EndpointKey,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    let ts = s.window_start_ms;
    let id = super::volume::endpoint_id(key);
    let learned_ratio = if ep.requests > 0.0 {
        ep.auth_fail / ep.requests
    } else {
        0.0
    };
    let ratio = b.auth_fail as f64 / b.requests.max(1) as f64;
    let failers = b.fail_actors.len().max(b.fail_principals.len());
    let kind = AlertType::CredentialStuffing;
    if b.auth_fail >= STUFF_MIN_FAILURES
        && ratio >= STUFF_MIN_RATIO
        && ratio > (3.0 * learned_ratio + 0.1).min(0.95)
        && failers >= STUFF_MIN_FAILERS
        && b.fired & bit(kind) == 0
    {
        b.fired |= bit(kind);
        let severity = if super::auth_like(&key.template) {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut c = Candidate::new(kind, severity, key, ts)
            .figure("auth_failure_ratio", ratio, learned_ratio, "ratio")
            .figure("failing_actors", b.fail_actors.len() as f64, 0.0, "actors")
            .figure(
                "failing_principals",
                b.fail_principals.len() as f64,
                0.0,
                "principals",
            );
        c.dedup = id.clone();
        for k in b.fail_actors.iter().take(crate::alerts::MAX_ACTORS) {
            c.actors.push(super::volume::from_key(k));
        }
        out.push(c);
    }
    let kind = AlertType::AuthBypass;
    let learned = ep.requests >= AUTH_MIN_LEARNED
        && ep.auth_present / ep.requests.max(1.0) >= AUTH_LEARNED_RATIO;
    if learned && b.unauth_2xx >= BYPASS_MIN && b.fired & bit(kind) == 0 {
        b.fired |= bit(kind);
        let mut c = Candidate::new(kind, Severity::High, key, ts)
            .figure(
                "unauthenticated_2xx_per_min",
                b.unauth_2xx as f64,
                0.0,
                "answers",
            )
            .figure(
                "learned_auth_ratio",
                ep.auth_present / ep.requests.max(1.0),
                AUTH_LEARNED_RATIO,
                "ratio",
            );
        if let Some(anon) = clients.iter().find(|c| c.principal.is_none()) {
            c.actor = anon.actor();
        }
        c.dedup = id;
        out.push(c);
    }
    out
}
