//! Parameter detectors. While an endpoint learns, every parameter it sees is learned with its
//! decayed shape weights (per `location:name`, at most 256 per endpoint).
//!
//! - `unseen_parameter`: after learning, a parameter never seen on the endpoint. When it
//!   arrives from ≥ [`API_CHANGE_CLIENTS`] clients (summed per window, an upper bound) it is
//!   an API change: learned silently. Otherwise it fires: medium on writes (POST, PUT, PATCH,
//!   DELETE; mass assignment), low on reads; actor the summary's dominant client. Dedup per
//!   (endpoint, parameter).
//! - `anomalous_parameter_type`: a parameter learned with ≥ [`PARAM_MIN_LEARNED`] decayed
//!   values whose learned shapes (each ≥ 1 % of the weight) are all structured (bool, int,
//!   float, uuid, email, date, hex) arrives with a shape that is none of them and not
//!   compatible (int~float, int~hex, bool~int; `empty` always compatible). Medium for
//!   medium/long text (payload-sized), low otherwise. Dedup per (endpoint, parameter).
//!   Observed shapes are learned too, so a lasting type change fades in within days.

use super::Client;
use crate::alerts::Candidate;
use crate::model::{AlertType, Severity};
use crate::state::{EndpointState, MAX_NEW_PARAMS, MAX_PARAMS, Param};
use picket_shared::shape::Shape;
use picket_shared::{EndpointKey, EndpointSummary};

pub const API_CHANGE_CLIENTS: u64 = 5;
pub const PARAM_MIN_LEARNED: f64 = 50.0;
/// Share of a parameter's weight a shape needs to count as learned.
pub const SHAPE_MIN_SHARE: f64 = 0.01;

/// Checks and learns the parameters of `s`.
pub fn check(
    ep: &mut EndpointState,
    s: &EndpointSummary,
    clients: &[Client],
    key: &EndpointKey,
    armed: bool,
) -> Vec<Candidate> {
    let ts = s.window_start_ms;
    let mut out = Vec::new();
    for (name, st) in &s.params {
        if let Some(p) = ep.params.get_mut(name) {
            if armed && let Some(c) = anomalous(p, name, st, s, clients, key) {
                out.push(c);
            }
            learn(p, st, ts);
            continue;
        }
        if ep.params.len() >= MAX_PARAMS {
            continue;
        }
        // Clients that sent it: one when the busiest client alone could have, else at most
        // the window's distinct clients and the parameter's count.
        let with = match sole(clients, st.count) {
            Some(_) => 1,
            None => s.distinct_clients.min(st.count).max(1),
        };
        let seen = ep.new_params.get(name).copied().unwrap_or(0) + with;
        if !armed || seen >= API_CHANGE_CLIENTS {
            ep.new_params.remove(name);
            let p = ep.params.entry(name.clone()).or_default();
            learn(p, st, ts);
            continue;
        }
        if ep.new_params.len() < MAX_NEW_PARAMS || ep.new_params.contains_key(name) {
            ep.new_params.insert(name.clone(), seen);
        }
        let write = matches!(key.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        let severity = if write {
            Severity::Medium
        } else {
            Severity::Low
        };
        let mut c = Candidate::new(AlertType::UnseenParameter, severity, key, ts).figure(
            "requests_with_parameter",
            st.count as f64,
            0.0,
            "requests",
        );
        c.evidence.push(format!("param:{name}"));
        attribute(&mut c, clients, st.count);
        c.dedup = format!("{}\u{1}{name}", super::volume::endpoint_id(key));
        out.push(c);
    }
    out
}

/// Names who sent the `n` values: the sole client able to, or else every client of the window
/// able to as a suspect (`actors`, at most [`crate::alerts::MAX_ACTORS`]), so an operator (and
/// correlation) can follow the actor even when the summary cannot tell which one it was.
fn attribute(c: &mut Candidate, clients: &[Client], n: u64) {
    if let Some(d) = sole(clients, n) {
        c.actor = d.actor();
        return;
    }
    let able: Vec<&Client> = clients.iter().filter(|c| c.requests >= n).collect();
    c.evidence.push(format!("suspects:{}", able.len()));
    c.actors.extend(
        able.iter()
            .take(crate::alerts::MAX_ACTORS)
            .map(|d| d.actor()),
    );
}

/// The only client with at least `n` requests (so the only one that can have sent all `n`
/// values), if there is exactly one.
fn sole(clients: &[Client], n: u64) -> Option<&Client> {
    let mut able = clients.iter().filter(|c| c.requests >= n);
    let first = able.next()?;
    able.next().is_none().then_some(first)
}

fn learn(p: &mut Param, st: &picket_shared::summary::ParamStats, ts: i64) {
    let d = crate::baseline::decay(ts - p.last_ms);
    if d < 1.0 {
        p.shapes.values_mut().for_each(|w| *w *= d);
    }
    for (shape, n) in &st.shapes {
        *p.shapes.entry(*shape).or_default() += *n as f64;
    }
    p.last_ms = p.last_ms.max(ts);
}

fn structured(s: Shape) -> bool {
    matches!(
        s,
        Shape::Bool
            | Shape::Int
            | Shape::Float
            | Shape::Uuid
            | Shape::Email
            | Shape::Date
            | Shape::Hex
    )
}

fn compatible(a: Shape, b: Shape) -> bool {
    use Shape::*;
    a == b
        || a == Empty
        || b == Empty
        || matches!(
            (a, b),
            (Int, Float) | (Float, Int) | (Int, Hex) | (Hex, Int) | (Bool, Int) | (Int, Bool)
        )
}

fn anomalous(
    p: &Param,
    name: &str,
    st: &picket_shared::summary::ParamStats,
    s: &EndpointSummary,
    clients: &[Client],
    key: &EndpointKey,
) -> Option<Candidate> {
    let total: f64 = p.shapes.values().sum();
    if total < PARAM_MIN_LEARNED {
        return None;
    }
    let learned: Vec<Shape> = p
        .shapes
        .iter()
        .filter(|(_, w)| **w / total >= SHAPE_MIN_SHARE)
        .map(|(s, _)| *s)
        .collect();
    if !learned.iter().all(|s| structured(*s) || *s == Shape::Empty) {
        return None;
    }
    let (bad, n) = st
        .shapes
        .iter()
        .find(|(shape, n)| **n > 0 && !learned.iter().any(|l| compatible(**shape, *l)))?;
    let severity = if matches!(bad, Shape::TextMedium | Shape::TextLong) {
        Severity::Medium
    } else {
        Severity::Low
    };
    let mut c = Candidate::new(
        AlertType::AnomalousParameterType,
        severity,
        key,
        s.window_start_ms,
    )
    .figure("values_with_new_shape", *n as f64, 0.0, "values");
    let names: Vec<&str> = learned.iter().map(|s| s.as_str()).collect();
    c.evidence.push(format!("param:{name}"));
    c.evidence.push(format!(
        "shape:{} learned:{}",
        bad.as_str(),
        names.join(",")
    ));
    attribute(&mut c, clients, *n);
    c.dedup = format!("{}\u{1}{name}", super::volume::endpoint_id(key));
    Some(c)
}
