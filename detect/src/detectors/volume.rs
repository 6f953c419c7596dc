//! Volume, size and latency detectors (baseline; armed endpoints only).
//!
//! - `population_traffic_spike`: the running minute's requests ≥ [`POP_MIN_PER_MIN`] and above
//!   every one of: [`POP_MEAN_FACTOR`] × learned mean, mean + [`POP_SIGMAS`] × deviation,
//!   [`POP_PEAK_FACTOR`] × learned decayed peak (bursts seen while learning, such as a partner
//!   sync every 10 minutes or the daily high, raise the peak). Actor: the minute's dominant
//!   client (≥ half the requests), else none and up to 32 top clients listed. Dedup per endpoint.
//! - `client_traffic_spike`: one actor's running minute on an endpoint ≥ [`CLIENT_MIN_PER_MIN`],
//!   above [`CLIENT_MEAN_FACTOR`] × the endpoint's per-client mean and above
//!   [`CLIENT_OWN_PEAK_FACTOR`] × the actor's own decayed peak there. Dedup per (actor, endpoint).
//! - `large_response` / `large_request_body`: a summary whose largest size bucket is above the
//!   absolute floor ([`LARGE_RESPONSE_MIN_BYTES`], [`LARGE_REQUEST_MIN_BYTES`]) and above
//!   [`SIZE_P99_FACTOR`] × the learned p99 (at least [`MIN_LEARNED_REQUESTS`] learned); or, for
//!   responses, a `response:<class>` count in the minute ≥ [`SENSITIVE_MIN_PER_MIN`] and above
//!   10 × its mean and 2 × its peak. Actor: the summary's dominant client. Dedup per endpoint.
//! - `latency_spike`: the running minute's p95 ≥ [`LATENCY_MIN_US`] with ≥
//!   [`LATENCY_MIN_REQUESTS`] requests, above [`LATENCY_P95_FACTOR`] × the learned p95.

use super::{Client, dominant};
use crate::alerts::Candidate;
use crate::baseline::hist_max;
use crate::model::{AlertType, Severity};
use crate::state::{ActorEndpoint, Bucket, EndpointState, bit};
use picket_shared::{EndpointKey, EndpointSummary};

pub const POP_MIN_PER_MIN: u64 = 120;
pub const POP_MEAN_FACTOR: f64 = 5.0;
pub const POP_SIGMAS: f64 = 6.0;
pub const POP_PEAK_FACTOR: f64 = 2.0;
pub const CLIENT_MIN_PER_MIN: u64 = 60;
pub const CLIENT_MEAN_FACTOR: f64 = 10.0;
pub const CLIENT_OWN_PEAK_FACTOR: f64 = 3.0;
pub const LARGE_RESPONSE_MIN_BYTES: u64 = 64 * 1024;
pub const LARGE_REQUEST_MIN_BYTES: u64 = 16 * 1024;
pub const SIZE_P99_FACTOR: f64 = 10.0;
pub const MIN_LEARNED_REQUESTS: f64 = 30.0;
pub const SENSITIVE_MIN_PER_MIN: u64 = 50;
pub const LATENCY_MIN_US: u64 = 500_000;
pub const LATENCY_MIN_REQUESTS: u64 = 20;
pub const LATENCY_P95_FACTOR: f64 = 5.0;

/// Endpoint-level volume, size and latency checks after `s` joined bucket `b`.
pub fn endpoint(
    ep: &EndpointState,
    b: &mut Bucket,
    s: &EndpointSummary,
    clients: &[Client],
    key: &EndpointKey,
) -> Vec<Candidate> {
    let ts = s.window_start_ms;
    let mut out = Vec::new();
    let once = |b: &mut Bucket, kind| {
        let fresh = b.fired & bit(kind) == 0;
        b.fired |= bit(kind);
        fresh
    };
    let r = &ep.rate;
    let need = (POP_MIN_PER_MIN as f64)
        .max(POP_MEAN_FACTOR * r.mean)
        .max(r.mean + POP_SIGMAS * r.sd())
        .max(POP_PEAK_FACTOR * r.peak);
    if b.requests as f64 >= need && once(b, AlertType::PopulationTrafficSpike) {
        let mut c = Candidate::new(AlertType::PopulationTrafficSpike, Severity::Medium, key, ts)
            .figure("requests_per_min", b.requests as f64, r.mean, "requests")
            .figure(
                "learned_peak_per_min",
                b.requests as f64,
                r.peak,
                "requests",
            );
        attribute(&mut c, b);
        c.evidence.push(format!("minute_requests:{}", b.requests));
        out.push(c);
    }
    let resp_floor = LARGE_RESPONSE_MIN_BYTES;
    if let Some(c) = size(ep, s, key, clients, true, resp_floor)
        && once(b, AlertType::LargeResponse)
    {
        out.push(c);
    }
    if let Some(c) = size(ep, s, key, clients, false, LARGE_REQUEST_MIN_BYTES)
        && once(b, AlertType::LargeRequestBody)
    {
        out.push(c);
    }
    if let Some(c) = sensitive(ep, b, s, key, clients)
        && once(b, AlertType::LargeResponse)
    {
        out.push(c);
    }
    if let Some(c) = latency(ep, b, s, key, clients)
        && once(b, AlertType::LatencySpike)
    {
        out.push(c);
    }
    out
}

/// Names the dominant client of the minute, or lists the top ones.
fn attribute(c: &mut Candidate, b: &Bucket) {
    let mut top: Vec<(&String, &u64)> = b.clients.iter().collect();
    top.sort_by(|x, y| y.1.cmp(x.1).then_with(|| x.0.cmp(y.0)));
    if let Some((k, n)) = top.first()
        && **n * 2 >= b.requests
    {
        c.actor = from_key(k);
        c.dedup = format!("{k}\u{1}{}", endpoint_id(&c.endpoint));
        return;
    }
    c.dedup = endpoint_id(&c.endpoint);
    for (k, _) in top.into_iter().take(crate::alerts::MAX_ACTORS) {
        c.actors.push(from_key(k));
    }
}

/// The actor an actor key names (an address, or `p:<principal>`).
pub fn from_key(k: &str) -> crate::Actor {
    crate::Actor {
        ip: k.parse().ok(),
        principal: k.strip_prefix("p:").map(str::to_owned),
        user_agent: None,
    }
}

/// The stable id of an endpoint inside dedup keys.
pub fn endpoint_id(k: &EndpointKey) -> String {
    format!("{}\u{1}{}\u{1}{}", k.host, k.method, k.template)
}

fn single(c: &mut Candidate, s: &EndpointSummary, clients: &[Client]) {
    if let Some(d) = dominant(clients, s.requests) {
        c.actor = d.actor();
    }
    c.dedup = endpoint_id(&c.endpoint);
}

fn size(
    ep: &EndpointState,
    s: &EndpointSummary,
    key: &EndpointKey,
    clients: &[Client],
    response: bool,
    floor: u64,
) -> Option<Candidate> {
    let (learned, now) = if response {
        (&ep.resp, &s.response_bytes_hist)
    } else {
        (&ep.req, &s.request_bytes_hist)
    };
    if learned.weight() < MIN_LEARNED_REQUESTS {
        return None;
    }
    let p99 = learned.quantile(0.99)? as f64;
    let max = hist_max(now)?;
    if max < floor || (max as f64) <= SIZE_P99_FACTOR * p99 {
        return None;
    }
    let (kind, sev, name) = if response {
        (
            AlertType::LargeResponse,
            Severity::Medium,
            "response_bytes_max",
        )
    } else {
        (
            AlertType::LargeRequestBody,
            Severity::Low,
            "request_bytes_max",
        )
    };
    let mut c =
        Candidate::new(kind, sev, key, s.window_start_ms).figure(name, max as f64, p99, "bytes");
    c.evidence
        .push(format!("p99_factor:{:.0}", max as f64 / p99.max(1.0)));
    single(&mut c, s, clients);
    Some(c)
}

fn sensitive(
    ep: &EndpointState,
    b: &Bucket,
    s: &EndpointSummary,
    key: &EndpointKey,
    clients: &[Client],
) -> Option<Candidate> {
    for (class, n) in &b.sensitive {
        let level = ep.sensitive.get(class).cloned().unwrap_or_default();
        if *n >= SENSITIVE_MIN_PER_MIN
            && *n as f64 > 10.0 * level.mean
            && *n as f64 > 2.0 * level.peak
            && s.sensitive.contains_key(class)
        {
            let mut c = Candidate::new(
                AlertType::LargeResponse,
                Severity::Medium,
                key,
                s.window_start_ms,
            )
            .figure("sensitive_values_per_min", *n as f64, level.mean, "values");
            c.evidence.push(format!("class:{class}"));
            single(&mut c, s, clients);
            return Some(c);
        }
    }
    None
}

fn latency(
    ep: &EndpointState,
    b: &Bucket,
    s: &EndpointSummary,
    key: &EndpointKey,
    clients: &[Client],
) -> Option<Candidate> {
    if b.lat.count() < LATENCY_MIN_REQUESTS || ep.lat.weight() < MIN_LEARNED_REQUESTS {
        return None;
    }
    let learned = ep.lat.quantile(0.95)? as f64;
    let now = b.lat.quantile(0.95)?;
    if now < LATENCY_MIN_US || (now as f64) <= LATENCY_P95_FACTOR * learned {
        return None;
    }
    let mut c = Candidate::new(
        AlertType::LatencySpike,
        Severity::Low,
        key,
        s.window_start_ms,
    )
    .figure("latency_p95_us", now as f64, learned, "us");
    c.evidence
        .push(format!("minute_requests:{}", b.lat.count()));
    single(&mut c, s, clients);
    Some(c)
}

/// One actor's minute on an endpoint far above the endpoint's per-client level and its own.
pub fn client_spike(
    ep: &EndpointState,
    ae: &mut ActorEndpoint,
    c: &Client,
    key: &EndpointKey,
    ts: i64,
) -> Option<Candidate> {
    let n = ae.requests as f64;
    let kind = AlertType::ClientTrafficSpike;
    if ae.requests < CLIENT_MIN_PER_MIN
        || n <= CLIENT_MEAN_FACTOR * ep.client_rate.mean
        || n <= CLIENT_OWN_PEAK_FACTOR * ae.own.peak
        || ae.fired & bit(kind) != 0
    {
        return None;
    }
    ae.fired |= bit(kind);
    let mut a = Candidate::new(kind, Severity::Medium, key, ts)
        .figure(
            "client_requests_per_min",
            n,
            ep.client_rate.mean,
            "requests",
        )
        .figure("own_peak_per_min", n, ae.own.peak, "requests");
    a.actor = c.actor();
    a.dedup = format!("{}\u{1}{}", c.key, endpoint_id(key));
    Some(a)
}
