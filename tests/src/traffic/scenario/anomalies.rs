//! Attacks seen as departures from a baseline: volume (population and one client), sizes,
//! latency, and parameters (an unseen one, a value of the wrong shape).

use super::benign::{self, CART_ITEMS, Ep, POST_REVIEW, PRODUCT, PRODUCTS, SEARCH, USER_ORDERS};
use super::{Attack, Config, HOST, LogRecord, Truth};
use crate::traffic::{Rng, apis};
use std::net::Ipv4Addr;

/// How much an anomaly departs from the usual: volume ×10 for the population, ×50 for one
/// client, sizes and latency ×50.
const POPULATION_FACTOR: i64 = 10;
const CLIENT_FACTOR: i64 = 50;
const SIZE_FACTOR: u64 = 50;

fn truth(attack: Attack, ep: &Ep, clients: Vec<Ipv4Addr>, principals: Vec<String>) -> Truth {
    Truth {
        attack,
        host: HOST,
        method: Some(ep.method),
        template: Some(ep.template),
        clients,
        principals,
        start_ms: 0,
        end_ms: 0,
        requests: 0,
    }
}

fn tag(mut r: LogRecord, attack: Attack) -> LogRecord {
    r.attack = Some(attack);
    r
}

/// The search called by 150 clients (CGNAT mobile addresses) at nine times its usual rate on
/// top of the usual traffic: ten times the volume.
pub(super) fn population_spike(
    rng: &mut Rng,
    cfg: &Config,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let usual_gap =
        benign::user_gap_ms(cfg) * 1000 / benign::share_per_mille(&SEARCH).max(1) as i64;
    let gap = (usual_gap / (POPULATION_FACTOR - 1)).max(1);
    let clients: Vec<Ipv4Addr> = (0..150u32)
        .map(|i| Ipv4Addr::from(0x6448_0000 + i * 7 + 1))
        .collect();
    let mut t = window.0;
    while t < window.1 {
        let ip = clients[rng.below(clients.len() as u64) as usize];
        let target = benign::target(rng, &SEARCH, 0, 1);
        out.push(tag(
            benign::record(rng, &SEARCH, t, target, ip),
            Attack::PopulationTrafficSpike,
        ));
        t += 1 + rng.below(2 * gap as u64) as i64;
    }
    truth(Attack::PopulationTrafficSpike, &SEARCH, clients, Vec::new())
}

/// The reporting integration (same address and token) calling its endpoint fifty times as
/// often as it usually does.
pub(super) fn client_spike(rng: &mut Rng, window: (i64, i64), out: &mut Vec<LogRecord>) -> Truth {
    let gap = benign::REPORTING_EVERY_MS / CLIENT_FACTOR;
    let mut t = window.0;
    while t < window.1 {
        out.push(tag(
            benign::reporting_call(rng, t),
            Attack::ClientTrafficSpike,
        ));
        t += gap;
    }
    truth(
        Attack::ClientTrafficSpike,
        &PRODUCTS,
        vec![benign::REPORTING_IP],
        vec![benign::REPORTING_TOKEN.into()],
    )
}

/// Three answers fifty times the usual size of a user's order history, to one client with a
/// user's token (an export of everything).
pub(super) fn large_response(rng: &mut Rng, window: (i64, i64), out: &mut Vec<LogRecord>) -> Truth {
    let ip = Ipv4Addr::new(198, 51, 100, 61);
    let token = benign::user_token(11);
    for i in 0..3 {
        let t = window.0 + 5_000 + i * 7_000;
        let target = format!("/api/v1/users/{}/orders", apis::user_name(11));
        let mut r = benign::record(rng, &USER_ORDERS, t, target, ip);
        r.authorization = Some(token.clone());
        r.response_bytes = USER_ORDERS.resp_bytes * SIZE_FACTOR + rng.below(20_000);
        r.latency_ms = 900 + rng.below(300);
        out.push(tag(r, Attack::LargeResponse));
    }
    truth(Attack::LargeResponse, &USER_ORDERS, vec![ip], vec![token])
}

/// Three reviews with a body fifty times the usual size.
pub(super) fn large_request_body(
    rng: &mut Rng,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let ip = Ipv4Addr::new(198, 51, 100, 62);
    let token = benign::user_token(12);
    for i in 0..3 {
        let t = window.0 + 5_000 + i * 9_000;
        let target = format!("/api/v1/products/{}/reviews", apis::slug(3));
        let mut r = benign::record(rng, &POST_REVIEW, t, target, ip);
        r.authorization = Some(token.clone());
        r.request_bytes = POST_REVIEW.req_bytes * SIZE_FACTOR + rng.below(10_000);
        out.push(tag(r, Attack::LargeRequestBody));
    }
    truth(
        Attack::LargeRequestBody,
        &POST_REVIEW,
        vec![ip],
        vec![token],
    )
}

/// Product pages answering fifty times slower than usual, for ordinary users, at twice the
/// page's usual rate (so slow answers dominate the window).
pub(super) fn latency_spike(
    rng: &mut Rng,
    cfg: &Config,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let usual_gap =
        benign::user_gap_ms(cfg) * 1000 / benign::share_per_mille(&PRODUCT).max(1) as i64;
    let gap = (usual_gap / 2).max(1);
    let mut clients = Vec::new();
    let mut t = window.0;
    while t < window.1 {
        let u = cfg.nat_users
            + rng.below(cfg.users.saturating_sub(cfg.nat_users).max(1) as u64) as usize;
        let ip = benign::user_ip(cfg, u);
        let target = benign::target(rng, &PRODUCT, u, cfg.users);
        let mut r = benign::record(rng, &PRODUCT, t, target, ip);
        r.latency_ms = PRODUCT.latency_ms * SIZE_FACTOR + rng.below(500);
        out.push(tag(r, Attack::LatencySpike));
        if !clients.contains(&ip) {
            clients.push(ip);
        }
        t += 1 + rng.below(2 * gap as u64) as i64;
    }
    truth(Attack::LatencySpike, &PRODUCT, clients, Vec::new())
}

/// Cart additions carrying `is_admin=true`, a parameter the endpoint never received (mass
/// assignment).
pub(super) fn unseen_parameter(
    rng: &mut Rng,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let ip = Ipv4Addr::new(198, 51, 100, 70);
    let token = benign::user_token(15);
    for i in 0..5 {
        let t = window.0 + 4_000 + i * 6_000;
        let target = format!(
            "/api/v1/cart/items?sku={}&qty=1&is_admin=true",
            apis::slug(i as usize)
        );
        let mut r = benign::record(rng, &CART_ITEMS, t, target, ip);
        r.authorization = Some(token.clone());
        out.push(tag(r, Attack::UnseenParameter));
    }
    truth(Attack::UnseenParameter, &CART_ITEMS, vec![ip], vec![token])
}

/// Words where the cart's `qty` always held an integer (answered 400).
pub(super) fn anomalous_parameter_type(
    rng: &mut Rng,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let ip = Ipv4Addr::new(198, 51, 100, 71);
    let token = benign::user_token(16);
    let words = ["lots", "many-please", "twelve", "unlimited", "all-of-them"];
    for (i, w) in words.iter().enumerate() {
        let t = window.0 + 4_000 + i as i64 * 6_000;
        let target = format!("/api/v1/cart/items?sku={}&qty={w}", apis::slug(i + 20));
        let mut r = benign::record(rng, &CART_ITEMS, t, target, ip);
        r.authorization = Some(token.clone());
        r.status = 400;
        r.response_bytes = 110;
        out.push(tag(r, Attack::AnomalousParameterType));
    }
    truth(
        Attack::AnomalousParameterType,
        &CART_ITEMS,
        vec![ip],
        vec![token],
    )
}
