//! Bounded growth end to end: a hostile sensor (or a stolen sensor token) sends summaries for
//! thousands of random paths on one host and for many random hosts. The inventory stays
//! within the `[inventory]` caps, what lies beyond folds into overflow endpoints and is still
//! billed (nothing lost), a benign host's endpoints keep updating, and the caps hold after a
//! `kill -9` and a restart (the counts are persisted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const MAX_TENANT: u64 = 104;
const MAX_HOST: u64 = 100;
const MAX_HOSTS: u64 = 4;
const DAY_MS: i64 = 86_400_000;

/// A small deterministic generator (xorshift): the attacker's "random" names.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn summary(host: &str, method: &str, template: &str, requests: u64) -> pb::EndpointSummary {
    pb::EndpointSummary {
        host: host.into(),
        method: method.into(),
        template: template.into(),
        requests,
        statuses: vec![pb::StatusCount {
            status: 200,
            count: requests,
        }],
        first_seen_ms: 1,
        last_seen_ms: 2,
        ..Default::default()
    }
}

fn batch(raw: &RawSensor, seq: u64, endpoints: Vec<pb::EndpointSummary>) -> pb::Batch {
    pb::Batch {
        sensor_id: raw.sensor_id.clone(),
        stream_epoch: raw.epoch,
        seq,
        endpoints,
        ..Default::default()
    }
}

/// The attacker: sends `batches` batches of `per_batch` summaries made by `make`; returns the
/// requests sent.
async fn flood(
    raw: &mut RawSensor,
    seq: &mut u64,
    batches: usize,
    per_batch: usize,
    make: &mut dyn FnMut() -> pb::EndpointSummary,
) -> u64 {
    let mut sent = 0;
    for _ in 0..batches {
        *seq += 1;
        let eps: Vec<_> = (0..per_batch).map(|_| make()).collect();
        sent += eps.iter().map(|e| e.requests).sum::<u64>();
        let ack = raw.send(batch(raw, *seq, eps)).await;
        assert!(!ack.rejected && !ack.duplicate, "{ack:?}");
    }
    sent
}

/// Random paths on `host` (unique), 1 to 3 requests each.
fn random_paths<'a>(
    noise: &'a mut Noise,
    host: &'a str,
) -> impl FnMut() -> pb::EndpointSummary + 'a {
    let mut n = 0u64;
    move || {
        n += 1;
        let r = noise.next();
        let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "PROPFIND"][(r % 6) as usize];
        summary(host, method, &format!("/{:x}/{n}", r >> 8), 1 + r % 3)
    }
}

/// Random hosts (unique), one endpoint each.
fn random_hosts<'a>(
    noise: &'a mut Noise,
    tag: &'static str,
) -> impl FnMut() -> pb::EndpointSummary + 'a {
    let mut n = 0u64;
    move || {
        n += 1;
        let r = noise.next();
        summary(
            &format!("h{:x}-{tag}{n}.evil.example", r >> 16),
            "GET",
            "/",
            1 + r % 3,
        )
    }
}

fn benign(raw: &RawSensor, seq: u64, requests: u64) -> pb::Batch {
    let eps = ["/cart", "/items/{id}", "/login"]
        .iter()
        .map(|t| summary("shop.example", "GET", t, requests))
        .collect();
    batch(raw, seq, eps)
}

/// Checks the inventory against the caps; returns the calls per endpoint.
async fn check_caps(url: &str, token: &str) -> BTreeMap<String, u64> {
    let eps = all_endpoints(url, token).await;
    let own: Vec<&pb::Endpoint> = eps.iter().filter(|e| e.method != "*").collect();
    let overflow: BTreeSet<String> = eps
        .iter()
        .filter(|e| e.method == "*")
        .map(|e| format!("{} {}", e.host, e.path))
        .collect();
    assert_eq!(own.len() as u64, MAX_TENANT, "exactly the tenant cap");
    let mut per_host: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &own {
        *per_host.entry(e.host.as_str()).or_default() += 1;
    }
    assert_eq!(
        per_host.get("victim.example"),
        Some(&MAX_HOST),
        "{per_host:?}"
    );
    assert!(per_host.values().all(|n| *n <= MAX_HOST));
    let hosts: BTreeSet<&str> = eps
        .iter()
        .map(|e| e.host.as_str())
        .filter(|h| *h != "overflow.picket")
        .collect();
    assert_eq!(hosts.len() as u64, MAX_HOSTS, "{hosts:?}");
    assert!(
        overflow.contains("victim.example /{overflow}"),
        "{overflow:?}"
    );
    assert!(
        overflow.contains("overflow.picket /{overflow}"),
        "{overflow:?}"
    );
    // One overflow endpoint per host at most, plus the overflow host's.
    assert!(overflow.len() as u64 <= MAX_HOSTS + 1, "{overflow:?}");
    calls_by_endpoint(&eps)
}

fn folded_metric(admin: &str) -> f64 {
    let (_, body) = http_get(admin, "/metrics");
    let fams = parse_prometheus(&body).unwrap();
    prom_value(
        &fams,
        "picket_controller_endpoints_folded_total",
        &[("tenant", "default")],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_sensor_cannot_grow_the_inventory_beyond_its_caps() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("caps.toml");
    std::fs::write(
        &cfg,
        format!(
            "[inventory]\nmax_endpoints_per_tenant = {MAX_TENANT}\nmax_endpoints_per_host = {MAX_HOST}\nmax_hosts_per_tenant = {MAX_HOSTS}\n[posture]\nevaluate_interval_secs = 1\n"
        ),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let mut stack = Stack::start_with(&["--config", &cfg]).await;
    let url = stack.url();
    let mut good = RawSensor::connect(&url, &stack.sensor_token, "shop-gw", 3).await;
    let mut bad = RawSensor::connect(&url, &stack.sensor_token, "stolen", 9).await;
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let (mut good_seq, mut bad_seq) = (1u64, 0u64);
    assert!(!good.send(benign(&good, good_seq, 5)).await.rejected);
    let mut sent = 15;
    // 1000 random paths on one host: 100 of their own, 900 folded.
    sent += flood(
        &mut bad,
        &mut bad_seq,
        10,
        100,
        &mut random_paths(&mut noise, "victim.example"),
    )
    .await;
    // A replay of seq 1 (with other content): must change nothing.
    let mut other = Noise(7);
    let mut again = random_paths(&mut other, "victim.example");
    let replay = batch(&bad, 1, (0..100).map(|_| again()).collect());
    // 200 random hosts: one more host gets an endpoint (the tenant cap), one more host is
    // counted but folds into its own overflow endpoint, the other 198 fold into the overflow
    // host.
    sent += flood(
        &mut bad,
        &mut bad_seq,
        4,
        50,
        &mut random_hosts(&mut noise, "a"),
    )
    .await;
    good_seq += 1;
    assert!(!good.send(benign(&good, good_seq, 7)).await.rejected);
    sent += 21;
    let calls = check_caps(&url, &stack.reader_token).await;
    for t in ["/cart", "/items/{id}", "/login"] {
        assert_eq!(
            calls[&format!("shop.example GET {t}")],
            12,
            "benign {t} updated"
        );
    }
    assert_eq!(
        calls.values().sum::<u64>(),
        sent,
        "nothing lost from the inventory"
    );
    assert_eq!(
        usage(&url, &stack.reader_token).await.calls,
        sent,
        "every request billed"
    );
    assert_eq!(folded_metric(&stack.controller.admin_addr), 1099.0);
    // The operator sees it: an inventory_capped finding on the overflow endpoints.
    let reader = stack.reader_token.clone();
    eventually(
        Duration::from_secs(60),
        "the inventory_capped finding",
        || {
            let out = picketctl(
                &url,
                &reader,
                &[
                    "-o",
                    "json",
                    "findings",
                    "list",
                    "--kind",
                    "inventory_capped",
                ],
            );
            let found: serde_json::Value = serde_json::from_str(&out).unwrap();
            let victim = found.as_array().unwrap().iter().any(|f| {
                f.to_string().contains("victim.example") && f.to_string().contains("/{overflow}")
            });
            async move { victim.then_some(()) }
        },
    )
    .await;

    // kill -9 and restart: the counts were committed with the batches.
    let (addr, data) = (
        stack.controller.addr.clone(),
        stack.controller.data_dir.clone(),
    );
    stack.controller.proc.kill9();
    stack.controller = ControllerProc::start_with(&data, &addr, &["--config", &cfg]);
    let mut good = RawSensor::connect(&url, &stack.sensor_token, "shop-gw", 3).await;
    let mut bad = RawSensor::connect(&url, &stack.sensor_token, "stolen", 9).await;
    assert_eq!(bad.welcome.committed_seq, bad_seq);
    // A replayed batch changes nothing.
    assert!(bad.send(replay).await.duplicate);
    sent += flood(
        &mut bad,
        &mut bad_seq,
        3,
        100,
        &mut random_paths(&mut noise, "victim.example"),
    )
    .await;
    sent += flood(
        &mut bad,
        &mut bad_seq,
        1,
        50,
        &mut random_hosts(&mut noise, "b"),
    )
    .await;
    good_seq += 1;
    assert!(!good.send(benign(&good, good_seq, 1)).await.rejected);
    sent += 3;
    let calls = check_caps(&url, &stack.reader_token).await;
    for t in ["/cart", "/items/{id}", "/login"] {
        assert_eq!(
            calls[&format!("shop.example GET {t}")],
            13,
            "benign {t} updated"
        );
    }
    assert_eq!(calls.values().sum::<u64>(), sent);
    assert_eq!(usage(&url, &stack.reader_token).await.calls, sent);
    assert_eq!(folded_metric(&stack.controller.admin_addr), 1099.0 + 350.0);
}

/// A controller in this process on a clock the test owns, started early in a month (the whole
/// test stays within one billing cycle), with its admin token and a sensor token.
struct Clocked {
    _dir: tempfile::TempDir,
    start: i64,
    clock: Arc<picket_controller::metering::ManualClock>,
    ctl: picket_controller::Controller,
    url: String,
    admin: String,
    token: String,
}

impl Clocked {
    async fn start(edit: impl FnOnce(&mut picket_controller::ControllerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let start = picket_shared::time::parse_rfc3339_ms("2026-05-02T00:00:00Z").unwrap();
        let clock = Arc::new(picket_controller::metering::ManualClock::new(start));
        let mut cfg = picket_controller::ControllerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            ..Default::default()
        };
        cfg.telemetry.admin_listen = picket_runtime::admin::AdminListen::Off;
        edit(&mut cfg);
        let ctl = picket_controller::start_with_clock(cfg, clock.clone())
            .await
            .unwrap();
        let url = format!("http://{}", ctl.local_addr);
        let admin = std::fs::read_to_string(dir.path().join("admin.token"))
            .unwrap()
            .trim()
            .to_owned();
        let token = create_token(&url, &admin, "", pb::Role::Sensor).await;
        Self {
            _dir: dir,
            start,
            clock,
            ctl,
            url,
            admin,
            token,
        }
    }
}

/// Watermarks of a sensor's superseded, idle runs are retired by the maintenance pruning; a
/// replay of a retired run's batch afterwards is refused for good and billed nothing. The
/// controller runs in this process so the test owns its clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_a_retired_run_is_refused_and_not_billed_again() {
    let c = Clocked::start(|_| {}).await;
    let (clock, ctl) = (c.clock.clone(), &c.ctl);
    let (url, admin, token) = (c.url.clone(), c.admin.clone(), c.token.clone());
    // The sensor's first run (epoch 100) commits two batches; later runs (epochs 200, 300)
    // supersede it.
    let mut old = RawSensor::connect(&url, &token, "gw", 100).await;
    let first = old.batch(1, "api.example", 40);
    assert!(!old.send(first.clone()).await.rejected);
    assert!(!old.send(old.batch(2, "api.example", 2)).await.rejected);
    drop(old);
    let mut mid = RawSensor::connect(&url, &token, "gw", 200).await;
    assert!(!mid.send(mid.batch(1, "api.example", 5)).await.rejected);
    drop(mid);
    clock.advance(3 * DAY_MS);
    let mut new = RawSensor::connect(&url, &token, "gw", 300).await;
    assert!(!new.send(new.batch(1, "api.example", 7)).await.rejected);
    let billed = usage(&url, &admin).await.calls;
    assert_eq!(billed, 54);
    // Not idle long enough yet (168 hours by default): nothing is retired.
    picket_controller::maintenance::prune(&ctl.state);
    let mut again = RawSensor::connect(&url, &token, "gw", 100).await;
    assert_eq!(again.welcome.committed_seq, 2);
    assert!(again.send(first.clone()).await.duplicate);
    drop(again);
    // An epoch with an open stream is never retired: wait until the controller saw it close.
    wait_closed(&ctl.state, "gw", 100).await;
    clock.advance(8 * DAY_MS);
    picket_controller::maintenance::prune(&ctl.state);
    // Epochs 100 and 200 are retired; 300, the newest, stays.
    let mut replay = RawSensor::connect(&url, &token, "gw", 100).await;
    for b in [first.clone(), replay.batch(3, "api.example", 1_000)] {
        let ack = replay.send(b).await;
        assert!(ack.rejected && !ack.duplicate, "{ack:?}");
        assert!(ack.reject_reason.contains("retired"), "{ack:?}");
    }
    drop(replay);
    assert_eq!(
        usage(&url, &admin).await.calls,
        billed,
        "nothing billed twice"
    );
    let calls = total_calls(&all_endpoints(&url, &admin).await);
    assert_eq!(calls, billed);
    let mut cur = RawSensor::connect(&url, &token, "gw", 300).await;
    assert_eq!(cur.welcome.committed_seq, 1);
    assert!(cur.send(cur.batch(1, "api.example", 7)).await.duplicate);
    assert!(!cur.send(cur.batch(2, "api.example", 1)).await.rejected);
    assert_eq!(usage(&url, &admin).await.calls, billed + 1);
    let retired = ctl
        .state
        .db
        .retired_epoch_floor(
            &picket_shared::TenantId::default_tenant(),
            &picket_shared::SensorId::new("gw").unwrap(),
        )
        .unwrap();
    assert_eq!(retired, 200);
}

/// Waits (generously: a loaded machine) until the controller has no ingest stream of
/// `sensor` open with `epoch`.
async fn wait_closed(state: &picket_controller::state::State, sensor: &str, epoch: u64) {
    let tenant = picket_shared::TenantId::default_tenant();
    for _ in 0..600 {
        if !state.is_streaming(&tenant, sensor, epoch) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stream of {sensor} epoch {epoch} stayed open");
}

/// A live sensor keeps its epoch for its whole process life. Neither a forged hello with an
/// epoch far in the future nor a second process (a replay) under its id with a newer epoch
/// makes pruning retire the epoch it is streaming with, however long it stays idle; once it
/// is gone and idle, its epoch is retired as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sensor_keeps_its_epoch_against_forged_and_newer_runs() {
    let c = Clocked::start(|_| {}).await;
    let (start, clock, ctl) = (c.start, c.clock.clone(), &c.ctl);
    let (url, admin, token) = (c.url.clone(), c.admin.clone(), c.token.clone());
    // A stolen token's hello with an epoch far ahead of the controller's clock is refused.
    let far = (start + 2 * DAY_MS) as u64;
    for epoch in [far, u64::MAX] {
        let err = RawSensor::try_connect(&url, &token, "gw", epoch)
            .await
            .err();
        assert_eq!(
            err.map(|s| s.code()),
            Some(tonic::Code::InvalidArgument),
            "{epoch}"
        );
    }
    // The live process picked its epoch from its clock when it started.
    let live_epoch = start as u64;
    let mut live = RawSensor::connect(&url, &token, "gw", live_epoch).await;
    assert!(!live.send(live.batch(1, "api.example", 3)).await.rejected);
    // A replay under the same id (a newer epoch, up to a day ahead is allowed) comes and goes.
    let mut replay = RawSensor::connect(&url, &token, "gw", live_epoch + DAY_MS as u64).await;
    assert!(
        !replay
            .send(replay.batch(1, "api.example", 5))
            .await
            .rejected
    );
    drop(replay);
    wait_closed(&ctl.state, "gw", live_epoch + DAY_MS as u64).await;
    // The live sensor is idle for 8 days: superseded and idle, but streaming.
    clock.advance(8 * DAY_MS);
    picket_controller::maintenance::prune(&ctl.state);
    let (tenant, gw) = (
        picket_shared::TenantId::default_tenant(),
        picket_shared::SensorId::new("gw").unwrap(),
    );
    assert_eq!(ctl.state.db.retired_epoch_floor(&tenant, &gw).unwrap(), 0);
    let ack = live.send(live.batch(2, "api.example", 7)).await;
    assert!(!ack.rejected && !ack.duplicate, "{ack:?}");
    assert_eq!(usage(&url, &admin).await.calls, 15);
    // Once it is gone and idle for long enough, its epoch is retired.
    drop(live);
    wait_closed(&ctl.state, "gw", live_epoch).await;
    clock.advance(8 * DAY_MS);
    picket_controller::maintenance::prune(&ctl.state);
    assert_eq!(
        ctl.state.db.retired_epoch_floor(&tenant, &gw).unwrap(),
        live_epoch
    );
}

/// A stolen sensor token cannot register sensor ids without end: beyond
/// `inventory.max_sensors_per_tenant` a new id's hello is refused (`RESOURCE_EXHAUSTED`),
/// known sensors keep streaming, and the count holds after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_sensor_ids_beyond_the_cap_are_refused_and_known_ones_stream_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sensors.toml");
    std::fs::write(&cfg, "[inventory]\nmax_sensors_per_tenant = 2\n").unwrap();
    let cfg = cfg.display().to_string();
    let mut stack = Stack::start_with(&["--config", &cfg]).await;
    let url = stack.url();
    let token = stack.sensor_token.clone();
    let mut a = RawSensor::connect(&url, &token, "gw-a", 1).await;
    let _b = RawSensor::connect(&url, &token, "gw-b", 1).await;
    for id in ["rogue-1", "rogue-2"] {
        let err = RawSensor::try_connect(&url, &token, id, 1).await.err();
        assert_eq!(
            err.map(|s| s.code()),
            Some(tonic::Code::ResourceExhausted),
            "{id}"
        );
    }
    assert!(!a.send(a.batch(1, "api.example", 3)).await.rejected);
    let (addr, data) = (
        stack.controller.addr.clone(),
        stack.controller.data_dir.clone(),
    );
    stack.controller.proc.kill9();
    stack.controller = ControllerProc::start_with(&data, &addr, &["--config", &cfg]);
    let err = RawSensor::try_connect(&url, &token, "rogue-3", 1)
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(tonic::Code::ResourceExhausted));
    let mut b = RawSensor::connect(&url, &token, "gw-b", 1).await;
    assert!(!b.send(b.batch(1, "api.example", 4)).await.rejected);
    assert_eq!(usage(&url, &stack.reader_token).await.calls, 7);
    let sensors = picketctl(&url, &stack.reader_token, &["sensors", "list"]);
    assert!(!sensors.contains("rogue"), "{sensors}");
    // An admin frees a place: not while the sensor is connected, not as a reader, not for an
    // unknown id; then the deleted id's place goes to a new one, and the cap holds again.
    let delete = |token: String, id: &'static str| {
        let url = url.clone();
        async move {
            pb::fleet_client::FleetClient::new(channel(&url, Some(&token)).await)
                .delete_sensor(pb::DeleteSensorRequest {
                    sensor_id: id.into(),
                })
                .await
                .map(|r| r.into_inner().sensors)
                .map_err(|s| s.code())
        }
    };
    let admin = stack.admin_token.clone();
    assert_eq!(
        delete(admin.clone(), "gw-b").await,
        Err(tonic::Code::FailedPrecondition)
    );
    assert_eq!(
        delete(stack.reader_token.clone(), "gw-a").await,
        Err(tonic::Code::PermissionDenied)
    );
    assert_eq!(
        delete(admin.clone(), "nobody").await,
        Err(tonic::Code::NotFound)
    );
    let out = picketctl(&url, &admin, &["sensors", "delete", "gw-a"]);
    assert!(out.contains("1 sensors left"), "{out}");
    let mut r3 = RawSensor::connect(&url, &token, "rogue-3", 1).await;
    assert!(!r3.send(r3.batch(1, "api.example", 1)).await.rejected);
    let err = RawSensor::try_connect(&url, &token, "rogue-4", 1)
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(tonic::Code::ResourceExhausted));
    let audit = picketctl(&url, &admin, &["-o", "json", "audit", "list"]);
    assert!(audit.contains("sensor.delete"), "{audit}");
}

/// A stolen sensor token looping "hello with a new epoch, one batch" cannot grow a sensor's
/// watermarks without end. At `inventory.max_epochs_per_sensor` a new epoch's hello is
/// refused (`RESOURCE_EXHAUSTED`) while the sensor's epochs are recent; a day later each new
/// epoch retires the oldest (every batch still billed exactly once, a replay of a retired
/// one refused). An epoch with an open stream is never retired, so behind a live stream new
/// epochs stay refused while the live stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_looping_new_epochs_cannot_grow_a_sensors_watermarks_beyond_the_cap() {
    const CAP: u64 = 4;
    let c = Clocked::start(|cfg| cfg.inventory.max_epochs_per_sensor = CAP).await;
    let (start, clock, ctl) = (c.start, c.clock.clone(), &c.ctl);
    let (url, admin, token) = (c.url.clone(), c.admin.clone(), c.token.clone());
    let tenant = picket_shared::TenantId::default_tenant();
    let gw = picket_shared::SensorId::new("gw").unwrap();
    let held = |sensor: &picket_shared::SensorId, epochs: std::ops::RangeInclusive<u64>| {
        epochs
            .filter(|e| ctl.state.db.committed_seq(&tenant, sensor, *e).unwrap() > 0)
            .count() as u64
    };
    let base = start as u64;
    // One run: hello with `epoch`, one batch of one request, gone.
    let run = |sensor: &'static str, epoch: u64| {
        let (url, token, state) = (url.clone(), token.clone(), ctl.state.clone());
        async move {
            let mut s = RawSensor::try_connect(&url, &token, sensor, epoch).await?;
            let b = s.batch(1, "api.example", 1);
            let ack = s.send(b.clone()).await;
            assert!(!ack.rejected && !ack.duplicate, "epoch {epoch}: {ack:?}");
            drop(s);
            wait_closed(&state, sensor, epoch).await;
            Ok::<_, tonic::Status>(b)
        }
    };
    let first = run("gw", base + 1).await.unwrap();
    for i in 2..=CAP {
        run("gw", base + i).await.unwrap();
    }
    // At the cap with recent epochs: the loop is refused.
    for i in CAP + 1..CAP + 10 {
        let err = run("gw", base + i).await.err().map(|s| s.code());
        assert_eq!(err, Some(tonic::Code::ResourceExhausted), "epoch {i}");
    }
    assert_eq!(held(&gw, base..=base + 20), CAP);
    // A day later each new epoch retires the oldest, until all the sensor holds is recent.
    clock.advance(DAY_MS);
    for i in 20..20 + CAP {
        run("gw", base + i).await.unwrap();
        assert_eq!(held(&gw, base..=base + 30), CAP, "after epoch {i}");
    }
    let err = run("gw", base + 30).await.err().map(|s| s.code());
    assert_eq!(err, Some(tonic::Code::ResourceExhausted));
    assert_eq!(
        ctl.state.db.retired_epoch_floor(&tenant, &gw).unwrap(),
        base + CAP
    );
    let billed = 2 * CAP;
    assert_eq!(
        usage(&url, &admin).await.calls,
        billed,
        "each batch billed once"
    );
    // A replay of a retired epoch is refused, not billed again.
    let mut replay = RawSensor::connect(&url, &token, "gw", base + 1).await;
    let ack = replay.send(first).await;
    assert!(
        ack.rejected && ack.reject_reason.contains("retired"),
        "{ack:?}"
    );
    drop(replay);
    assert_eq!(usage(&url, &admin).await.calls, billed);

    // Behind a live stream on the oldest epoch nothing can be retired, however old: new
    // epochs beyond the cap are refused, and the live sensor streams on.
    let gw2 = picket_shared::SensorId::new("gw2").unwrap();
    let now = base + DAY_MS as u64;
    let mut live = RawSensor::connect(&url, &token, "gw2", now).await;
    assert!(!live.send(live.batch(1, "api.example", 2)).await.rejected);
    for i in 1..CAP {
        run("gw2", now + i).await.unwrap();
    }
    clock.advance(3 * DAY_MS);
    for i in CAP..CAP + 3 {
        let err = run("gw2", now + i).await.err().map(|s| s.code());
        assert_eq!(err, Some(tonic::Code::ResourceExhausted), "epoch {i}");
    }
    assert_eq!(held(&gw2, now..=now + CAP + 3), CAP);
    assert_eq!(ctl.state.db.retired_epoch_floor(&tenant, &gw2).unwrap(), 0);
    let ack = live.send(live.batch(2, "api.example", 5)).await;
    assert!(!ack.rejected && !ack.duplicate, "{ack:?}");
    let billed = billed + 2 + (CAP - 1) + 5;
    assert_eq!(usage(&url, &admin).await.calls, billed);

    // Streams of new epochs that have not sent a batch yet count too: holding many open at
    // once does not get more epochs past the cap than their batches would.
    let gw3 = picket_shared::SensorId::new("gw3").unwrap();
    let mut open = Vec::new();
    for i in 0..CAP + 4 {
        match RawSensor::try_connect(&url, &token, "gw3", now + 100 + i).await {
            Ok(s) => open.push(s),
            Err(e) => assert_eq!(e.code(), tonic::Code::ResourceExhausted, "epoch {i}"),
        }
    }
    assert_eq!(open.len() as u64, CAP);
    for s in &mut open {
        let ack = s.send(s.batch(1, "api.example", 1)).await;
        assert!(!ack.rejected, "{ack:?}");
    }
    assert_eq!(held(&gw3, now + 100..=now + 100 + CAP + 4), CAP);
    assert_eq!(usage(&url, &admin).await.calls, billed + CAP);
}
