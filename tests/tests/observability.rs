//! The admin listeners of the real binaries: `/metrics` parses strictly and agrees with the
//! fleet view and the inventory, its series do not grow with client addresses, the probes
//! answer by the documented rules, and `--log-format json` writes JSON lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::collections::BTreeSet;
use std::time::Duration;

/// nginx JSON lines, each from its own client address (`10.a.b.c`), over a few endpoints.
fn traffic(start: usize, n: usize) -> Vec<String> {
    (start..start + n)
        .map(|i| {
            let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            let uri = format!("/api/v1/users/{}/orders", i % 50);
            json_line(
                1_795_219_200.0 + (i / 100) as f64,
                "shop.example",
                "GET",
                &uri,
                200,
                &ip,
            )
        })
        .collect()
}

fn scrape(admin: &str) -> Vec<PromFamily> {
    let (status, body) = http_get(admin, "/metrics");
    assert_eq!(status, 200, "{body}");
    parse_prometheus(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// Every series as `name{labels}`, histogram buckets included.
fn series(fams: &[PromFamily]) -> BTreeSet<String> {
    fams.iter()
        .flat_map(|f| &f.samples)
        .map(|s| format!("{}{:?}", s.name, s.labels))
        .collect()
}

fn value(fams: &[PromFamily], name: &str, labels: &[(&str, &str)]) -> u64 {
    prom_value(fams, name, labels).unwrap_or_else(|| panic!("no single {name} {labels:?}")) as u64
}

/// The sensor as `picketctl sensors list -o json` shows it.
fn fleet_entry(stack: &Stack, id: &str) -> serde_json::Value {
    let out = picketctl(
        &stack.url(),
        &stack.reader_token,
        &["sensors", "list", "-o", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().cloned().unwrap_or_else(|| {
        let obj = v.as_object().unwrap();
        obj.values().find_map(|x| x.as_array().cloned()).unwrap()
    });
    list.into_iter().find(|s| s["sensor_id"] == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_fleet_and_do_not_grow_with_clients() {
    let stack = Stack::start().await;
    let log = stack.path("access.json");
    let mut first = traffic(0, 100);
    first.push("this is not json".into());
    first.push("{\"msec\": \"1795219200.0\"}".into());
    append(&log, &first);
    let sensor = stack.file_sensor("edge-1", &log);
    let admin = sensor.admin_addr.clone().unwrap();
    let ctl_admin = stack.controller.admin_addr.clone();
    stack.wait_exact("edge-1", 100, 100).await;

    let settled = |want: u64| {
        let (admin, ctl_admin) = (admin.clone(), ctl_admin.clone());
        eventually(
            Duration::from_secs(30),
            "sensor metrics settle",
            move || {
                let (s, c) = (scrape(&admin), scrape(&ctl_admin));
                let acked = value(&s, "picket_sensor_batches_acked_total", &[]);
                let done = value(&s, "picket_sensor_requests_acked_total", &[]) == want
                    && value(&s, "picket_sensor_outbox_batches", &[]) == 0
                    && acked == value(&c, "picket_controller_batches_committed_total", &[]);
                async move { done.then_some((s, c)) }
            },
        )
    };
    let (s1, c1) = settled(100).await;
    let (before_s, before_c) = (series(&s1), series(&c1));

    // 9,900 more requests, every one from a new client address.
    append(&log, &traffic(100, 9_900));
    stack.wait_exact("edge-1", 10_000, 10_000).await;
    let (s, c) = settled(10_000).await;
    assert_eq!(series(&s), before_s, "sensor series changed with clients");
    assert_eq!(
        series(&c),
        before_c,
        "controller series changed with clients"
    );
    for text in [
        http_get(&admin, "/metrics").1,
        http_get(&ctl_admin, "/metrics").1,
    ] {
        assert!(
            !text.contains("\"10."),
            "a client address became a label value"
        );
        assert!(
            !text.contains("/orders"),
            "a request path became a label value"
        );
        assert!(series(&parse_prometheus(&text).unwrap()).len() < 200);
    }

    // The sensor's counters agree with what the controller's fleet view holds.
    let f = fleet_entry(&stack, "edge-1");
    let counters = &f["counters"];
    let src = counters["sources"][0]["source"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_src = |name: &str| value(&s, name, &[("source", &src)]);
    assert_eq!(by_src("picket_sensor_requests_received_total"), 10_002);
    assert_eq!(by_src("picket_sensor_requests_parsed_total"), 10_000);
    assert_eq!(counters["received"].as_u64(), Some(10_002));
    assert_eq!(counters["parsed"].as_u64(), Some(10_000));
    assert_eq!(
        counters["rejected"].as_u64(),
        Some(by_src("picket_sensor_requests_rejected_total"))
    );
    for (reason, n) in counters["rejected_by_reason"].as_object().unwrap() {
        let got = value(&s, "picket_sensor_rejections_total", &[("reason", reason)]);
        assert_eq!(Some(got), n.as_u64(), "reason {reason}");
    }
    assert_eq!(f["requests_committed"].as_u64(), Some(10_000));
    assert_eq!(value(&s, "picket_sensor_batches_dropped_total", &[]), 0);
    assert_eq!(value(&s, "picket_sensor_requests_dropped_total", &[]), 0);
    assert_eq!(value(&s, "picket_sensor_controller_connected", &[]), 1);
    let sealed = value(&s, "picket_sensor_batches_sealed_total", &[]);
    assert_eq!(value(&s, "picket_sensor_batch_requests_count", &[]), sealed);
    assert_eq!(value(&s, "picket_sensor_batch_requests_sum", &[]), 10_000);

    // The controller's counters agree with the inventory and the meter.
    assert_eq!(
        total_calls(&all_endpoints(&stack.url(), &stack.reader_token).await),
        10_000
    );
    assert_eq!(
        value(&c, "picket_controller_requests_committed_total", &[]),
        10_000
    );
    assert_eq!(
        value(
            &c,
            "picket_controller_cycle_billed_calls",
            &[("tenant", "default")]
        ),
        10_000
    );
    assert_eq!(value(&c, "picket_controller_sensors_connected", &[]), 1);
    let committed = value(&c, "picket_controller_batches_committed_total", &[]);
    let duplicate = value(&c, "picket_controller_batches_duplicate_total", &[]);
    assert_eq!(
        value(&c, "picket_controller_batch_commit_seconds_count", &[]),
        committed + duplicate
    );
    let rpc = |m: &str, code: &str| {
        prom_value(
            &c,
            "picket_controller_rpcs_total",
            &[("method", m), ("code", code)],
        )
        .unwrap_or(0.0)
    };
    assert!(rpc("picket.v1.Admin/CreateToken", "OK") >= 2.0);
    assert!(rpc("picket.v1.Fleet/ListSensors", "OK") >= 1.0);

    // Probes: both alive and ready.
    for a in [&admin, &ctl_admin] {
        assert_eq!(http_get(a, "/healthz").0, 200);
        assert_eq!(http_get(a, "/readyz"), (200, "ready\n".into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_codes_and_unknown_methods_stay_in_the_fixed_label_set() {
    let stack = Stack::start().await;
    // A refused call (bad token) and made-up methods.
    let mut c = fleet(&stack.url(), "pkt_1_wrong").await;
    assert!(
        c.list_sensors(picket_proto::v1::ListSensorsRequest::default())
            .await
            .is_err()
    );
    for i in 0..20 {
        let raw = channel(&stack.url(), Some(&stack.reader_token)).await;
        let mut grpc = tonic::client::Grpc::new(raw);
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_maybe_shared(format!("/picket.v1.Fleet/Made{i}"))
            .unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let _ = grpc.unary(tonic::Request::new(()), path, codec).await;
    }
    let fams = scrape(&stack.controller.admin_addr);
    let v = |m: &str, code: &str| {
        prom_value(
            &fams,
            "picket_controller_rpcs_total",
            &[("method", m), ("code", code)],
        )
    };
    assert_eq!(
        v("picket.v1.Fleet/ListSensors", "Unauthenticated"),
        Some(1.0)
    );
    assert_eq!(v("other", "Unimplemented"), Some(20.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_is_not_ready_when_cut_off_with_a_full_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.json");
    let config = dir.path().join("sensor.toml");
    // One endpoint per batch, and room for two batches: a handful of endpoints fills it.
    std::fs::write(
        &config,
        format!(
            "max_batch_endpoints = 1\nmax_pending_batches = 2\n[[file]]\npath = {log:?}\nformat = \"json\"\n"
        ),
    )
    .unwrap();
    append(&log, &[]);
    let data = dir.path().join("data");
    // Nothing listens on port 1: the controller is unreachable.
    let sensor = SensorProc::start(
        "http://127.0.0.1:1",
        "pkt_1_unused",
        &[
            "--config",
            config.to_str().unwrap(),
            "--id",
            "cut-off",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let admin = sensor.admin_addr.clone().unwrap();
    assert_eq!(http_get(&admin, "/healthz").0, 200);
    // Disconnected but spooling within bounds: ready.
    assert_eq!(http_get(&admin, "/readyz").0, 200);

    let lines: Vec<String> = (0..10)
        .map(|i| {
            json_line(
                1_795_219_200.0,
                &format!("h{i}.example"),
                "GET",
                "/",
                200,
                "81.2.69.7",
            )
        })
        .collect();
    append(&log, &lines);
    // Batches beyond the bound: the file's batch waits for room (back-pressure, nothing
    // dropped), and the sensor is not ready.
    let (body, fams) = eventually(
        Duration::from_secs(30),
        "readyz 503 and a batch waiting for room",
        || {
            let (status, body) = http_get(&admin, "/readyz");
            let fams = scrape(&admin);
            let waits = value(&fams, "picket_sensor_outbox_waits_total", &[]);
            let outbox = value(&fams, "picket_sensor_outbox_batches", &[]);
            async move { (status == 503 && outbox == 2 && waits >= 1).then_some((body, fams)) }
        },
    )
    .await;
    assert!(
        body.starts_with("not ready: not connected to the controller and the outbox is full"),
        "{body}"
    );
    assert_eq!(body.lines().count(), 1);
    assert_eq!(value(&fams, "picket_sensor_controller_connected", &[]), 0);
    assert_eq!(value(&fams, "picket_sensor_outbox_batches", &[]), 2);
    assert_eq!(value(&fams, "picket_sensor_batches_dropped_total", &[]), 0);
    assert_eq!(value(&fams, "picket_sensor_requests_dropped_total", &[]), 0);
    assert_eq!(http_get(&admin, "/healthz").0, 200);
}

/// Starts a binary with `--log-format json`, waits for `ready`, stops it with SIGTERM and
/// returns what it wrote on stderr.
fn json_stderr(mut cmd: std::process::Command, ready: &str, dir: &std::path::Path) -> String {
    let err_path = dir.join(format!("stderr-{}", ready.replace(' ', "-")));
    let err = std::fs::File::create(&err_path).unwrap();
    cmd.args(["--log-format", "json", "--admin-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(err);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    assert!(
        lines.any(|l| l.unwrap().starts_with(ready)),
        "no {ready:?} line"
    );
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    child.wait().unwrap();
    std::fs::read_to_string(err_path).unwrap()
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctl = std::process::Command::new(bin("picket-controller"));
    ctl.args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("c"));
    let ctl_err = json_stderr(ctl, "picket-controller admin listening on", dir.path());
    let log = dir.path().join("access.json");
    append(&log, &[]);
    let mut sen = std::process::Command::new(bin("picket-sensor"));
    sen.args([
        "--controller",
        "http://127.0.0.1:1",
        "--token",
        "pkt_1_x",
        "--nginx-log",
    ])
    .arg(&log)
    .arg("--data-dir")
    .arg(dir.path().join("s"));
    let sen_err = json_stderr(sen, "picket-sensor ready", dir.path());
    for (who, text) in [("controller", ctl_err), ("sensor", sen_err)] {
        assert!(text.lines().count() >= 2, "{who} logged too little: {text}");
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{who}: {e}: {line}"));
            assert!(
                v.is_object() && v["level"].is_string() && v["fields"].is_object(),
                "{who}: {line}"
            );
            assert!(v["timestamp"].is_string(), "{who}: {line}");
        }
    }
}
