//! Bounded growth: inventory caps and their fold, counts under concurrency and restarts,
//! key-set caps of lifetime records, watermark pruning.

use super::bounds::{self, InventoryCaps, OVERFLOW_HOST, overflow_endpoint};
use super::growth::EpochTrim;
use super::memory::MemoryStore;
use super::sled_store::SledStore;
use super::{Applied, Db, Tree, keys};
use crate::metering::{Cycle, MeterPolicy};
use picket_shared::{BatchSummary, EndpointKey, EndpointSummary, SensorId, TenantId};
use std::collections::BTreeMap;
use std::sync::Arc;

const NOW: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;

fn key(host: &str, template: &str) -> EndpointKey {
    EndpointKey {
        host: host.into(),
        method: "GET".into(),
        template: template.into(),
    }
}

fn summary(requests: u64) -> EndpointSummary {
    EndpointSummary {
        requests,
        first_seen_ms: NOW,
        last_seen_ms: NOW,
        ..Default::default()
    }
}

fn batch(epoch: u64, seq: u64, endpoints: &[(&str, &str, u64)]) -> BatchSummary {
    BatchSummary {
        stream_epoch: epoch,
        seq,
        window_ms: 60_000,
        endpoints: endpoints
            .iter()
            .map(|(h, t, n)| (key(h, t), summary(*n)))
            .collect(),
        ..Default::default()
    }
}

fn caps(tenant: u64, host: u64, hosts: u64) -> InventoryCaps {
    InventoryCaps {
        max_endpoints_per_tenant: tenant,
        max_endpoints_per_host: host,
        max_hosts_per_tenant: hosts,
        ..Default::default()
    }
}

fn ids() -> (TenantId, SensorId) {
    (TenantId::new("t").unwrap(), SensorId::new("s1").unwrap())
}

fn all_endpoints(db: &Db, t: &TenantId) -> BTreeMap<EndpointKey, u64> {
    db.endpoints(t, None, None, 100_000)
        .unwrap()
        .into_iter()
        .map(|(k, r)| (k, r.summary.requests))
        .collect()
}

fn billed(db: &Db, t: &TenantId) -> u64 {
    db.cycle_usage(t, Cycle::containing(NOW).start_ms)
        .unwrap()
        .calls
}

#[test]
fn caps_fold_new_endpoints_into_overflow_endpoints_and_billing_is_untouched() {
    let db = Db::new(Arc::new(MemoryStore::new())).with_inventory_caps(caps(5, 3, 2));
    let (t, s) = ids();
    let p = MeterPolicy::default();
    // Host a: 3 endpoints of its own, the next two fold into a's overflow endpoint.
    let b1 = batch(
        1,
        1,
        &[
            ("a", "/1", 1),
            ("a", "/2", 2),
            ("a", "/3", 3),
            ("a", "/4", 4),
            ("a", "/5", 5),
        ],
    );
    assert!(matches!(
        db.apply_batch(&t, &s, &b1, NOW, &p).unwrap(),
        Applied::Committed { requests: 15, .. }
    ));
    // Host b: the second host; c is a third host beyond the host cap (folds into the
    // overflow host); b's third endpoint is beyond the tenant cap (5).
    let b2 = batch(
        1,
        2,
        &[
            ("b", "/1", 10),
            ("c", "/1", 20),
            ("b", "/2", 30),
            ("b", "/3", 40),
        ],
    );
    db.apply_batch(&t, &s, &b2, NOW, &p).unwrap();
    // Existing endpoints keep updating; a replay changes nothing.
    let b3 = batch(1, 3, &[("a", "/1", 100), ("b", "/1", 100)]);
    db.apply_batch(&t, &s, &b3, NOW, &p).unwrap();
    assert_eq!(
        db.apply_batch(&t, &s, &b2, NOW, &p).unwrap(),
        Applied::Duplicate
    );
    let eps = all_endpoints(&db, &t);
    let expected: BTreeMap<EndpointKey, u64> = [
        (key("a", "/1"), 101),
        (key("a", "/2"), 2),
        (key("a", "/3"), 3),
        (overflow_endpoint("a"), 9),
        (key("b", "/1"), 110),
        (key("b", "/2"), 30),
        (overflow_endpoint("b"), 40),
        (overflow_endpoint(OVERFLOW_HOST), 20),
    ]
    .into_iter()
    .collect();
    assert_eq!(eps, expected);
    assert_eq!(
        billed(&db, &t),
        15 + 100 + 200,
        "every request is billed once"
    );
    let c = db.inventory_counts(&t).unwrap();
    assert_eq!(
        (c.endpoints, c.hosts, c.folded_summaries, c.folded_requests),
        (5, 2, 4, 69)
    );
    assert_eq!(db.host_endpoint_count(&t, "a").unwrap(), 3);
    assert_eq!(db.host_endpoint_count(&t, "b").unwrap(), 2);
    // The folded keys are what analysis sees and what the API records know.
    let logged: Vec<EndpointKey> = db
        .analysis_pending(0, 100)
        .unwrap()
        .into_iter()
        .flat_map(|(_, e)| e.unwrap().endpoints.into_iter().map(|(k, _)| k))
        .collect();
    assert!(logged.contains(&overflow_endpoint(OVERFLOW_HOST)));
    assert!(!logged.contains(&key("c", "/1")));
    assert!(db.api_record(&t, "c").unwrap().is_none());
    assert!(db.api_record(&t, OVERFLOW_HOST).unwrap().is_none());
}

fn notable_on(host: &str) -> picket_shared::NotableEvent {
    picket_shared::NotableEvent {
        ts_ms: NOW,
        endpoint: key(host, "/n"),
        kinds: vec![picket_shared::NotableKind::Injection],
        labels: vec!["query:sqli.tautology".into()],
        client_ip: None,
        principal: None,
        status: 200,
    }
}

/// Endpoints and notable events handed to analysis, over the whole log.
fn analyzed(db: &Db) -> (Vec<EndpointKey>, Vec<String>) {
    let entries: Vec<_> = db
        .analysis_pending(0, 1_000)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.unwrap())
        .collect();
    (
        entries
            .iter()
            .flat_map(|e| e.endpoints.iter().map(|(k, _)| k.clone()))
            .collect(),
        entries
            .iter()
            .flat_map(|e| e.notables.iter().map(|n| n.endpoint.host.clone()))
            .collect(),
    )
}

#[test]
fn an_api_onboarded_at_the_host_cap_is_its_own_host_and_folded_hosts_keep_their_state() {
    use crate::metering::ApiState;
    use crate::store::apis::ApiSelector;
    let db = Db::new(Arc::new(MemoryStore::new())).with_inventory_caps(caps(100, 2, 1));
    let (t, s) = ids();
    let p = MeterPolicy::default();
    db.set_auto_onboard(&t, false).unwrap();
    let onboard = |host: &str| {
        db.set_api_state(
            &t,
            &ApiSelector::Hosts(vec![host.into()]),
            ApiState::Onboarded,
            "op",
            NOW,
        )
        .unwrap()
    };
    // The host cap (1) is taken by a discovered API.
    db.apply_batch(&t, &s, &batch(1, 1, &[("a", "/1", 1)]), NOW, &p)
        .unwrap();
    // The operator onboards pay.example ahead of its traffic.
    onboard("pay.example");
    let mut b = batch(
        1,
        2,
        &[
            ("pay.example", "/1", 7),
            ("junk", "/1", 5),
            ("pay.example", "/2", 3),
            ("pay.example", "/3", 2),
        ],
    );
    b.notables = vec![notable_on("pay.example"), notable_on("junk")];
    db.apply_batch(&t, &s, &b, NOW, &p).unwrap();
    let eps = all_endpoints(&db, &t);
    assert_eq!(eps.get(&key("pay.example", "/1")), Some(&7));
    assert_eq!(eps.get(&key("pay.example", "/2")), Some(&3));
    // Its endpoints still obey the per-host cap (2), folding into its own overflow endpoint.
    assert_eq!(eps.get(&overflow_endpoint("pay.example")), Some(&2));
    assert_eq!(eps.get(&overflow_endpoint(OVERFLOW_HOST)), Some(&5));
    assert_eq!(billed(&db, &t), 12, "the onboarded API only");
    let c = db.inventory_counts(&t).unwrap();
    assert_eq!((c.hosts, c.endpoints), (2, 3));
    let (endpoints, notables) = analyzed(&db);
    assert!(endpoints.contains(&key("pay.example", "/1")));
    assert!(endpoints.contains(&overflow_endpoint("pay.example")));
    assert!(
        !endpoints.contains(&overflow_endpoint(OVERFLOW_HOST)),
        "junk is discovered: not analyzed"
    );
    assert_eq!(
        notables,
        ["pay.example"],
        "junk's notable event is not analyzed"
    );
    // Onboarding the overflow host bills nothing of the hosts folded into it.
    onboard(OVERFLOW_HOST);
    let mut b = batch(1, 3, &[("junk2", "/1", 11)]);
    b.notables = vec![notable_on("junk2")];
    db.apply_batch(&t, &s, &b, NOW, &p).unwrap();
    assert_eq!(
        all_endpoints(&db, &t)[&overflow_endpoint(OVERFLOW_HOST)],
        16
    );
    assert_eq!(billed(&db, &t), 12);
    assert_eq!(analyzed(&db).1, ["pay.example"]);
    // With auto-onboarding on, a folded host is billed as a new API would be, and the
    // overflow host gets no API record of its own from traffic.
    db.set_auto_onboard(&t, true).unwrap();
    db.apply_batch(&t, &s, &batch(1, 4, &[("junk3", "/1", 4)]), NOW, &p)
        .unwrap();
    assert_eq!(billed(&db, &t), 16);
    assert!(db.api_record(&t, "junk3").unwrap().is_none());
}

#[test]
fn counts_persist_across_reopen_and_are_taken_for_a_store_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let (t, s) = ids();
    let p = MeterPolicy::default();
    let open = || {
        // sled's background flusher may hold the directory lock a moment after a drop.
        let store = (0..100)
            .find_map(|_| {
                SledStore::open(dir.path())
                    .inspect_err(|_| std::thread::sleep(std::time::Duration::from_millis(50)))
                    .ok()
            })
            .unwrap();
        let db = Db::new(Arc::new(store)).with_inventory_caps(caps(100, 4, 10));
        // As the server does at start (nothing to count: a new store, or counted before).
        assert_eq!(db.ensure_inventory_counts().unwrap(), 0);
        db
    };
    {
        let db = open();
        let eps: Vec<(String, u64)> = (0..10).map(|i| (format!("/p{i}"), 1)).collect();
        let refs: Vec<(&str, &str, u64)> =
            eps.iter().map(|(p, n)| ("api", p.as_str(), *n)).collect();
        db.apply_batch(&t, &s, &batch(1, 1, &refs), NOW, &p)
            .unwrap();
        db.flush().unwrap();
    }
    let db = open();
    assert_eq!(db.host_endpoint_count(&t, "api").unwrap(), 4);
    db.apply_batch(&t, &s, &batch(1, 2, &[("api", "/new", 7)]), NOW, &p)
        .unwrap();
    let eps = all_endpoints(&db, &t);
    assert_eq!(eps.len(), 5, "4 endpoints and the overflow endpoint");
    assert_eq!(eps[&overflow_endpoint("api")], 13);
    // A store written before the counts existed: they are taken once, at start.
    let before = db.inventory_counts(&t).unwrap();
    db.kv
        .delete(Tree::Inventory, &keys::tenant_prefix(&t))
        .unwrap();
    db.kv
        .delete(Tree::Inventory, &keys::api(&t, "api"))
        .unwrap();
    assert_eq!(db.ensure_inventory_counts().unwrap(), 0, "already counted");
    db.kv
        .delete(Tree::Inventory, bounds::COUNTED_MARKER)
        .unwrap();
    assert_eq!(db.ensure_inventory_counts().unwrap(), 4);
    let after = db.inventory_counts(&t).unwrap();
    assert_eq!(
        (after.endpoints, after.hosts),
        (before.endpoints, before.hosts)
    );
    assert_eq!(db.host_endpoint_count(&t, "api").unwrap(), 4);
}

#[test]
fn concurrent_batches_never_count_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::new(Arc::new(SledStore::open(dir.path()).unwrap()))
        .with_inventory_caps(caps(50, 1_000, 10));
    let t = TenantId::new("t").unwrap();
    let p = MeterPolicy::default();
    std::thread::scope(|scope| {
        for w in 0..4 {
            let (db, t, p) = (&db, &t, &p);
            scope.spawn(move || {
                let s = SensorId::new(&format!("s{w}")).unwrap();
                for seq in 1..=10u64 {
                    let paths: Vec<String> = (0..5).map(|i| format!("/w{w}/{seq}/{i}")).collect();
                    let eps: Vec<(&str, &str, u64)> =
                        paths.iter().map(|p| ("api", p.as_str(), 1)).collect();
                    db.apply_batch(t, &s, &batch(1, seq, &eps), NOW, p).unwrap();
                }
            });
        }
    });
    let eps = all_endpoints(&db, &t);
    let own = eps.keys().filter(|k| !bounds::is_overflow(k)).count();
    assert_eq!(own, 50, "exactly the cap");
    assert_eq!(eps[&overflow_endpoint("api")], 200 - 50);
    let c = db.inventory_counts(&t).unwrap();
    assert_eq!((c.endpoints, c.folded_summaries), (50, 150));
    assert_eq!(billed(&db, &t), 200);
}

#[test]
fn sensors_beyond_the_cap_are_not_admitted_and_known_ones_always_are() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let db = Db::new(store.clone()).with_inventory_caps(InventoryCaps {
        max_sensors_per_tenant: 3,
        ..Default::default()
    });
    let (t, other) = (TenantId::new("t").unwrap(), TenantId::new("u").unwrap());
    let id = |s: &str| SensorId::new(s).unwrap();
    // One sensor streamed before (its batch created the record), then hellos race.
    db.apply_batch(
        &t,
        &id("old"),
        &batch(1, 1, &[("api", "/x", 1)]),
        NOW,
        &MeterPolicy::default(),
    )
    .unwrap();
    let admitted: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (db, t) = (&db, &t);
                scope.spawn(move || db.admit_sensor(t, &id(&format!("n{i}")), NOW).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(admitted.iter().filter(|a| **a).count(), 2, "{admitted:?}");
    assert!(
        db.admit_sensor(&t, &id("old"), NOW).unwrap(),
        "known: always"
    );
    assert!(
        db.admit_sensor(&other, &id("n9"), NOW).unwrap(),
        "per tenant"
    );
    assert_eq!(db.list_sensors(&t).unwrap().len(), 3);
    assert_eq!(db.inventory_counts(&t).unwrap().sensors, 3);
    // Taken again for a store without counts: the same.
    db.kv
        .delete(Tree::Inventory, &keys::tenant_prefix(&t))
        .unwrap();
    db.kv
        .delete(Tree::Inventory, bounds::COUNTED_MARKER)
        .unwrap();
    db.ensure_inventory_counts().unwrap();
    assert_eq!(db.inventory_counts(&t).unwrap().sensors, 3);
    assert!(!db.admit_sensor(&t, &id("n7"), NOW).unwrap());
}

#[test]
fn a_deleted_sensor_frees_its_place_and_its_batches_stay_duplicates() {
    let db = Db::new(Arc::new(MemoryStore::new())).with_inventory_caps(InventoryCaps {
        max_sensors_per_tenant: 1,
        ..Default::default()
    });
    let (t, s) = ids();
    let other = SensorId::new("s2").unwrap();
    let p = MeterPolicy::default();
    assert!(db.admit_sensor(&t, &s, NOW).unwrap());
    let b = batch(1, 1, &[("api", "/x", 5)]);
    db.apply_batch(&t, &s, &b, NOW, &p).unwrap();
    assert!(!db.admit_sensor(&t, &other, NOW).unwrap());
    assert_eq!(db.delete_sensor(&t, &s).unwrap(), Some(0));
    assert_eq!(db.delete_sensor(&t, &s).unwrap(), None, "already gone");
    assert!(db.get_sensor(&t, &s).unwrap().is_none());
    assert_eq!(db.inventory_counts(&t).unwrap().sensors, 0);
    assert!(db.admit_sensor(&t, &other, NOW).unwrap());
    assert_eq!(db.inventory_counts(&t).unwrap().sensors, 1);
    // The deleted sensor's resent batch is still a duplicate: billed once.
    assert_eq!(
        db.apply_batch(&t, &s, &b, NOW, &p).unwrap(),
        Applied::Duplicate
    );
    assert_eq!(billed(&db, &t), 5);
}

#[test]
fn moves_keep_the_counts_true() {
    let db = Db::new(Arc::new(MemoryStore::new())).with_inventory_caps(caps(3, 3, 3));
    let (t, s) = ids();
    let p = MeterPolicy::default();
    let b = batch(
        1,
        1,
        &[("api", "/u/1", 1), ("api", "/u/2", 1), ("api", "/x", 1)],
    );
    db.apply_batch(&t, &s, &b, NOW, &p).unwrap();
    let to = key("api", "/u/{id}");
    db.move_endpoints(
        &t,
        &[(key("api", "/u/1"), to.clone()), (key("api", "/u/2"), to)],
    )
    .unwrap();
    assert_eq!(db.inventory_counts(&t).unwrap().endpoints, 2);
    assert_eq!(db.host_endpoint_count(&t, "api").unwrap(), 2);
    // The room the move made is usable again.
    db.apply_batch(&t, &s, &batch(1, 2, &[("api", "/y", 1)]), NOW, &p)
        .unwrap();
    assert!(db.get_endpoint(&t, &key("api", "/y")).unwrap().is_some());
}

#[test]
fn lifetime_key_sets_are_capped_and_overflow_is_counted() {
    use super::records::{MAX_INJECTIONS_PER_ENDPOINT, MAX_SENSORS_PER_ENDPOINT};
    let db = Db::new(Arc::new(MemoryStore::new()));
    let t = TenantId::new("t").unwrap();
    let p = MeterPolicy::default();
    // A hostile sensor: every batch names new injection rules, statuses and sensor ids.
    let rounds = 200u64;
    for seq in 1..=rounds {
        let s = SensorId::new(&format!("s{seq}")).unwrap();
        let mut b = batch(1, 1, &[("api", "/x", 2)]);
        let sum = &mut b.endpoints[0].1;
        for i in 0..4 {
            sum.injections.insert(format!("query:rule{seq}-{i}"), 1);
        }
        sum.injections.insert("query:sqli.tautology".into(), 1);
        sum.statuses.insert((100 + seq % 900) as u16, 1);
        db.apply_batch(&t, &s, &b, NOW, &p).unwrap();
    }
    let rec = db.get_endpoint(&t, &key("api", "/x")).unwrap().unwrap();
    assert_eq!(rec.summary.injections.len(), MAX_INJECTIONS_PER_ENDPOINT);
    assert_eq!(
        rec.summary.statuses.len(),
        super::records::MAX_STATUSES_PER_ENDPOINT
    );
    assert_eq!(rec.sensors.len(), MAX_SENSORS_PER_ENDPOINT);
    // A key held from the first batch keeps counting; requests are never lost.
    assert_eq!(rec.summary.injections["query:sqli.tautology"], rounds);
    assert_eq!(rec.summary.requests, 2 * rounds);
    // 4 new rules a round and the tautology, kept from the first round.
    let expected = (rounds * 4 + 1 - MAX_INJECTIONS_PER_ENDPOINT as u64)
        + (rounds - super::records::MAX_STATUSES_PER_ENDPOINT as u64)
        + (rounds - MAX_SENSORS_PER_ENDPOINT as u64);
    assert_eq!(rec.keys_overflow, expected);
    assert_eq!(db.inventory_counts(&t).unwrap().keys_overflowed, expected);
}

#[test]
fn records_written_before_the_overflow_counter_still_load() {
    let old = br#"{"summary":{"requests":3,"statuses":{"200":3},"first_seen_ms":1,"last_seen_ms":2,"request_bytes_sum":0,"response_bytes_sum":0,"latency_us_sum":0,"latency_us_max":0,"auth_present":0,"distinct_clients":0,"public_client_requests":0,"plaintext_requests":0,"auth_schemes":{},"distinct_principals":0,"window_start_ms":0,"top_clients":[],"params":{},"sensitive":{},"suspicious_agents":{},"latency_us_hist":{},"request_bytes_hist":{},"response_bytes_hist":{}},"sensors":["s1"]}"#;
    let rec: super::EndpointRecord = super::records::decode(Tree::Endpoints, old).unwrap();
    assert_eq!((rec.summary.requests, rec.keys_overflow), (3, 0));
}

#[test]
fn sums_of_sensor_counters_saturate() {
    let mut s = summary(u64::MAX);
    s.statuses.insert(200, u64::MAX);
    s.statuses.insert(201, 5);
    let ev = super::evidence::Evidence::of(&s, 1_000);
    assert_eq!(ev.answered_2xx, u64::MAX);
}

// --- watermarks -------------------------------------------------------------------------

#[test]
fn superseded_idle_watermarks_are_retired_and_their_replays_refused() {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let (t, s) = ids();
    let p = MeterPolicy::default();
    let one = |epoch, seq, n| batch(epoch, seq, &[("api", "/x", n)]);
    // Three runs of the sensor: epochs 10 and 20 long idle, 30 current; epoch 25 ran
    // recently (a second process under the same id).
    db.apply_batch(&t, &s, &one(10, 1, 1), NOW - 30 * DAY, &p)
        .unwrap();
    db.apply_batch(&t, &s, &one(20, 1, 2), NOW - 20 * DAY, &p)
        .unwrap();
    db.apply_batch(&t, &s, &one(25, 1, 4), NOW - DAY, &p)
        .unwrap();
    db.apply_batch(&t, &s, &one(30, 1, 8), NOW - 20 * DAY, &p)
        .unwrap();
    // The values stay the 8-byte seq an older controller reads.
    let raw = db
        .kv
        .get(Tree::Watermarks, &keys::watermark(&t, &s, 30))
        .unwrap()
        .unwrap();
    assert_eq!(raw, 1u64.to_be_bytes());
    let out = db
        .prune_watermarks(&t, NOW, 7 * DAY, &|_, _| false)
        .unwrap();
    assert_eq!(
        out.retired, 2,
        "10 and 20; 25 moved recently, 30 is the newest"
    );
    assert_eq!(db.retired_epoch_floor(&t, &s).unwrap(), 20);
    assert_eq!(db.committed_seq(&t, &s, 10).unwrap(), 0);
    assert_eq!(db.committed_seq(&t, &s, 25).unwrap(), 1);
    let usage = |db: &Db| {
        [NOW - 30 * DAY, NOW - 20 * DAY, NOW - DAY, NOW]
            .iter()
            .map(|ms| {
                db.cycle_usage(&t, Cycle::containing(*ms).start_ms)
                    .unwrap()
                    .calls
            })
            .collect::<Vec<_>>()
    };
    let before = (usage(&db), all_endpoints(&db, &t));
    // Replays of the retired epochs (seen or not) are refused, not billed again.
    for (epoch, seq) in [(10, 1), (20, 1), (20, 2), (5, 1)] {
        assert_eq!(
            db.apply_batch(&t, &s, &one(epoch, seq, 1_000), NOW, &p)
                .unwrap(),
            Applied::Retired
        );
    }
    assert_eq!((usage(&db), all_endpoints(&db, &t)), before);
    // The kept epochs still deduplicate and go on.
    assert_eq!(
        db.apply_batch(&t, &s, &one(25, 1, 4), NOW, &p).unwrap(),
        Applied::Duplicate
    );
    assert!(matches!(
        db.apply_batch(&t, &s, &one(30, 2, 1), NOW, &p).unwrap(),
        Applied::Committed { .. }
    ));
    // Another pass later retires 25 once it is idle too; 30 stays as the newest.
    let out = db
        .prune_watermarks(&t, NOW + 8 * DAY, 7 * DAY, &|_, _| false)
        .unwrap();
    assert_eq!(out.retired, 1);
    assert_eq!(db.retired_epoch_floor(&t, &s).unwrap(), 25);
    assert_eq!(db.committed_seq(&t, &s, 30).unwrap(), 2);
    // A pruning pass is idempotent.
    assert_eq!(
        db.prune_watermarks(&t, NOW + 8 * DAY, 7 * DAY, &|_, _| false)
            .unwrap()
            .retired,
        0
    );
}

#[test]
fn a_live_epoch_is_never_retired_and_a_hello_restarts_its_idle_time() {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let (t, s) = ids();
    let p = MeterPolicy::default();
    let one = |epoch, seq| batch(epoch, seq, &[("api", "/x", 1)]);
    // The live process (epoch 10) has been idle for 30 days with its stream open; a replay
    // under the same id (epoch 20) ran since and is newer.
    db.apply_batch(&t, &s, &one(10, 1), NOW - 30 * DAY, &p)
        .unwrap();
    db.apply_batch(&t, &s, &one(20, 1), NOW - 20 * DAY, &p)
        .unwrap();
    let live = |sensor: &SensorId, epoch: u64| sensor.as_str() == "s1" && epoch == 10;
    let out = db.prune_watermarks(&t, NOW, 7 * DAY, &live).unwrap();
    assert_eq!(out.retired, 0, "epoch 10 has an open stream");
    assert_eq!(db.retired_epoch_floor(&t, &s).unwrap(), 0);
    assert!(matches!(
        db.apply_batch(&t, &s, &one(10, 2), NOW, &p).unwrap(),
        Applied::Committed { .. }
    ));
    // Disconnected, idle again, but it said hello (reconnected) 3 days ago: it stays.
    db.touch_watermark(&t, &s, 10, NOW + 27 * DAY).unwrap();
    let later = NOW + 30 * DAY;
    assert_eq!(
        db.prune_watermarks(&t, later, 7 * DAY, &|_, _| false)
            .unwrap()
            .retired,
        0
    );
    // A hello of an epoch without a watermark writes nothing.
    db.touch_watermark(&t, &s, 15, later).unwrap();
    assert!(
        db.kv
            .get(Tree::WatermarkTimes, &keys::watermark(&t, &s, 15))
            .unwrap()
            .is_none()
    );
    // Idle, superseded and without a stream for long enough: retired.
    let out = db
        .prune_watermarks(&t, later + 5 * DAY, 7 * DAY, &|_, _| false)
        .unwrap();
    assert_eq!(out.retired, 1);
    assert_eq!(db.retired_epoch_floor(&t, &s).unwrap(), 10);
}

#[test]
fn epochs_far_ahead_of_the_clock_are_recognised() {
    use super::growth::{MAX_EPOCH_AHEAD_MS, epoch_too_far_ahead};
    let now = NOW;
    assert!(!epoch_too_far_ahead(now as u64, now));
    assert!(!epoch_too_far_ahead((now + MAX_EPOCH_AHEAD_MS) as u64, now));
    assert!(epoch_too_far_ahead(
        (now + MAX_EPOCH_AHEAD_MS) as u64 + 1,
        now
    ));
    assert!(epoch_too_far_ahead(u64::MAX, now));
    assert!(
        !epoch_too_far_ahead(1, 0),
        "a test clock at 0 still takes small epochs"
    );
    assert!(!epoch_too_far_ahead(1, -5));
}

#[test]
fn pruning_resumes_where_the_scan_bound_stopped_and_wraps_around() {
    use super::growth::Rule;
    let db = Db::new(Arc::new(MemoryStore::new()));
    let t = TenantId::new("t").unwrap();
    let p = MeterPolicy::default();
    let (s1, s2, s3) = (
        SensorId::new("s1").unwrap(),
        SensorId::new("s2").unwrap(),
        SensorId::new("s3").unwrap(),
    );
    let one = |epoch, seq| batch(epoch, seq, &[("api", "/x", 1)]);
    // s1: a stolen token's 12 idle runs (more than a pass examines), then its newest; s2:
    // epoch 2 moved recently, so the walk stops there and its epoch 3 stays too; s3: 3 idle
    // runs and its newest.
    for e in 1..=12 {
        db.apply_batch(&t, &s1, &one(e, 1), NOW - 30 * DAY, &p)
            .unwrap();
    }
    db.apply_batch(&t, &s1, &one(13, 1), NOW, &p).unwrap();
    db.apply_batch(&t, &s2, &one(1, 1), NOW - 30 * DAY, &p)
        .unwrap();
    db.apply_batch(&t, &s2, &one(2, 1), NOW - DAY, &p).unwrap();
    db.apply_batch(&t, &s2, &one(3, 1), NOW - 30 * DAY, &p)
        .unwrap();
    db.apply_batch(&t, &s2, &one(4, 1), NOW, &p).unwrap();
    for e in 1..=4 {
        db.apply_batch(&t, &s3, &one(e, 1), NOW - 30 * DAY, &p)
            .unwrap();
    }
    let rule = Rule {
        now_ms: NOW,
        idle_ms: 7 * DAY,
        streaming: &|_, _| false,
        keep: 1,
    };
    let mut retired = 0;
    for _ in 0..12 {
        retired += db.prune_watermarks_within(&t, &rule, 4).unwrap().retired;
    }
    assert_eq!(retired, 12 + 1 + 3);
    assert_eq!(db.retired_epoch_floor(&t, &s1).unwrap(), 12);
    assert_eq!(db.retired_epoch_floor(&t, &s2).unwrap(), 1);
    assert_eq!(db.retired_epoch_floor(&t, &s3).unwrap(), 3);
    for (s, e) in [(&s1, 13), (&s2, 2), (&s2, 3), (&s2, 4), (&s3, 4)] {
        assert_eq!(db.committed_seq(&t, s, e).unwrap(), 1, "{s} {e}");
    }
    // Once s2's epoch 2 is idle too, a later round of passes (wrapping around) retires 2 and 3.
    let later = Rule {
        now_ms: NOW + 8 * DAY,
        ..rule
    };
    for _ in 0..6 {
        db.prune_watermarks_within(&t, &later, 4).unwrap();
    }
    assert_eq!(db.retired_epoch_floor(&t, &s2).unwrap(), 3);
    assert_eq!(db.committed_seq(&t, &s2, 4).unwrap(), 1);
}

#[test]
fn watermarks_without_a_time_are_stamped_before_they_can_be_retired() {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let (t, s) = ids();
    let p = MeterPolicy::default();
    db.apply_batch(&t, &s, &batch(1, 3, &[("api", "/x", 1)]), NOW, &p)
        .unwrap();
    db.apply_batch(&t, &s, &batch(2, 1, &[("api", "/x", 1)]), NOW, &p)
        .unwrap();
    // As an older controller wrote it: no time beside it.
    db.kv
        .delete(Tree::WatermarkTimes, &keys::watermark(&t, &s, 1))
        .unwrap();
    assert_eq!(db.committed_seq(&t, &s, 1).unwrap(), 3);
    let later = NOW + 30 * DAY;
    let out = db
        .prune_watermarks(&t, later, 7 * DAY, &|_, _| false)
        .unwrap();
    assert_eq!((out.retired, out.stamped), (0, 1));
    assert_eq!(db.committed_seq(&t, &s, 1).unwrap(), 3);
    let out = db
        .prune_watermarks(&t, later + 8 * DAY, 7 * DAY, &|_, _| false)
        .unwrap();
    assert_eq!(out.retired, 1);
}

#[test]
fn sensors_with_prefix_ids_are_pruned_separately() {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let t = TenantId::new("t").unwrap();
    let (a, ab) = (SensorId::new("a").unwrap(), SensorId::new("a0").unwrap());
    let p = MeterPolicy::default();
    db.apply_batch(
        &t,
        &a,
        &batch(1, 1, &[("api", "/x", 1)]),
        NOW - 30 * DAY,
        &p,
    )
    .unwrap();
    db.apply_batch(
        &t,
        &ab,
        &batch(2, 1, &[("api", "/x", 1)]),
        NOW - 30 * DAY,
        &p,
    )
    .unwrap();
    // Each sensor has one epoch only: its newest, kept.
    assert_eq!(
        db.prune_watermarks(&t, NOW, 7 * DAY, &|_, _| false)
            .unwrap()
            .retired,
        0
    );
    assert_eq!(db.committed_seq(&t, &a, 1).unwrap(), 1);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a sensor sends (hosts, paths, replays, in any order) and whatever the
        /// caps: every request is stored once and billed once, the caps hold, and the counts
        /// are the truth.
        #[test]
        fn folding_never_loses_a_request_and_the_caps_hold(
            batches in proptest::collection::vec(
                proptest::collection::vec((0u8..6, 0u8..12, 1u64..5), 1..12),
                1..25,
            ),
            replays in proptest::collection::vec(any::<bool>(), 25),
            (tenant_cap, host_cap, host_count_cap) in (1u64..20, 1u64..8, 1u64..4),
        ) {
            let db = Db::new(Arc::new(MemoryStore::new()))
                .with_inventory_caps(caps(tenant_cap, host_cap, host_count_cap));
            let (t, s) = ids();
            let p = MeterPolicy::default();
            let mut sent = 0u64;
            for (i, eps) in batches.iter().enumerate() {
                let named: Vec<(String, String, u64)> = eps
                    .iter()
                    .map(|(h, path, n)| (format!("h{h}"), format!("/p{path}"), *n))
                    .collect();
                let refs: Vec<(&str, &str, u64)> =
                    named.iter().map(|(h, p, n)| (h.as_str(), p.as_str(), *n)).collect();
                let b = batch(1, i as u64 + 1, &refs);
                let committed = matches!(
                    db.apply_batch(&t, &s, &b, NOW, &p).unwrap(),
                    Applied::Committed { .. }
                );
                prop_assert!(committed);
                sent += refs.iter().map(|(_, _, n)| n).sum::<u64>();
                if replays[i] {
                    prop_assert_eq!(db.apply_batch(&t, &s, &b, NOW, &p).unwrap(), Applied::Duplicate);
                }
            }
            let eps = all_endpoints(&db, &t);
            prop_assert_eq!(eps.values().sum::<u64>(), sent);
            prop_assert_eq!(billed(&db, &t), sent);
            let own: Vec<&EndpointKey> = eps.keys().filter(|k| !bounds::is_overflow(k)).collect();
            prop_assert!(own.len() as u64 <= tenant_cap);
            let mut per_host: BTreeMap<&str, u64> = BTreeMap::new();
            for k in &own {
                *per_host.entry(k.host.as_str()).or_default() += 1;
            }
            prop_assert!(per_host.values().all(|n| *n <= host_cap));
            let hosts: std::collections::BTreeSet<&str> = eps
                .keys()
                .map(|k| k.host.as_str())
                .filter(|h| *h != OVERFLOW_HOST)
                .collect();
            prop_assert!(hosts.len() as u64 <= host_count_cap);
            let c = db.inventory_counts(&t).unwrap();
            prop_assert_eq!(c.endpoints, own.len() as u64);
            prop_assert_eq!(c.hosts, hosts.len() as u64);
            for (h, n) in &per_host {
                prop_assert_eq!(db.host_endpoint_count(&t, h).unwrap(), *n);
            }
            let folded: u64 = eps.iter().filter(|(k, _)| bounds::is_overflow(k)).map(|(_, n)| n).sum();
            prop_assert_eq!(c.folded_requests, folded);
        }
    }
}

#[test]
fn a_sensor_at_its_epoch_cap_retires_its_oldest_idle_epochs_but_never_an_open_or_recent_one() {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let (t, s) = ids();
    let other = SensorId::new("s2").unwrap();
    let p = MeterPolicy::default();
    let one = |epoch, seq| batch(epoch, seq, &[("api", "/x", 1)]);
    // A token looping "hello with a new epoch, one batch": every epoch moved a moment ago.
    for epoch in 1..=10 {
        db.apply_batch(&t, &s, &one(epoch, 1), NOW, &p).unwrap();
    }
    db.apply_batch(&t, &other, &one(1, 1), NOW, &p).unwrap();
    let trim = |retired, held, fits| EpochTrim {
        retired,
        held,
        fits,
    };
    // Room for the new epoch 100: nothing goes.
    assert_eq!(
        db.trim_epochs(&t, &s, 100, &[], 11, NOW).unwrap(),
        trim(0, 10, true)
    );
    // Open streams of new epochs count: with one pending, 11 no longer has room.
    assert_eq!(
        db.trim_epochs(&t, &s, 100, &[200], 11, NOW).unwrap(),
        trim(0, 10, false)
    );
    // At the cap, epochs that moved within a day stay: the new epoch does not fit.
    assert_eq!(
        db.trim_epochs(&t, &s, 100, &[], 4, NOW + DAY - 1).unwrap(),
        trim(0, 10, false)
    );
    // A day later, the new epoch leaves room for itself and one pending: 2 stay.
    let later = NOW + DAY;
    assert_eq!(
        db.trim_epochs(&t, &s, 100, &[200], 4, later).unwrap(),
        trim(8, 2, true)
    );
    assert_eq!(db.retired_epoch_floor(&t, &s).unwrap(), 8);
    for epoch in 9..=10 {
        assert_eq!(db.committed_seq(&t, &s, epoch).unwrap(), 1);
    }
    assert_eq!(
        db.apply_batch(&t, &s, &one(5, 2), later, &p).unwrap(),
        Applied::Retired,
        "a batch of a trimmed epoch is refused, never billed again"
    );
    // Another sensor's epochs are its own.
    assert_eq!(db.committed_seq(&t, &other, 1).unwrap(), 1);
    assert_eq!(db.retired_epoch_floor(&t, &other).unwrap(), 0);
    // Never an epoch at or above the new one (a clock stepped back): the floor stays below it.
    for epoch in 20..=23 {
        db.apply_batch(&t, &s, &one(epoch, 1), later, &p).unwrap();
    }
    let much_later = later + 2 * DAY;
    assert_eq!(
        db.trim_epochs(&t, &s, 21, &[], 2, much_later).unwrap(),
        trim(3, 3, false),
        "9, 10 and 20 go; 21 and above stay"
    );
    assert_eq!(db.retired_epoch_floor(&t, &s).unwrap(), 20);
    // An epoch with an open stream, or one a hello touched recently, stops the trim.
    assert_eq!(
        db.trim_epochs(&t, &s, 100, &[21], 2, much_later).unwrap(),
        trim(0, 3, false)
    );
    db.touch_watermark(&t, &s, 22, much_later - 1).unwrap();
    assert_eq!(
        db.trim_epochs(&t, &s, 100, &[], 2, much_later).unwrap(),
        trim(1, 2, false),
        "21 goes, 22 was touched by a hello"
    );
    assert_eq!(db.retired_epoch_floor(&t, &s).unwrap(), 21);
    assert!(matches!(
        db.apply_batch(&t, &s, &one(22, 2), much_later, &p).unwrap(),
        Applied::Committed { .. }
    ));
}
