use super::*;

const REQS: Desc = Desc::counter(
    "picket_test_requests_total",
    "Requests, by source",
    &[LabelKey::Source],
);
const DEPTH: Desc = Desc::gauge("picket_test_depth_batches", "Queue depth", &[]);
const LAT: Desc = Desc::histogram("picket_test_latency_seconds", "Latency\nwith \\ newline");
const BOUNDS: &[f64] = &[0.1, 1.0];

#[test]
fn renders_every_kind_in_text_format() {
    let r = Registry::new(10);
    r.collect(|c| {
        c.counter(&REQS, &["nginx:/var/log/\"a\"\\b\nc"], 7);
        c.gauge(&DEPTH, &[], -2);
    });
    let h = r.histogram(LAT, Histogram::new(BOUNDS));
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5.0);
    let text = r.render();
    let want = [
        "# HELP picket_test_latency_seconds Latency\\nwith \\\\ newline",
        "# TYPE picket_test_latency_seconds histogram",
        "picket_test_latency_seconds_bucket{le=\"0.1\"} 1",
        "picket_test_latency_seconds_bucket{le=\"1\"} 2",
        "picket_test_latency_seconds_bucket{le=\"+Inf\"} 3",
        "picket_test_latency_seconds_sum 5.55",
        "picket_test_latency_seconds_count 3",
        "# TYPE picket_test_depth_batches gauge",
        "picket_test_depth_batches -2",
        "# TYPE picket_test_requests_total counter",
        "picket_test_requests_total{source=\"nginx:/var/log/\\\"a\\\"\\\\b\\nc\"} 7",
        "# TYPE picket_metrics_series_refused_total counter",
    ];
    for w in want {
        assert!(text.lines().any(|l| l == w), "missing {w:?} in\n{text}");
    }
}

#[test]
fn series_beyond_the_cap_are_refused_and_counted() {
    let r = Registry::new(3);
    let v = r.counter_vec(REQS);
    for i in 0..10 {
        v.inc(&[&format!("s{i}")]);
    }
    v.inc(&["s0"]);
    r.collect(|c| {
        for i in 0..5 {
            c.gauge(&DEPTH_L, &[&i.to_string()], 1);
        }
    });
    let snap = r.snapshot();
    let fam = |n: &str| snap.iter().find(|f| f.name == n).unwrap().clone();
    assert_eq!(fam(REQS.name).samples.len(), 3);
    assert_eq!(fam(REQS.name).samples[0].value, Value::Counter(2));
    assert_eq!(fam(DEPTH_L.name).samples.len(), 3);
    let refused = fam(SERIES_REFUSED);
    let get = |m: &str| {
        refused
            .samples
            .iter()
            .find(|s| s.labels[0].1 == m)
            .map(|s| s.value.clone())
    };
    assert_eq!(get(REQS.name), Some(Value::Counter(7)));
    assert_eq!(get(DEPTH_L.name), Some(Value::Counter(2)));
}

const DEPTH_L: Desc = Desc::gauge(
    "picket_test_depth_by_tenant_batches",
    "x",
    &[LabelKey::Tenant],
);

#[test]
fn owned_counters_and_gauges_show_their_values() {
    let r = Registry::default();
    let c = r.counter(Desc::counter("picket_test_things_total", "x", &[]));
    let g = r.gauge(Desc::gauge("picket_test_level_bytes", "x", &[]));
    c.inc_by(3);
    g.set(9);
    g.add(-1);
    let text = r.render();
    assert!(text.contains("\npicket_test_things_total 3\n"), "{text}");
    assert!(text.contains("\npicket_test_level_bytes 8\n"), "{text}");
}

#[test]
fn names_follow_the_house_rule() {
    assert!(REQS.well_formed() && DEPTH.well_formed() && LAT.well_formed());
    assert!(!Desc::counter("picket_x_requests", "x", &[]).well_formed());
    assert!(!Desc::gauge("other_x_bytes", "x", &[]).well_formed());
    assert!(!Desc::gauge("picket_X_bytes", "x", &[]).well_formed());
}
