//! Tests of the wire → domain conversion: what validation drops, keeps and repairs.

use super::*;

fn entry(host: &str, method: &str, template: &str) -> pb::EndpointSummary {
    pb::EndpointSummary {
        host: host.into(),
        method: method.into(),
        template: template.into(),
        requests: 1,
        statuses: vec![pb::StatusCount {
            status: 200,
            count: 1,
        }],
        ..Default::default()
    }
}

/// One bad field loses only that field: the summary, its requests and its other fields stay.
#[test]
fn a_bad_field_is_dropped_and_counted_the_summary_kept() {
    let mut e = entry("api", "GET", "/s");
    e.requests = 5;
    e.statuses = vec![
        pb::StatusCount {
            status: 200,
            count: 4,
        },
        pb::StatusCount {
            status: 70_000,
            count: 1,
        },
    ];
    e.latency_us_hist = [(3, 2), (5_000, 1)].into_iter().collect();
    e.injections = [("sqli:union".to_owned(), 1), ("bad\0".to_owned(), 1)]
        .into_iter()
        .collect();
    e.first_seen_ms = 20;
    e.last_seen_ms = 10;
    let (summary, drops) = batch(pb::Batch {
        endpoints: vec![e],
        ..Default::default()
    });
    assert_eq!(summary.endpoints.len(), 1);
    let (k, s) = &summary.endpoints[0];
    assert_eq!((k.host.as_str(), s.requests), ("api", 5));
    assert_eq!(s.statuses.get(&200), Some(&4));
    assert_eq!(s.statuses.len(), 1);
    assert_eq!(s.latency_us_hist.count(), 2);
    assert_eq!(s.injections.len(), 1);
    assert_eq!((s.first_seen_ms, s.last_seen_ms), (10, 20));
    for (reason, n) in [
        (DropReason::Status, 1),
        (DropReason::HistogramBucket, 1),
        (DropReason::Label, 1),
        (DropReason::SeenRange, 1),
    ] {
        assert_eq!(drops.get(reason), n, "{reason:?}");
    }
    assert_eq!(drops.total(), 4);
}

/// A summary whose key parts are invalid keeps its requests under placeholder parts (the
/// valid parts stay), so billing stays exact.
#[test]
fn invalid_key_parts_fold_into_placeholders() {
    let b = pb::Batch {
        endpoints: vec![
            entry("api", "GET", "/ok"),
            entry("", "GET", "/x"),
            entry("api", "get", "/x"),
            entry("api", "GET", "no-slash"),
            entry("a\0b", "GET", "/x"),
            entry("api", "GET", &format!("/{}", "a".repeat(5000))),
        ],
        ..Default::default()
    };
    let (summary, drops) = batch(b);
    let keys: Vec<String> = summary
        .endpoints
        .iter()
        .map(|(k, _)| format!("{} {} {}", k.host, k.method, k.template))
        .collect();
    assert_eq!(
        keys,
        [
            "api GET /ok",
            "invalid.picket GET /x",
            "api INVALID /x",
            "api GET /{invalid}",
            "invalid.picket GET /x",
            "api GET /{invalid}",
        ]
    );
    assert_eq!(summary.requests(), 6);
    assert_eq!(drops.get(DropReason::Host), 2);
    assert_eq!(drops.get(DropReason::Method), 1);
    assert_eq!(drops.get(DropReason::Template), 2);
}

/// Hostile counts saturate instead of overflowing.
#[test]
fn status_counts_saturate() {
    let mut e = entry("api", "GET", "/s");
    e.statuses = vec![
        pb::StatusCount {
            status: 200,
            count: u64::MAX,
        },
        pb::StatusCount {
            status: 200,
            count: 5,
        },
    ];
    let (_, s) = endpoint(e, &mut Drops::default());
    assert_eq!(s.statuses.get(&200), Some(&u64::MAX));
}

fn wire_actor(ip: &str, principal: &str, agent: &str) -> pb::ActorSummary {
    pb::ActorSummary {
        window_start_ms: 1_000,
        client_ip: ip.into(),
        principal: principal.into(),
        agent: agent.into(),
        requests: 3,
        unauthorized: 1,
        ..Default::default()
    }
}

#[test]
fn hostile_actors_are_dropped_and_counted() {
    let hex = "ab".repeat(16);
    let b = pb::Batch {
        endpoints: vec![entry("api", "GET", "/ok")],
        actors: vec![
            wire_actor("81.2.69.1", "", "curl/8.5.0"),
            wire_actor("", &hex, ""),
            wire_actor("::1", &hex, "Mozilla/5.0"),
            // Invalid: no address nor principal, a bad address, bad principals.
            wire_actor("", "", "curl/8.5.0"),
            wire_actor("81.2.69.999", "", ""),
            wire_actor("not an ip", "", ""),
            wire_actor("81.2.69.1", "xyz", ""),
            wire_actor("81.2.69.1", &"a".repeat(65), ""),
            // Valid, but their agents do not travel.
            wire_actor("81.2.69.2", "", &"A".repeat(65)),
            wire_actor("81.2.69.3", "", "curl\u{0}/8"),
            wire_actor("81.2.69.4", "", "curl/8\r\nX: 1"),
        ],
        ..Default::default()
    };
    let (summary, drops) = batch(b);
    assert_eq!(drops.get(DropReason::Actor), 5);
    assert_eq!(drops.total(), 5);
    let agents: Vec<Option<&str>> = summary.actors.iter().map(|a| a.agent.as_deref()).collect();
    assert_eq!(
        agents,
        [
            Some("curl/8.5.0"),
            None,
            Some("Mozilla/5.0"),
            None,
            None,
            None
        ]
    );
    let a = &summary.actors[0];
    assert_eq!(
        (a.window_start_ms, a.client_ip, a.requests, a.unauthorized),
        (1_000, "81.2.69.1".parse().ok(), 3, 1)
    );
    assert_eq!(summary.actors[1].principal.as_deref(), Some(hex.as_str()));
}

#[test]
fn actors_are_capped_per_batch() {
    let actors = (0..limits::MAX_ACTORS_PER_BATCH + 10)
        .map(|i| wire_actor(&std::net::Ipv4Addr::from(i as u32).to_string(), "", ""))
        .collect();
    let (summary, drops) = batch(pb::Batch {
        actors,
        ..Default::default()
    });
    assert_eq!(summary.actors.len(), limits::MAX_ACTORS_PER_BATCH);
    // What lies past the cap is not looked at, only counted.
    assert_eq!(drops.get(DropReason::Actor), 10);
}

#[test]
fn ref_samples_are_sorted_distinct_and_capped() {
    let mut e = entry("api", "GET", "/items/{id}");
    let client = |sample: Vec<u32>| pb::ClientActivity {
        client_ip: "81.2.69.1".into(),
        requests: 1,
        ref_sample: sample,
        ..Default::default()
    };
    e.top_clients = vec![
        client(vec![9, 3, 3, 7]),
        client((0..1_000).rev().collect()),
        client(Vec::new()),
    ];
    let (_, s) = endpoint(e, &mut Drops::default());
    assert_eq!(s.top_clients[0].ref_sample, [3, 7, 9]);
    let long = &s.top_clients[1].ref_sample;
    assert_eq!(long.len(), limits::MAX_REF_SAMPLE);
    assert!(long.is_sorted() && long.windows(2).all(|w| w[0] < w[1]));
    assert!(s.top_clients[2].ref_sample.is_empty());
}

#[test]
fn counters_carry_actors_dropped() {
    let c = pb::SensorCounters {
        actors_dropped: 7,
        ..Default::default()
    };
    assert_eq!(counters(Some(c)).actors_dropped, 7);
}

/// Request content types arrive as labels of the fixed vocabulary only: anything else (a raw
/// header value, another case, junk) is dropped and counted, the summary and its valid labels
/// kept; absorbed into the endpoint record they add up (saturating) and reach the inventory.
#[test]
fn content_type_labels_outside_the_vocabulary_are_dropped_and_counted() {
    let mut e = entry("api", "POST", "/orders");
    e.requests = 9;
    e.request_content_types = [
        ("json".to_owned(), 6),
        ("xml".to_owned(), 1),
        ("JSON".to_owned(), 1),
        ("application/json".to_owned(), 1),
        ("x".repeat(10_000), 1),
        (String::new(), 1),
    ]
    .into_iter()
    .collect();
    let (summary, drops) = batch(pb::Batch {
        endpoints: vec![e],
        ..Default::default()
    });
    let (k, s) = &summary.endpoints[0];
    assert_eq!(s.requests, 9);
    assert_eq!(
        s.request_content_types,
        BTreeMap::from([("json".to_owned(), 6), ("xml".to_owned(), 1)])
    );
    assert_eq!(drops.get(DropReason::Label), 4);
    assert_eq!(drops.total(), 4);

    let mut rec = EndpointRecord::default();
    rec.absorb(s, "s1", 60_000);
    rec.absorb(s, "s1", 60_000);
    let mut huge = s.clone();
    huge.request_content_types
        .insert("xml".to_owned(), u64::MAX);
    rec.absorb(&huge, "s2", 60_000);
    assert_eq!(rec.summary.request_content_types.get("json"), Some(&18));
    assert_eq!(
        rec.summary.request_content_types.get("xml"),
        Some(&u64::MAX)
    );
    let out = endpoint_to_pb(k.clone(), rec);
    assert_eq!(out.request_content_types.get("json"), Some(&18));
    assert_eq!(out.request_content_types.len(), 2);
}
