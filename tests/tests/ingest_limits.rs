//! Nothing accepted is lost to one bad field, a batch the controller will never accept is set
//! aside without blocking later ones, and the controller's announced limits make the sensor
//! seal smaller batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use std::time::Duration;

/// Lines for `n` distinct endpoints (one host each), starting at host number `from`.
fn distinct(from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            json_line(
                1_795_219_200.0 + i as f64,
                &format!("h{i}.example"),
                "GET",
                "/x",
                200,
                "81.2.69.4",
            )
        })
        .collect()
}

/// A metric of an admin listener (0 when absent).
fn metric(addr: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (_, body) = http_get(addr, "/metrics");
    let fams = parse_prometheus(&body).unwrap();
    prom_value(&fams, name, labels).unwrap_or(0.0)
}

/// A controller config whose batches hold at most 10 endpoint summaries.
fn small_limits(stack_dir: &std::path::Path) -> String {
    let cfg = stack_dir.join("small-limits.toml");
    std::fs::write(&cfg, "[limits]\nmax_batch_endpoints = 10\n").unwrap();
    cfg.display().to_string()
}

/// One out-of-range status and one unattributable host cost only those fields: every
/// request of the batch is stored and billed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_field_loses_only_that_field_and_billing_stays_exact() {
    let stack = Stack::start().await;
    let mut raw = RawSensor::connect(&stack.url(), &stack.sensor_token, "raw-bad", 7).await;
    let mut b = raw.batch(1, "api.example", 10);
    b.endpoints[0].requests = 12;
    b.endpoints[0].statuses.push(pb::StatusCount {
        status: 70_000,
        count: 2,
    });
    let mut bad_host = raw.batch(1, "bad\u{1}host", 5).endpoints.remove(0);
    bad_host.first_seen_ms = 9;
    bad_host.last_seen_ms = 3;
    b.endpoints.push(bad_host);
    let ack = raw.send(b).await;
    assert!(!ack.rejected && !ack.duplicate, "{ack:?}");
    assert_eq!(usage(&stack.url(), &stack.reader_token).await.calls, 17);
    let got = calls_by_endpoint(&all_endpoints(&stack.url(), &stack.reader_token).await);
    assert_eq!(got.get("api.example GET /raw/{id}"), Some(&12), "{got:?}");
    assert_eq!(got.get("invalid.picket GET /raw/{id}"), Some(&5), "{got:?}");
    let s = stack.sensor("raw-bad").await.unwrap();
    assert_eq!(s.fields_dropped, 3, "shown in `sensors list`");
    let admin = &stack.controller.admin_addr;
    for reason in ["status", "host", "seen_range"] {
        let n = metric(
            admin,
            "picket_controller_ingest_fields_dropped_total",
            &[("reason", reason)],
        );
        assert_eq!(n, 1.0, "{reason}");
    }
}

/// A batch sealed before the controller's limits were known breaks them: the controller
/// refuses it for good, the sensor moves it to `spool/rejected/` and counts it, and the
/// batches after it are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_set_aside_and_later_batches_are_delivered() {
    set_aside_then_deliver(
        "[limits]\nmax_batch_endpoints = 10\n",
        30,
        "the limit is 10",
    )
    .await;
}

/// A batch too large for the controller's message limit is never sent (the controller
/// could not even decode it): the sensor sets it aside and delivers the later batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_message_limit_is_set_aside_unsent() {
    set_aside_then_deliver(
        "[limits]\nmax_message_bytes = 8192\n",
        200,
        "message limit of 8192 bytes",
    )
    .await;
}

/// The controller goes away, the sensor seals one batch of `endpoints` summaries, the
/// controller comes back with `limits` that batch breaks: it is set aside (kept with a
/// reason containing `why`) and 15 later requests are delivered.
async fn set_aside_then_deliver(limits: &str, endpoints: usize, why: &str) {
    let mut stack = Stack::start().await;
    let cfg = stack.path("limits.toml");
    std::fs::write(&cfg, limits).unwrap();
    let cfg = cfg.display().to_string();
    let (addr, dir) = (
        stack.controller.addr.clone(),
        stack.controller.data_dir.clone(),
    );
    stack.controller.proc.kill9();
    let log = stack.path("aside.json");
    append(&log, &distinct(0, endpoints));
    let sensor = stack.file_sensor("aside", &log);
    let spool = stack.path("aside-data").join("spool");
    eventually(Duration::from_secs(60), "the batch is spooled", || {
        let spool = spool.clone();
        async move {
            let n = std::fs::read_dir(&spool)
                .ok()?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".bin"))
                .count();
            (n > 0).then_some(())
        }
    })
    .await;
    stack.controller = ControllerProc::start_with(&dir, &addr, &["--config", &cfg]);
    let h = stack.clone_handle();
    eventually(Duration::from_secs(60), "the sensor reconnects", || {
        let h = h.clone();
        async move { h.committed("aside").await.map(|_| ()) }
    })
    .await;
    append(&log, &distinct(1000, 15));
    stack.wait_total_calls(15).await;
    let s = stack.sensor("aside").await.unwrap();
    let c = s.counters.unwrap();
    assert_eq!(
        (c.batches_rejected, c.requests_rejected),
        (1, endpoints as u64),
        "{c:?}"
    );
    let aside: Vec<String> = std::fs::read_dir(spool.join("rejected"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(aside.len(), 2, "the batch and its reason: {aside:?}");
    let reason = aside.iter().find(|n| n.ends_with(".reason")).unwrap();
    let text = std::fs::read_to_string(spool.join("rejected").join(reason)).unwrap();
    assert!(text.contains(why), "{text}");
    drop(sensor);
}

/// The `Welcome` announces the controller's limits and the sensor seals within them: 35
/// endpoints against a limit of 10 arrive in several batches, none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_limits_make_the_sensor_split_its_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_limits(dir.path());
    let stack = Stack::start_with(&["--config", &cfg]).await;
    let log = stack.path("split.json");
    append(&log, &[]);
    let _sensor = stack.file_sensor("split", &log);
    let h = stack.clone_handle();
    eventually(Duration::from_secs(60), "the sensor connects", || {
        let h = h.clone();
        async move { h.committed("split").await.map(|_| ()) }
    })
    .await;
    append(&log, &distinct(0, 35));
    stack.wait_total_calls(35).await;
    let c = stack.sensor("split").await.unwrap().counters.unwrap();
    assert_eq!(c.batches_rejected, 0, "{c:?}");
    let admin = &stack.controller.admin_addr;
    assert_eq!(
        metric(admin, "picket_controller_batches_refused_total", &[]),
        0.0
    );
    assert_eq!(
        metric(admin, "picket_controller_streams_rejected_total", &[]),
        0.0
    );
    // Counters travel with each batch, so the last batch reports the batches sealed so far.
    assert!(
        c.batches_spooled >= 4,
        "35 endpoints in batches of 10: {c:?}"
    );
}
