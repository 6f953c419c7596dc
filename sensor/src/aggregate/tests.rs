//! The aggregator's unit tests: folding, bounds, windows, clients, injections, notables.

use super::*;
use picket_shared::NotableKind;
use picket_shared::summary::MAX_NOTABLES_PER_BATCH;

fn rec(target: &str, ts: i64, ip: &str, status: u16) -> RequestRecord {
    RequestRecord {
        ts_ms: ts,
        method: "GET".into(),
        host: "api".into(),
        target: target.into(),
        status,
        request_bytes: 10,
        response_bytes: 100,
        latency_us: 1000,
        client_ip: ip.parse().ok(),
        ..Default::default()
    }
}

/// Adds a chunk through the production path ([`Aggregator::fill`]); true when the batch
/// reached its bounds (whatever the bounds left of the chunk is dropped).
fn fill_from(a: &mut Aggregator, mut c: Chunk) -> bool {
    a.fill(&mut c)
}

fn chunk(records: Vec<RequestRecord>, offset: Option<u64>) -> Chunk {
    Chunk {
        can_wait: false,
        source: "f".into(),
        records,
        position: offset.map(|o| FilePosition {
            inode: 1,
            offset: o,
        }),
        record_ends: Vec::new(),
    }
}

#[test]
fn folds_by_template_and_counts_clients() {
    let mut a = Aggregator::new(AggregateLimits::default());
    fill_from(
        &mut a,
        chunk(
            vec![
                rec("/users/1", 5, "8.8.8.8", 200),
                rec("/users/2?x=1", 3, "10.0.0.1", 404),
                rec("/users/3", 9, "8.8.8.8", 200),
                rec("/health", 4, "10.0.0.1", 200),
            ],
            Some(77),
        ),
    );
    let sealed = a.seal();
    assert_eq!(sealed.requests, 4);
    assert_eq!((sealed.window_start_ms, sealed.window_end_ms), (3, 9));
    assert_eq!(sealed.positions.get("f").map(|p| p.offset), Some(77));
    let users = &sealed
        .endpoints
        .iter()
        .find(|(k, _)| k.template == "/users/{id}")
        .unwrap()
        .1;
    assert_eq!(
        (
            users.requests,
            users.distinct_clients,
            users.public_client_requests
        ),
        (3, 2, 2)
    );
    assert_eq!((users.first_seen_ms, users.last_seen_ms), (3, 9));
    assert_eq!(users.statuses.get(&404), Some(&1));
    let params: Vec<(&str, u64)> = users
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.count))
        .collect();
    assert_eq!(params, vec![("path:users.id", 3), ("query:x", 1)]);
    assert_eq!(users.auth_schemes, BTreeMap::from([("none".to_owned(), 3)]));
    assert!(!a.has_content());
}

#[test]
fn seals_early_when_full_and_caps_clients() {
    let limits = AggregateLimits {
        max_batch_endpoints: 2,
        max_clients_per_endpoint: 1,
        ..Default::default()
    };
    let mut a = Aggregator::new(limits);
    assert!(!fill_from(
        &mut a,
        chunk(
            vec![rec("/a", 1, "1.1.1.1", 200), rec("/a", 1, "1.1.1.2", 200)],
            None
        )
    ));
    assert_eq!(a.clients_over_cap, 1);
    assert!(fill_from(
        &mut a,
        chunk(vec![rec("/b", 1, "1.1.1.1", 200)], None)
    ));
    assert_eq!(a.seal().endpoints.len(), 2);
}

#[test]
fn fill_stops_at_the_endpoint_bound_and_keeps_the_position_for_the_last_part() {
    let limits = AggregateLimits {
        max_batch_endpoints: 2,
        ..Default::default()
    };
    let mut a = Aggregator::new(limits);
    let records = ["/a", "/b", "/c", "/d", "/e"]
        .iter()
        .map(|p| rec(p, 1, "1.1.1.1", 200))
        .collect();
    let mut c = chunk(records, Some(50));
    let mut batches = Vec::new();
    while a.fill(&mut c) {
        batches.push(a.seal());
    }
    batches.push(a.seal());
    let shape: Vec<(usize, Option<u64>)> = batches
        .iter()
        .map(|b| (b.endpoints.len(), b.positions.get("f").map(|p| p.offset)))
        .collect();
    assert_eq!(shape, vec![(2, None), (2, None), (1, Some(50))]);
    assert!(c.records.is_empty() && c.position.is_none());
}

/// With record ends, each part of a split chunk carries the position after its own last
/// record: a restart from any sealed part re-reads none of the records it holds.
#[test]
fn a_split_chunk_gives_each_part_the_position_after_its_last_record() {
    let limits = AggregateLimits {
        max_batch_endpoints: 2,
        ..Default::default()
    };
    let mut a = Aggregator::new(limits);
    let records = ["/a", "/b", "/c", "/d", "/e"]
        .iter()
        .map(|p| rec(p, 1, "1.1.1.1", 200))
        .collect();
    let mut c = chunk(records, Some(50));
    c.record_ends = vec![10, 20, 30, 40, 48];
    let mut batches = Vec::new();
    while a.fill(&mut c) {
        batches.push(a.seal());
    }
    batches.push(a.seal());
    let shape: Vec<(usize, Option<u64>)> = batches
        .iter()
        .map(|b| (b.endpoints.len(), b.positions.get("f").map(|p| p.offset)))
        .collect();
    assert_eq!(shape, vec![(2, Some(20)), (2, Some(40)), (1, Some(50))]);
    assert!(c.records.is_empty() && c.record_ends.is_empty());
}

#[test]
fn seals_early_when_over_the_byte_budget() {
    let limits = AggregateLimits {
        max_batch_bytes: 256 * 1024,
        ..Default::default()
    };
    let mut a = Aggregator::new(limits);
    // One endpoint, one window: few clients stay well under the budget.
    let few: Vec<_> = (0..10)
        .map(|i| rec("/a", 1, &format!("81.0.0.{i}"), 200))
        .collect();
    assert!(!fill_from(&mut a, chunk(few, None)));
    let small = a.approx_bytes();
    assert!(small > 0 && small < limits.max_batch_bytes);
    // Many distinct clients with object references grow it past the budget.
    let mut full = false;
    for round in 0..100u32 {
        let many: Vec<_> = (0..1000u32)
            .map(|i| {
                let n = round * 1000 + i;
                let ip = format!("81.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
                rec(&format!("/orders/{n}"), 1, &ip, 200)
            })
            .collect();
        if fill_from(&mut a, chunk(many, None)) {
            full = true;
            break;
        }
    }
    assert!(full, "the byte budget must seal the batch");
    assert_eq!(a.sealed_for_bytes, 1);
    assert!(a.approx_bytes() >= limits.max_batch_bytes);
    let sealed = a.seal();
    assert_eq!(sealed.endpoints.len(), 2);
    assert_eq!(a.approx_bytes(), 0);
    let orders = &sealed.endpoints[1].1;
    assert_eq!(orders.distinct_clients, orders.requests);
    assert_eq!(orders.top_clients.len(), TOP_CLIENTS);
    assert_eq!(orders.top_clients[0].distinct_object_refs, 1);
}

#[test]
fn event_time_windows_and_busiest_clients() {
    let mut a = Aggregator::new(AggregateLimits::default());
    let mut recs = Vec::new();
    // One client walks 30 distinct ids and fails auth twice; another repeats one id.
    for i in 0..30 {
        recs.push(rec(
            &format!("/orders/{i}"),
            10_100 + i,
            "81.2.69.1",
            if i < 2 { 401 } else { 200 },
        ));
    }
    for _ in 0..5 {
        recs.push(rec("/orders/7", 10_500, "81.2.69.2", 200));
    }
    recs.push(rec("/orders/8", 11_200, "81.2.69.2", 404));
    fill_from(&mut a, chunk(recs, None));
    let sealed = a.seal();
    assert_eq!(sealed.window_ms, 1_000);
    let windows: Vec<(i64, u64)> = sealed
        .endpoints
        .iter()
        .map(|(_, s)| (s.window_start_ms, s.requests))
        .collect();
    assert_eq!(windows, vec![(10_000, 35), (11_000, 1)]);
    let first = &sealed.endpoints[0].1.top_clients;
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].client_ip, "81.2.69.1".parse().ok());
    assert_eq!(
        (
            first[0].requests,
            first[0].auth_failures,
            first[0].distinct_object_refs
        ),
        (30, 2, 30)
    );
    assert_eq!((first[1].requests, first[1].distinct_object_refs), (5, 1));
    assert_eq!(sealed.endpoints[1].1.top_clients[0].errors, 1);
}

#[test]
fn injection_hits_counted_by_location_and_rule() {
    let mut a = Aggregator::new(AggregateLimits::default());
    let mut from_body = rec("/login", 1, "8.8.8.8", 200);
    from_body.injections.push(inject::Finding {
        hit: inject::Hit {
            class: inject::Class::Nosqli,
            rule: "nosqli.operator",
        },
        location: inject::Location::Body,
    });
    fill_from(
        &mut a,
        chunk(
            vec![
                rec("/search?q=1%27%20union%20select%201,2--", 1, "8.8.8.8", 200),
                rec("/search?q=shoes", 2, "8.8.8.8", 200),
                rec("/files/..%2f..%2fetc%2fpasswd", 3, "8.8.8.8", 404),
                from_body,
            ],
            None,
        ),
    );
    let sealed = a.seal();
    let all: BTreeMap<String, u64> = sealed
        .endpoints
        .iter()
        .flat_map(|(_, s)| s.injections.clone())
        .collect();
    assert_eq!(all.get("query:sqli.union-select"), Some(&1));
    assert_eq!(all.get("path:traversal.dot-dot"), Some(&1));
    assert_eq!(all.get("body:nosqli.operator"), Some(&1));
    assert!(!all.keys().any(|k| k.contains("shoes")));

    let mut off = Aggregator::new(AggregateLimits {
        classify_injections: false,
        ..Default::default()
    });
    fill_from(
        &mut off,
        chunk(
            vec![rec("/s?q=1%27%20union%20select%201,2--", 1, "8.8.8.8", 200)],
            None,
        ),
    );
    assert!(off.seal().endpoints[0].1.injections.is_empty());
}

#[test]
fn request_content_types_counted_by_label() {
    let mut a = Aggregator::new(AggregateLimits::default());
    let typed = |ts: i64, ct: Option<&str>| {
        let mut r = rec("/orders", ts, "8.8.8.8", 201);
        r.method = "POST".into();
        r.content_type = ct.map(picket_shared::media::label);
        r
    };
    fill_from(
        &mut a,
        chunk(
            vec![
                typed(1, Some("application/json")),
                typed(2, Some("application/vnd.api+json; charset=utf-8")),
                typed(3, Some("text/xml")),
                typed(4, Some("\u{0}<script>")),
                typed(5, None),
            ],
            None,
        ),
    );
    let sealed = a.seal();
    assert_eq!(sealed.endpoints.len(), 1);
    let s = &sealed.endpoints[0].1;
    assert_eq!(s.requests, 5);
    assert_eq!(
        s.request_content_types,
        BTreeMap::from([
            ("json".to_owned(), 2),
            ("other".to_owned(), 1),
            ("xml".to_owned(), 1)
        ])
    );
}

#[test]
fn flagged_requests_become_bounded_redacted_notables() {
    let mut a = Aggregator::new(AggregateLimits::default());
    let mut scanner = rec("/ok", 5, "8.8.8.8", 200);
    scanner.agent = Some("scanner:sqlmap");
    fill_from(
        &mut a,
        chunk(
            vec![
                rec("/s?q=1%27%20or%201=1--", 1, "8.8.8.8", 200),
                rec("/s?email=a.person@example.com", 2, "8.8.8.8", 200),
                rec("/s?q=shoes", 3, "8.8.8.8", 200),
                scanner,
            ],
            None,
        ),
    );
    let sealed = a.seal();
    let kinds: Vec<Vec<NotableKind>> = sealed.notables.iter().map(|n| n.kinds.clone()).collect();
    assert_eq!(
        kinds,
        [
            vec![NotableKind::Injection],
            vec![NotableKind::SensitiveInUrl],
            vec![NotableKind::SuspiciousAgent]
        ]
    );
    assert!(
        sealed.notables[0]
            .labels
            .iter()
            .all(|l| l.starts_with("query:sqli."))
    );
    assert_eq!(sealed.notables[1].labels, ["query:email"]);
    assert_eq!(sealed.notables[2].labels, ["agent:scanner:sqlmap"]);
    let text = format!("{:?}", sealed.notables);
    assert!(!text.contains("person@") && !text.contains("1=1"));

    let flood: Vec<RequestRecord> = (0..MAX_NOTABLES_PER_BATCH + 10)
        .map(|i| {
            rec(
                &format!("/s?q={i}%27%20union%20select%201--"),
                1,
                "8.8.8.8",
                200,
            )
        })
        .collect();
    fill_from(&mut a, chunk(flood, None));
    assert_eq!(a.seal().notables.len(), MAX_NOTABLES_PER_BATCH);
    assert_eq!(a.notables_dropped, 10);
}

#[test]
fn positions_alone_are_content() {
    let mut a = Aggregator::new(AggregateLimits::default());
    fill_from(&mut a, chunk(vec![], Some(10)));
    assert!(a.has_content());
    let s = a.seal();
    assert_eq!((s.requests, s.endpoints.len()), (0, 0));
    assert!(!a.has_content());
}

#[test]
fn answers_that_say_missing_do_not_teach_the_templates() {
    let names = |status: u16| -> Vec<RequestRecord> {
        (0..60)
            .map(|i| {
                let ip = format!("10.0.{}.{}", i / 200, i % 200 + 1);
                rec(&format!("/api/v1/shopper_{i}x"), i, &ip, status)
            })
            .collect()
    };
    let templates = |a: &mut Aggregator| -> Vec<String> {
        let sealed = a.seal();
        sealed
            .endpoints
            .into_iter()
            .map(|(k, _)| k.template)
            .collect()
    };
    // Sixty clients probing sixty made-up names, all answered 404: nothing is learned.
    let mut a = Aggregator::new(AggregateLimits::default());
    fill_from(&mut a, chunk(names(404), None));
    let probed = templates(&mut a);
    assert_eq!(probed.len(), 60, "each probe stays visible: {probed:?}");
    assert!(probed.iter().all(|t| !t.contains("{id}")), "{probed:?}");
    assert_eq!(a.learner.positions(), 0);
    // The same names answered 200 are a parameter.
    fill_from(&mut a, chunk(names(200), None));
    assert!(templates(&mut a).contains(&"/api/v1/{id}".to_owned()));
}

#[test]
fn one_address_is_one_vote() {
    let mut a = Aggregator::new(AggregateLimits::default());
    let probes = (0..300)
        .map(|i| rec(&format!("/api/v1/shopper_{i}x"), i, "203.0.113.9", 200))
        .collect();
    fill_from(&mut a, chunk(probes, None));
    let sealed = a.seal();
    assert_eq!(sealed.endpoints.len(), 300);
    assert!(
        sealed
            .endpoints
            .iter()
            .all(|(k, _)| !k.template.contains("{id}"))
    );
}
