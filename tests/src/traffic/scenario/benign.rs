//! The benign background and the endpoint model the attacks share: who calls what, how big
//! requests and answers are and how long they take.

use super::{Config, HOST, LogRecord};
use crate::traffic::{Rng, apis};
use std::net::Ipv4Addr;

/// One endpoint of the scenario's API and its usual figures.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ep {
    pub method: &'static str,
    pub template: &'static str,
    /// Relative frequency in user traffic.
    pub weight: u32,
    pub ok: u16,
    /// Users always send credentials to it.
    pub auth: bool,
    /// Typical request length, response body and latency.
    pub req_bytes: u64,
    pub resp_bytes: u64,
    pub latency_ms: u64,
}

const fn ep(method: &'static str, template: &'static str, weight: u32, ok: u16) -> Ep {
    Ep {
        method,
        template,
        weight,
        ok,
        auth: true,
        req_bytes: 420,
        resp_bytes: 1_800,
        latency_ms: 45,
    }
}

pub(super) const PRODUCTS: Ep = Ep {
    auth: false,
    resp_bytes: 9_000,
    ..ep("GET", "/api/v1/products", 8, 200)
};
pub(super) const PRODUCT: Ep = Ep {
    auth: false,
    resp_bytes: 3_200,
    ..ep("GET", "/api/v1/products/{id}", 20, 200)
};
pub(super) const REVIEWS: Ep = Ep {
    auth: false,
    ..ep("GET", "/api/v1/products/{id}/reviews", 5, 200)
};
pub(super) const POST_REVIEW: Ep = Ep {
    req_bytes: 900,
    resp_bytes: 310,
    ..ep("POST", "/api/v1/products/{id}/reviews", 2, 201)
};
pub(super) const ME: Ep = Ep {
    resp_bytes: 640,
    ..ep("GET", "/api/v1/users/me", 6, 200)
};
pub(super) const USER: Ep = Ep {
    resp_bytes: 720,
    ..ep("GET", "/api/v1/users/{id}", 3, 200)
};
pub(super) const USER_ORDERS: Ep = Ep {
    resp_bytes: 2_600,
    ..ep("GET", "/api/v1/users/{id}/orders", 3, 200)
};
pub(super) const ORDER: Ep = Ep {
    resp_bytes: 1_400,
    ..ep("GET", "/api/v1/orders/{id}", 3, 200)
};
pub(super) const CART: Ep = ep("GET", "/api/v1/cart", 8, 200);
pub(super) const CART_ITEMS: Ep = Ep {
    resp_bytes: 380,
    ..ep("POST", "/api/v1/cart/items", 4, 201)
};
pub(super) const CHECKOUT: Ep = Ep {
    latency_ms: 260,
    ..ep("POST", "/api/v1/checkout", 1, 200)
};
pub(super) const LOGIN: Ep = Ep {
    resp_bytes: 520,
    latency_ms: 120,
    ..ep("POST", "/api/v1/auth/login", 2, 200)
};
pub(super) const SEARCH: Ep = Ep {
    auth: false,
    resp_bytes: 6_500,
    latency_ms: 70,
    ..ep("GET", "/api/v1/search", 6, 200)
};
pub(super) const BALANCE: Ep = Ep {
    resp_bytes: 260,
    ..ep("GET", "/payments/v2/balance", 1, 200)
};
pub(super) const HEALTH: Ep = Ep {
    auth: false,
    resp_bytes: 15,
    latency_ms: 1,
    ..ep("GET", "/health", 0, 200)
};

/// What users call, by weight.
const USER_EPS: [Ep; 14] = [
    PRODUCTS,
    PRODUCT,
    REVIEWS,
    POST_REVIEW,
    ME,
    USER,
    USER_ORDERS,
    ORDER,
    CART,
    CART_ITEMS,
    CHECKOUT,
    LOGIN,
    SEARCH,
    BALANCE,
];

/// Browsers and apps of ordinary users.
pub(super) const AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "ShopApp/3.4 (iOS 18.1)",
    "okhttp/4.12.0",
];

/// Words users search for.
const WORDS: [&str; 10] = [
    "red", "kettle", "blue", "shoes", "lamp", "desk", "wireless", "speaker", "mug", "tent",
];

/// The NAT address the first `nat_users` users share (an office).
pub(super) const NAT_IP: Ipv4Addr = Ipv4Addr::new(100, 64, 7, 1);
/// The reporting integration: a steady principal with a usual rate on [`PRODUCTS`].
pub(super) const REPORTING_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 5);
pub(super) const REPORTING_TOKEN: &str = "Bearer tk_reporting_7f3a9c2e51d04b68";
/// How often the reporting integration calls, in ms.
pub(super) const REPORTING_EVERY_MS: i64 = 30_000;

/// User `u`'s address: the office NAT or `10.1.x.y`.
pub(super) fn user_ip(cfg: &Config, u: usize) -> Ipv4Addr {
    if u < cfg.nat_users {
        return NAT_IP;
    }
    Ipv4Addr::from(0x0a01_0000 + u as u32 + 1)
}

/// User `u`'s bearer credential (an opaque session token, stable per user).
pub(super) fn user_token(u: usize) -> String {
    let h = Rng::new(u as u64 ^ 0x0074_6f6b_656e).next_u64();
    format!("Bearer tk_{h:016x}")
}

/// `typical` scaled by 0.7–1.3.
pub(super) fn jitter(rng: &mut Rng, typical: u64) -> u64 {
    typical * (70 + rng.below(61)) / 100
}

/// A request to `ep` at `t` with `ep`'s usual figures; callers adjust what differs.
pub(super) fn record(
    rng: &mut Rng,
    ep: &Ep,
    t: i64,
    target: String,
    client: Ipv4Addr,
) -> LogRecord {
    LogRecord {
        ts_ms: t,
        host: HOST,
        method: ep.method,
        target,
        status: ep.ok,
        client,
        user_agent: AGENTS[rng.below(AGENTS.len() as u64) as usize],
        authorization: None,
        request_bytes: jitter(rng, ep.req_bytes),
        response_bytes: jitter(rng, ep.resp_bytes),
        latency_ms: jitter(rng, ep.latency_ms).max(1),
        attack: None,
    }
}

/// A concrete target of `ep` as a user `u` calls it (ids, names and query drawn).
pub(super) fn target(rng: &mut Rng, ep: &Ep, u: usize, users: usize) -> String {
    let id = match ep.template {
        t if t.starts_with("/api/v1/products/") => apis::slug(rng.skewed(400) as usize),
        t if t.starts_with("/api/v1/users/") => {
            let who = if rng.chance(850) {
                u
            } else {
                rng.below(users as u64) as usize
            };
            apis::user_name(who)
        }
        "/api/v1/orders/{id}" => (10_000 + rng.below(90_000)).to_string(),
        _ => String::new(),
    };
    let mut t = ep.template.replace("{id}", &id);
    match ep.template {
        "/api/v1/products" => t.push_str(&format!("?page={}&sort=price", 1 + rng.below(9))),
        "/api/v1/search" => t.push_str(&format!(
            "?q={}+{}&limit=20",
            WORDS[rng.below(10) as usize],
            WORDS[rng.below(10) as usize]
        )),
        "/api/v1/cart/items" => t.push_str(&format!(
            "?sku={}&qty={}",
            apis::slug(rng.skewed(400) as usize),
            1 + rng.below(4)
        )),
        _ => {}
    }
    t
}

/// The mean interval between user requests, in ms.
pub(super) fn user_gap_ms(cfg: &Config) -> i64 {
    1000 / i64::from(cfg.user_rps.max(1))
}

/// How many of the user requests go to `ep`, per mille.
pub(super) fn share_per_mille(ep: &Ep) -> u64 {
    let total: u32 = USER_EPS.iter().map(|e| e.weight).sum();
    u64::from(ep.weight) * 1000 / u64::from(total)
}

/// Everything benign, unsorted.
pub(super) fn all(rng: &mut Rng, cfg: &Config) -> Vec<LogRecord> {
    let mut out = Vec::new();
    users(rng, cfg, &mut out);
    probes(rng, cfg, &mut out);
    partner_syncs(rng, cfg, &mut out);
    support_staff(rng, cfg, &mut out);
    expired_scripts(rng, cfg, &mut out);
    reporting(rng, cfg, &mut out);
    out
}

/// The user population: requests arrive at `user_rps` on average, each from a random user to
/// an endpoint drawn by weight; a few fail as real ones do.
fn users(rng: &mut Rng, cfg: &Config, out: &mut Vec<LogRecord>) {
    let total: u32 = USER_EPS.iter().map(|e| e.weight).sum();
    let gap = user_gap_ms(cfg);
    let mut t = cfg.start_ms + rng.below(gap as u64) as i64;
    while t < cfg.end_ms() {
        let u = rng.below(cfg.users.max(1) as u64) as usize;
        let mut w = rng.below(u64::from(total)) as u32;
        let ep = USER_EPS
            .iter()
            .find(|e| {
                let hit = w < e.weight;
                w = w.saturating_sub(e.weight);
                hit
            })
            .unwrap_or(&PRODUCT);
        let target = target(rng, ep, u, cfg.users);
        let mut r = record(rng, ep, t, target, user_ip(cfg, u));
        r.user_agent = AGENTS[u % AGENTS.len()];
        if ep.template == LOGIN.template {
            r.authorization = Some(super::basic(&apis::user_name(u), "correct horse"));
            r.status = if rng.chance(40) { 401 } else { 200 };
        } else if ep.auth {
            r.authorization = Some(user_token(u));
        }
        if rng.chance(20) && r.status < 300 {
            r.status = if ep.template.contains("{id}") {
                404
            } else {
                500
            };
            r.response_bytes = 90;
        }
        out.push(r);
        t += 1 + rng.below(2 * gap as u64) as i64;
    }
}

/// Two health probes, each every ten seconds (five apart), without credentials.
fn probes(rng: &mut Rng, cfg: &Config, out: &mut Vec<LogRecord>) {
    for (offset, ip) in [
        (0, Ipv4Addr::new(10, 0, 0, 2)),
        (5_000, Ipv4Addr::new(10, 0, 0, 3)),
    ] {
        let mut t = cfg.start_ms + offset;
        while t < cfg.end_ms() {
            let mut r = record(rng, &HEALTH, t, HEALTH.template.into(), ip);
            r.user_agent = "kube-probe/1.31";
            out.push(r);
            t += 10_000;
        }
    }
}

/// A partner syncing 80 catalogue entries in 40 s every `partner_every_ms`: one client, many
/// distinct ids quickly, a few gone (404) — not an enumeration.
fn partner_syncs(rng: &mut Rng, cfg: &Config, out: &mut Vec<LogRecord>) {
    let ip = Ipv4Addr::new(10, 20, 0, 8);
    let mut t0 = cfg.start_ms + 60_000;
    while t0 < cfg.end_ms() {
        for n in 0..80 {
            let slug = apis::slug((n * 5) % 400);
            let t = t0 + n as i64 * 500;
            let mut r = record(rng, &PRODUCT, t, format!("/api/v1/products/{slug}"), ip);
            r.user_agent = "PartnerSync/2.1 (+https://partner.example.net)";
            r.authorization = Some("Bearer tk_partner_c0ffee12ab34cd56".into());
            if n % 37 == 11 {
                r.status = 404;
                r.response_bytes = 90;
            }
            out.push(r);
        }
        t0 += cfg.partner_every_ms.max(60_000);
    }
}

/// Support staff opening one user's page every 20–40 s, a different user each time.
fn support_staff(rng: &mut Rng, cfg: &Config, out: &mut Vec<LogRecord>) {
    let ip = Ipv4Addr::new(10, 40, 0, 5);
    let mut t = cfg.start_ms + 15_000;
    let mut n = 0;
    while t < cfg.end_ms() {
        let target = format!("/api/v1/users/{}", apis::user_name(n % cfg.users.max(1)));
        let mut r = record(rng, &USER, t, target, ip);
        r.user_agent = AGENTS[0];
        r.authorization = Some("Bearer tk_support_5a6b7c8d9e0f1a2b".into());
        out.push(r);
        n += 7;
        t += 20_000 + rng.below(20_000) as i64;
    }
}

/// Three scripts retrying with an expired token every one to two minutes (401 each time).
fn expired_scripts(rng: &mut Rng, cfg: &Config, out: &mut Vec<LogRecord>) {
    for s in 0..3u8 {
        let ip = Ipv4Addr::new(10, 30, 0, 10 + s);
        let mut t = cfg.start_ms + i64::from(s) * 17_000;
        while t < cfg.end_ms() {
            let mut r = record(rng, &ME, t, ME.template.into(), ip);
            r.user_agent = "python-requests/2.32.3";
            r.authorization = Some(format!("Bearer tk_expired_{s:02}9d8c7b6a5f4e3d"));
            r.status = 401;
            r.response_bytes = 60;
            out.push(r);
            t += 60_000 + rng.below(60_000) as i64;
        }
    }
}

/// The reporting integration: [`PRODUCTS`] every [`REPORTING_EVERY_MS`].
fn reporting(rng: &mut Rng, cfg: &Config, out: &mut Vec<LogRecord>) {
    let mut t = cfg.start_ms + 7_000;
    while t < cfg.end_ms() {
        out.push(reporting_call(rng, t));
        t += REPORTING_EVERY_MS;
    }
}

/// One call of the reporting integration at `t`.
pub(super) fn reporting_call(rng: &mut Rng, t: i64) -> LogRecord {
    let target = format!("/api/v1/products?page={}&sort=price", 1 + rng.below(9));
    let mut r = record(rng, &PRODUCTS, t, target, REPORTING_IP);
    r.user_agent = "ReportingBot/1.0";
    r.authorization = Some(REPORTING_TOKEN.into());
    r
}
