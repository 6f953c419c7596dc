//! The aggregator's actor tests: actor summaries (statuses, distinct endpoints, windows,
//! caps, agents) and the reference samples of the busiest clients.

use super::*;
use crate::identity::AgentProduct;
use picket_shared::ActorSummary;

fn rec(method: &str, target: &str, ts: i64, ip: &str, status: u16) -> RequestRecord {
    RequestRecord {
        ts_ms: ts,
        method: method.into(),
        host: "api".into(),
        target: target.into(),
        status,
        client_ip: ip.parse().ok(),
        ..Default::default()
    }
}

fn chunk(records: Vec<RequestRecord>) -> Chunk {
    Chunk {
        can_wait: false,
        source: "f".into(),
        records,
        position: None,
        record_ends: Vec::new(),
    }
}

fn sealed(limits: AggregateLimits, records: Vec<RequestRecord>) -> Sealed {
    let mut a = Aggregator::new(limits);
    let mut c = chunk(records);
    assert!(!a.fill(&mut c), "one batch");
    a.seal()
}

fn actor<'a>(s: &'a Sealed, ip: &str, window: i64) -> &'a ActorSummary {
    let ip = ip.parse().ok();
    s.actors
        .iter()
        .find(|a| a.client_ip == ip && a.window_start_ms == window)
        .unwrap_or_else(|| panic!("no actor {ip:?} in window {window}: {:?}", s.actors))
}

#[test]
fn counts_statuses_endpoints_and_auth_failure_endpoints() {
    let ip = "81.2.69.1";
    let mut records = vec![
        rec("GET", "/users/1", 10, ip, 200),
        rec("GET", "/users/2", 11, ip, 401),
        rec("GET", "/users/3", 12, ip, 401),
        rec("POST", "/users/3", 13, ip, 403),
        rec("GET", "/admin", 14, ip, 403),
        rec("GET", "/admin", 15, ip, 404),
        rec("DELETE", "/health", 16, ip, 405),
        rec("GET", "/health", 17, ip, 500),
        rec("GET", "/health", 18, ip, 503),
        rec("GET", "/health", 19, ip, 429),
        rec("GET", "/other", 20, "10.0.0.9", 200),
    ];
    records[0].auth_present = true;
    records[1].auth_present = true;
    records[0].agent_product = AgentProduct::of("curl/8.5.0");
    records[1].agent_product = AgentProduct::of("python-requests/2.31");
    let s = sealed(AggregateLimits::default(), records);
    assert_eq!(s.actors.len(), 2);
    let a = actor(&s, ip, 0);
    let want = ActorSummary {
        window_start_ms: 0,
        client_ip: ip.parse().ok(),
        principal: None,
        agent: Some("curl/8.5.0".into()),
        requests: 10,
        // GET /users/{id}, POST /users/{id}, GET /admin, DELETE /health, GET /health.
        distinct_endpoints: 5,
        unauthorized: 2,
        forbidden: 2,
        not_found: 1,
        method_not_allowed: 1,
        server_errors: 2,
        rate_limited: 1,
        auth_present: 2,
        distinct_object_refs: 3,
        // GET /users/{id} twice (401, 401), POST /users/{id} (403), GET /admin (403, 404).
        auth_failure_endpoints: 3,
    };
    assert_eq!(a, &want);
    let other = actor(&s, "10.0.0.9", 0);
    assert_eq!((other.requests, other.distinct_endpoints), (1, 1));
    assert_eq!(other.agent, None);
}

#[test]
fn principals_are_actors_of_their_own_and_anonymous_unknowns_none() {
    let k = crate::identity::PrincipalKey::fixed(1);
    let p = k.principal(crate::identity::AuthScheme::ApiKey, b"key-1");
    let mut with_key = rec("GET", "/a", 1, "81.2.69.1", 200);
    with_key.principal = Some(p);
    let mut key_only = rec("GET", "/a", 2, "", 200);
    key_only.principal = Some(p);
    let nobody = rec("GET", "/a", 3, "", 200);
    let s = sealed(
        AggregateLimits::default(),
        vec![
            with_key,
            key_only,
            nobody,
            rec("GET", "/a", 4, "81.2.69.1", 200),
        ],
    );
    let mut keys: Vec<_> = s
        .actors
        .iter()
        .map(|a| (a.client_ip, a.principal.clone(), a.requests))
        .collect();
    keys.sort();
    let ip = "81.2.69.1".parse().ok();
    let hex = Some(p.to_hex());
    assert_eq!(
        keys,
        vec![(None, hex.clone(), 1), (ip, None, 1), (ip, hex, 1)]
    );
}

#[test]
fn windows_are_separate_actors() {
    let ip = "81.2.69.2";
    let s = sealed(
        AggregateLimits::default(),
        vec![
            rec("GET", "/a", 999, ip, 401),
            rec("GET", "/a", 1_000, ip, 401),
            rec("GET", "/b", 1_500, ip, 200),
            rec("GET", "/a", 2_000, ip, 200),
        ],
    );
    let mut windows: Vec<(i64, u64, u64, u64)> = s
        .actors
        .iter()
        .map(|a| {
            (
                a.window_start_ms,
                a.requests,
                a.distinct_endpoints,
                a.auth_failure_endpoints,
            )
        })
        .collect();
    windows.sort();
    assert_eq!(
        windows,
        vec![(0, 1, 1, 1), (1_000, 2, 2, 1), (2_000, 1, 1, 0)]
    );
    let total: u64 = s.actors.iter().map(|a| a.requests).sum();
    assert_eq!(total, s.requests);
}

#[test]
fn distinct_object_refs_across_endpoints() {
    let ip = "81.2.69.3";
    let s = sealed(
        AggregateLimits::default(),
        vec![
            rec("GET", "/users/1", 1, ip, 200),
            rec("GET", "/users/1", 2, ip, 200),
            rec("DELETE", "/users/1", 3, ip, 204),
            rec("GET", "/users/2/orders/1", 4, ip, 200),
            rec("GET", "/users/3", 5, ip, 200),
        ],
    );
    // Values 1, 2 and 3 (the same value on another endpoint is the same reference).
    assert_eq!(actor(&s, ip, 0).distinct_object_refs, 3);
    let users = s
        .endpoints
        .iter()
        .find(|(k, _)| k.method == "GET" && k.template == "/users/{id}")
        .map(|(_, e)| &e.top_clients[0])
        .unwrap();
    assert_eq!(users.distinct_object_refs, 2);
}

#[test]
fn full_actor_table_seals_and_direct_adds_are_counted() {
    let limits = AggregateLimits {
        max_batch_actors: 3,
        ..Default::default()
    };
    let records: Vec<_> = (0..10)
        .map(|i| rec("GET", "/a", i, &format!("81.2.69.{}", i % 5), 200))
        .collect();
    let mut a = Aggregator::new(limits);
    let mut c = chunk(records.clone());
    let mut batches = Vec::new();
    while a.fill(&mut c) {
        batches.push(a.seal());
    }
    batches.push(a.seal());
    assert!(batches.iter().all(|b| b.actors.len() <= 3));
    let summarized: u64 = batches
        .iter()
        .flat_map(|b| &b.actors)
        .map(|a| a.requests)
        .sum();
    assert_eq!(summarized, 10, "every request of every client summarized");
    assert_eq!(a.actors_dropped, 0);
    // Past the limit without sealing: new actors are refused and counted once each.
    let mut a = Aggregator::new(limits);
    for r in &records {
        a.add(r);
    }
    let s = a.seal();
    assert_eq!(s.actors.len(), 3);
    assert_eq!(a.actors_dropped, 2);
    assert_eq!(s.actors.iter().map(|a| a.requests).sum::<u64>(), 6);
    assert_eq!(s.requests, 10);
}

#[test]
fn actor_memory_is_accounted() {
    let mut a = Aggregator::new(AggregateLimits::default());
    a.add(&rec("GET", "/a", 1, "81.2.69.1", 200));
    let one = a.approx_bytes();
    for i in 0..2_000u32 {
        let ip = std::net::Ipv4Addr::from(0x5102_0000 + i).to_string();
        a.add(&rec("GET", "/a", 1, &ip, 200));
    }
    // A slot client entry (~60 bytes) and an actor entry (~160 bytes) per client at least.
    assert!(
        a.approx_bytes() - one >= 2_000 * 200,
        "{}",
        a.approx_bytes()
    );
    let small = AggregateLimits {
        max_batch_bytes: 64 * 1024,
        ..Default::default()
    };
    let records: Vec<_> = (0..2_000u32)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(0x5102_0000 + i).to_string();
            rec("GET", "/a", 1, &ip, 200)
        })
        .collect();
    let mut a = Aggregator::new(small);
    let mut c = chunk(records);
    let mut sealed = 0;
    while a.fill(&mut c) {
        let s = a.seal();
        assert!(s.actors.len() < 2_000);
        sealed += 1;
    }
    assert!(sealed > 2 && a.sealed_for_bytes > 2);
}

#[test]
fn hostile_agents_never_travel() {
    let long = format!("{}/1 (x)", "Z".repeat(5_000));
    for (ua, want) in [
        ("(only; comments)", None),
        ("\u{1b}[31mred", None),
        ("curl/8\r\nX-Evil: 1", None),
        ("<script>", None),
        (long.as_str(), Some("Z".repeat(64))),
    ] {
        let mut r = rec("GET", "/a", 1, "81.2.69.9", 200);
        r.agent_product = AgentProduct::of(ua);
        let s = sealed(AggregateLimits::default(), vec![r]);
        assert_eq!(s.actors[0].agent, want, "{ua:?}");
    }
}

#[test]
fn ref_samples_of_top_clients() {
    let ip = "81.2.69.4";
    let records: Vec<_> = (0..100)
        .map(|i| rec("GET", &format!("/items/{}", i % 40), i, ip, 200))
        .collect();
    let mut a = Aggregator::new(AggregateLimits::default());
    // The sample is made of the keyed hashes the aggregator computes for `{id}` values.
    let mut want: Vec<u32> = (0..40)
        .map(|v: i32| kmv::ref_value(a.hasher.hash_one(("{id}", v.to_string().as_str()))))
        .collect();
    want.sort_unstable();
    want.dedup();
    want.truncate(picket_shared::limits::MAX_REF_SAMPLE);
    let mut c = chunk(records);
    assert!(!a.fill(&mut c));
    let s = a.seal();
    let top = &s.endpoints[0].1.top_clients[0];
    assert_eq!(top.distinct_object_refs, 40);
    assert_eq!(top.ref_sample, want);
    // No references, no sample.
    let s = sealed(
        AggregateLimits::default(),
        vec![rec("GET", "/health", 1, ip, 200)],
    );
    assert!(s.endpoints[0].1.top_clients[0].ref_sample.is_empty());
}

#[test]
fn sealed_batches_encode_actors_and_samples() {
    let mut r = rec("GET", "/items/7", 1, "81.2.69.5", 401);
    r.agent_product = AgentProduct::of("curl/8.5.0");
    let s = sealed(AggregateLimits::default(), vec![r]);
    let counters = picket_shared::SensorCounters::default();
    let b = crate::grpc::batch("s", 1, 1, &s, &counters, String::new());
    assert_eq!(b.actors.len(), 1);
    assert_eq!(
        (
            b.actors[0].client_ip.as_str(),
            b.actors[0].agent.as_str(),
            b.actors[0].unauthorized
        ),
        ("81.2.69.5", "curl/8.5.0", 1)
    );
    assert_eq!(b.endpoints[0].top_clients[0].ref_sample.len(), 1);
}
