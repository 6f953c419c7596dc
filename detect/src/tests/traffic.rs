//! A small seeded traffic generator: requests folded into the summaries a sensor would send
//! (10-second windows), benign multi-user traffic with its look-alikes, and one function per
//! attack.

use picket_shared::shape::Shape;
use picket_shared::summary::{ClientActivity, NotableKind};
use picket_shared::{ActorSummary, EndpointKey, EndpointSummary, NotableEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Sensor window width in the generated traffic.
pub const WINDOW_MS: i64 = 10_000;
pub const MIN: i64 = 60_000;
/// Start of the simulated period (event time).
pub const T0: i64 = 1_800_000_000_000;

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A client.
#[derive(Debug, Clone)]
pub struct Who {
    pub ip: IpAddr,
    pub principal: Option<String>,
    pub agent: Option<String>,
}

pub fn who(ip: &str, principal: Option<&str>) -> Who {
    Who {
        ip: ip.parse().expect("ip"),
        principal: principal.map(str::to_owned),
        agent: Some("Mozilla/5.0".into()),
    }
}

pub fn ep(method: &str, template: &str) -> EndpointKey {
    EndpointKey {
        host: "api.example.com".into(),
        method: method.into(),
        template: template.into(),
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct Req {
    pub t: i64,
    pub status: u16,
    pub req_bytes: u64,
    pub resp_bytes: u64,
    pub latency_us: u64,
    pub params: Vec<(&'static str, Shape)>,
    pub object: Option<u64>,
}

pub fn req(t: i64, status: u16) -> Req {
    Req {
        t,
        status,
        req_bytes: 300,
        resp_bytes: 2_000,
        latency_us: 40_000,
        params: Vec::new(),
        object: None,
    }
}

type ClientKey = (Option<IpAddr>, Option<String>);

#[derive(Default)]
struct Win {
    s: EndpointSummary,
    clients: BTreeMap<ClientKey, (ClientActivity, BTreeSet<u32>)>,
}

/// One item of the generated stream, in the engine's processing order.
#[derive(Debug, Clone)]
pub enum Item {
    Summary(EndpointKey, Box<EndpointSummary>),
    Actor(ActorSummary),
    Notable(NotableEvent),
}

/// Requests folded into summaries.
#[derive(Default)]
pub struct Traffic {
    wins: BTreeMap<(i64, EndpointKey), Win>,
    actors: BTreeMap<(i64, ClientKey), (ActorSummary, BTreeSet<EndpointKey>)>,
    notables: Vec<NotableEvent>,
}

fn ref_hash(object: u64) -> u32 {
    (Rng(object ^ 0x5151).next() >> 32) as u32
}

impl Traffic {
    pub fn add(&mut self, e: &EndpointKey, w: &Who, r: Req) {
        let win = r.t.div_euclid(WINDOW_MS) * WINDOW_MS;
        let slot = self.wins.entry((win, e.clone())).or_default();
        let s = &mut slot.s;
        if s.requests == 0 {
            s.first_seen_ms = r.t;
            s.window_start_ms = win;
        }
        s.requests += 1;
        s.last_seen_ms = s.last_seen_ms.max(r.t);
        *s.statuses.entry(r.status).or_default() += 1;
        s.request_bytes_sum += r.req_bytes;
        s.response_bytes_sum += r.resp_bytes;
        s.latency_us_sum += r.latency_us;
        s.latency_us_hist.record(r.latency_us);
        s.request_bytes_hist.record(r.req_bytes);
        s.response_bytes_hist.record(r.resp_bytes);
        if w.principal.is_some() {
            s.auth_present += 1;
        }
        for (name, shape) in &r.params {
            let p = s.params.entry((*name).to_owned()).or_default();
            p.count += 1;
            *p.shapes.entry(*shape).or_default() += 1;
        }
        let key = (Some(w.ip), w.principal.clone());
        let (c, refs) = slot.clients.entry(key.clone()).or_default();
        c.client_ip = Some(w.ip);
        c.principal = w.principal.clone();
        c.requests += 1;
        c.auth_failures += u64::from(matches!(r.status, 401 | 403));
        c.errors += u64::from(r.status >= 400);
        if let Some(o) = r.object {
            refs.insert(ref_hash(o));
        }
        let (a, eps) = self.actors.entry((win, key)).or_default();
        a.window_start_ms = win;
        a.client_ip = Some(w.ip);
        a.principal = w.principal.clone();
        a.agent = w.agent.clone();
        a.requests += 1;
        match r.status {
            401 => a.unauthorized += 1,
            403 => a.forbidden += 1,
            404 => a.not_found += 1,
            405 => a.method_not_allowed += 1,
            500..=599 => a.server_errors += 1,
            _ => {}
        }
        a.auth_present += u64::from(w.principal.is_some());
        eps.insert(e.clone());
    }

    pub fn notable(
        &mut self,
        e: &EndpointKey,
        w: &Who,
        t: i64,
        kind: NotableKind,
        label: &str,
        status: u16,
    ) {
        self.notables.push(NotableEvent {
            ts_ms: t,
            endpoint: e.clone(),
            kinds: vec![kind],
            labels: vec![label.to_owned()],
            client_ip: Some(w.ip),
            principal: w.principal.clone(),
            status,
        });
    }

    /// The stream in processing order: by event time, then summaries, actors, notables.
    pub fn finish(self) -> Vec<Item> {
        let mut out: Vec<(i64, u8, Item)> = Vec::new();
        for ((_, key), w) in self.wins {
            let mut s = w.s;
            s.distinct_clients = w.clients.len() as u64;
            let mut tops: Vec<ClientActivity> = w
                .clients
                .into_values()
                .map(|(mut c, refs)| {
                    c.distinct_object_refs = refs.len() as u64;
                    c.ref_sample = refs.into_iter().take(16).collect();
                    c
                })
                .collect();
            tops.sort_by_key(|c| std::cmp::Reverse(c.requests));
            tops.truncate(64);
            s.top_clients = tops;
            out.push((s.window_start_ms, 0, Item::Summary(key, Box::new(s))));
        }
        for (_, (mut a, eps)) in self.actors {
            a.distinct_endpoints = eps.len() as u64;
            out.push((a.window_start_ms, 1, Item::Actor(a)));
        }
        let mut notables = self.notables;
        notables.sort_by_key(|n| n.ts_ms);
        for n in notables {
            out.push((n.ts_ms, 2, Item::Notable(n)));
        }
        out.sort_by_key(|(t, k, _)| (*t, *k));
        out.into_iter().map(|(_, _, i)| i).collect()
    }
}

/// The benign population over `minutes` from [`T0`]: 20 users and 15 users behind one NAT
/// (browsing, ordering, their own profile, logins with a few typos), a partner syncing the
/// catalogue every 10 minutes (a burst of paged list calls and 30 category endpoints, all
/// 200), a health monitor on 20 endpoints, a script retrying with an expired token, support
/// staff opening a few hundred users' pages an hour, a user reloading one object every second
/// and a broken client repeating one 404.
pub fn benign(t: &mut Traffic, seed: u64, minutes: i64) {
    let mut rng = Rng(seed);
    let end = T0 + minutes * MIN;
    let mut people: Vec<Who> = (0..20)
        .map(|i| who(&format!("10.0.1.{i}"), Some(&format!("u{i}"))))
        .collect();
    people.extend((0..15).map(|i| who("10.0.9.9", Some(&format!("nat{i}")))));
    let mut ts = T0;
    while ts < end {
        for (i, u) in people.iter().enumerate() {
            for _ in 0..rng.below(3) {
                let tt = ts + rng.below(WINDOW_MS as u64) as i64;
                user_request(t, tt, i as u64, u, &mut rng);
            }
        }
        look_alikes(t, &mut rng, ts);
        ts += WINDOW_MS;
    }
}

fn user_request(t: &mut Traffic, tt: i64, i: u64, u: &Who, rng: &mut Rng) {
    let mut r = req(tt, 200);
    r.resp_bytes = 1_000 + rng.below(3_000);
    r.latency_us = 20_000 + rng.below(60_000);
    match rng.below(10) {
        0..=2 => {
            r.params = vec![("query:page", Shape::Int), ("query:q", Shape::TextShort)];
            t.add(&ep("GET", "/api/products"), u, r);
        }
        3..=4 => {
            r.object = Some(1_000 + rng.below(500));
            r.params = vec![("path:id", Shape::Int)];
            t.add(&ep("GET", "/api/products/{id}"), u, r);
        }
        5 => {
            r.object = Some(i);
            r.params = vec![("path:id", Shape::Int)];
            t.add(&ep("GET", "/api/users/{id}"), u, r);
        }
        6 => {
            r.req_bytes = 500 + rng.below(1_500);
            r.params = vec![("body:sku", Shape::Hex), ("body:qty", Shape::Int)];
            r.status = 201;
            t.add(&ep("POST", "/api/orders"), u, r);
        }
        7 => {
            r.status = if rng.chance(0.05) { 401 } else { 200 };
            r.params = vec![
                ("body:username", Shape::TextShort),
                ("body:password", Shape::TextShort),
            ];
            t.add(&ep("POST", "/api/login"), u, r);
        }
        8 => {
            r.params = vec![("query:q", Shape::TextShort)];
            t.add(&ep("GET", "/api/search"), u, r);
        }
        _ => t.add(&ep("GET", "/api/orders"), u, r),
    }
}

/// The look-alikes' requests in the window starting at `ts`.
fn look_alikes(t: &mut Traffic, rng: &mut Rng, ts: i64) {
    let minute = (ts - T0) / MIN;
    let in_minute = (ts - T0) % MIN;
    // Partner: every 10 minutes, one minute of catalogue sync (paged list + categories).
    if minute % 10 == 2 {
        let partner = who("10.0.5.5", Some("partner"));
        for k in 0..100 {
            let mut r = req(ts + k * 97 % WINDOW_MS, 200);
            r.resp_bytes = 20_000 + rng.below(10_000);
            r.params = vec![("query:page", Shape::Int)];
            t.add(&ep("GET", "/api/products"), &partner, r);
        }
        if in_minute == 0 {
            for c in 0..30 {
                t.add(
                    &ep("GET", &format!("/api/catalog/cat{c}")),
                    &partner,
                    req(ts + c, 200),
                );
            }
        }
    }
    // Health monitor: 20 endpoints every 10 s.
    let monitor = Who {
        principal: None,
        ..who("10.0.7.7", None)
    };
    for h in 0..20 {
        t.add(
            &ep("GET", &format!("/health/svc{h}")),
            &monitor,
            req(ts + h, 200),
        );
    }
    // A script with an expired token on a normal endpoint: 5 tries every 10 s.
    let script = who("10.0.8.8", Some("script"));
    for k in 0..5 {
        t.add(&ep("GET", "/api/reports"), &script, req(ts + k, 401));
    }
    // Support staff: about one user's page every 12 s.
    if rng.chance(0.8) {
        let staff = who("10.0.6.6", Some("staff"));
        let mut r = req(ts + 3, 200);
        r.object = Some(10_000 + rng.below(5_000));
        r.params = vec![("path:id", Shape::Int)];
        t.add(&ep("GET", "/api/users/{id}"), &staff, r);
    }
    // A user reloading the same object every second.
    let reloader = who("10.0.4.4", Some("reloader"));
    for k in 0..10 {
        let mut r = req(ts + k * 1_000, 200);
        r.object = Some(7);
        r.params = vec![("path:id", Shape::Int)];
        t.add(&ep("GET", "/api/users/{id}"), &reloader, r);
    }
    // A broken client repeating one 404.
    let broken = who("10.0.3.3", None);
    for k in 0..5 {
        t.add(&ep("GET", "/api/v0/old"), &broken, req(ts + k, 404));
    }
}
