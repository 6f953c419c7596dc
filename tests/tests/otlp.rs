//! OpenTelemetry over OTLP end to end: a real controller and a real sensor export to an
//! in-process OTLP receiver while real nginx JSON lines flow through them. Spans of both
//! services arrive with their resource attributes, a batch's sensor span and controller span
//! share one trace, the sensor's parsed count arrives as a metric; then the receiver dies and
//! traffic keeps flowing, fully acknowledged, without a stall.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod otlp_receiver;

use otlp_receiver::{Receiver, int_attr, string_attr};
use picket_proto::v1 as pb;
use picket_tests::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// Short export intervals so the test sees spans and metrics within a second or two.
const TELEMETRY: &str = "[telemetry.otlp]\nexport_timeout_ms = 1000\nspan_export_interval_ms = 200\nmetrics_interval_ms = 300\nshutdown_timeout_ms = 1000\n";

/// Longest time traffic may take from the log file to the inventory once the collector is
/// dead (flush interval 100 ms; export failures must not add to it).
const MAX_DELIVERY: Duration = Duration::from_secs(5);

fn lines(n: usize, start: usize) -> Vec<String> {
    (start..start + n)
        .map(|i| {
            json_line(
                1_795_219_200.0 + i as f64 / 10.0,
                "shop.example",
                if i % 3 == 0 { "POST" } else { "GET" },
                &format!("/api/orders/{}", 1000 + i),
                200,
                "81.2.69.10",
            )
        })
        .collect()
}

fn start_controller(dir: &std::path::Path, otlp: &str) -> ControllerProc {
    let config = dir.join("controller.toml");
    std::fs::write(&config, TELEMETRY).unwrap();
    let data_dir = dir.join("controller");
    let mut cmd = Command::new(bin("picket-controller"));
    cmd.args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--otlp-endpoint", otlp, "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .env("RUST_LOG", "warn");
    ControllerProc::spawn(cmd, &data_dir)
}

async fn wait_calls(url: &str, token: &str, want: u64) {
    let (url, token) = (url.to_owned(), token.to_owned());
    eventually(
        Duration::from_secs(30),
        &format!("{want} calls in the inventory"),
        || {
            let (url, token) = (url.clone(), token.clone());
            async move { (total_calls(&all_endpoints(&url, &token).await) == want).then_some(()) }
        },
    )
    .await;
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_the_collector_and_a_dead_collector_slows_nothing() {
    // Its own runtime cannot be built on this one's threads.
    let mut receiver = std::thread::spawn(Receiver::start).join().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let controller = start_controller(dir.path(), &receiver.url);
    let url = controller.url();
    let admin = controller.admin_token();
    let sensor_token = create_token(&url, &admin, "", pb::Role::Sensor).await;
    let reader = create_token(&url, &admin, "", pb::Role::Reader).await;

    let log = dir.path().join("access.json");
    std::fs::write(&log, "").unwrap();
    let config = dir.path().join("sensor.toml");
    std::fs::write(&config, TELEMETRY).unwrap();
    let data = dir.path().join("sensor-data");
    let _sensor = SensorProc::start(
        &url,
        &sensor_token,
        &[
            "--config",
            config.to_str().unwrap(),
            "--nginx-log",
            log.to_str().unwrap(),
            "--id",
            "edge-otel",
            "--data-dir",
            data.to_str().unwrap(),
            "--otlp-endpoint",
            &receiver.url,
        ],
    );

    // Real traffic, in a few appends so it spans several batches.
    let mut written = 0;
    for round in 0..4 {
        append(&log, &lines(50, round * 50));
        written += 50;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_calls(&url, &reader, written as u64).await;
    // Spans of both services, with their resource attributes.
    let (sensor_span, controller_span) =
        wait_for("a sensor batch span and its controller span", || {
            let spans = receiver.spans();
            spans
                .iter()
                .filter(|(svc, _, s)| svc == "picket-sensor" && s.name == "sensor batch")
                .find_map(|(_, res, s)| {
                    spans
                        .iter()
                        .find(|(svc, _, c)| {
                            svc == "picket-controller"
                                && c.name == "controller ingest batch"
                                && c.trace_id == s.trace_id
                        })
                        .map(|(_, cres, c)| ((res.clone(), s.clone()), (cres.clone(), c.clone())))
                })
        })
        .await;
    let ((sres, s), (cres, c)) = (sensor_span, controller_span);
    assert_eq!(
        string_attr(&sres, "picket.sensor.id").as_deref(),
        Some("edge-otel")
    );
    assert_eq!(
        string_attr(&sres, "service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        string_attr(&cres, "service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        c.parent_span_id, s.span_id,
        "the controller's batch span is the sensor span's child"
    );
    assert_eq!(
        int_attr(&c.attributes, "picket.batch.seq"),
        int_attr(&s.attributes, "picket.batch.seq")
    );
    assert_eq!(
        string_attr(&c.attributes, "picket.sensor.id").as_deref(),
        Some("edge-otel")
    );
    assert!(int_attr(&c.attributes, "picket.batch.requests").unwrap() > 0);
    assert!(c.attributes.iter().any(|kv| kv.key == "picket.commit_ms"));
    // A span per RPC, with method, tenant and status code (token creation is one).
    let rpc = wait_for("an RPC span", || {
        receiver.spans().into_iter().find(|(svc, _, s)| {
            svc == "picket-controller" && s.name == "picket.v1.Admin/CreateToken"
        })
    })
    .await
    .2;
    assert_eq!(
        string_attr(&rpc.attributes, "picket.tenant").as_deref(),
        Some("default")
    );
    assert_eq!(int_attr(&rpc.attributes, "rpc.grpc.status_code"), Some(0));

    // Metrics: the sensor's parsed count equals the lines written; the controller's committed
    // requests and the tenant's metered calls follow.
    wait_for(
        "picket_sensor_requests_parsed_total = lines written",
        || {
            (receiver.latest_sum("picket-sensor", "picket_sensor_requests_parsed_total")
                == Some(written as i64))
            .then_some(())
        },
    )
    .await;
    wait_for(
        "picket_controller_requests_committed_total = lines written",
        || {
            (receiver.latest_sum(
                "picket-controller",
                "picket_controller_requests_committed_total",
            ) == Some(written as i64))
            .then_some(())
        },
    )
    .await;
    wait_for("per-tenant usage", || {
        (receiver.latest_sum("picket-controller", "picket_controller_cycle_billed_calls")
            == Some(written as i64))
        .then_some(())
    })
    .await;
    let names = receiver.metric_names("picket-sensor");
    for m in [
        "picket_sensor_requests_received_total",
        "picket_sensor_batches_acked_total",
        "picket_sensor_batch_requests_bucket",
        "picket_sensor_delivery_duration",
        "picket_otel_spans_dropped",
    ] {
        assert!(names.contains(m), "{m} missing from {names:?}");
    }
    assert!(
        receiver
            .metric_names("picket-controller")
            .contains("picket_controller_batch_commit_seconds_count")
    );

    // The collector dies. Traffic keeps flowing and is fully acknowledged, each round within
    // MAX_DELIVERY, across several failed export intervals.
    receiver.kill();
    for round in 4..8 {
        let t0 = Instant::now();
        append(&log, &lines(50, round * 50));
        written += 50;
        wait_calls(&url, &reader, written as u64).await;
        let took = t0.elapsed();
        assert!(
            took < MAX_DELIVERY,
            "round {round} took {took:?} with the collector dead"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut fleet = fleet(&url, &reader).await;
    let sensors = fleet
        .list_sensors(pb::ListSensorsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sensors;
    let edge = sensors.iter().find(|s| s.sensor_id == "edge-otel").unwrap();
    let counters = edge.counters.clone().unwrap();
    assert_eq!(counters.parsed, written as u64, "nothing lost");
    assert_eq!(counters.requests_dropped, 0);
}
