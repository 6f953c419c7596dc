//! Limits on callers, over real gRPC: a token over its query rate is refused with retry
//! information while another token of its tenant is served; streams beyond a tenant's or the
//! controller's cap are refused and a closed stream frees its place; an idle ingest stream is
//! ended and its sensor reconnects losing nothing; a stream ends at its maximum lifetime.
//! Counters show on `/metrics`. (The revoke/commit race is tested in the controller's
//! `grpc::ingest_race_tests`, where the interleaving can be forced.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use std::time::{Duration, Instant};
use tonic::Code;

/// A stack whose controller reads `toml` as its config file.
async fn stack_with(toml: &str) -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("controller.toml");
    std::fs::write(&cfg, toml).unwrap();
    let stack = Stack::start_with(&["--config", cfg.to_str().unwrap()]).await;
    (dir, stack)
}

fn metric(stack: &Stack, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (_, body) = http_get(&stack.controller.admin_addr, "/metrics");
    let fams = parse_prometheus(&body).unwrap();
    prom_value(&fams, name, labels).unwrap_or(0.0)
}

async fn list_alerts(url: &str, token: &str) -> Result<pb::ListAlertsResponse, tonic::Status> {
    let mut c = alerts_client(url, token).await;
    c.list_alerts(pb::ListAlertsRequest::default())
        .await
        .map(tonic::Response::into_inner)
}

/// Calls `ListAlerts` until it is refused; how many calls were served before.
async fn hammer(url: &str, token: &str, at_most: usize) -> (usize, tonic::Status) {
    let mut c = alerts_client(url, token).await;
    for served in 0..at_most {
        if let Err(s) = c.list_alerts(pb::ListAlertsRequest::default()).await {
            return (served, s);
        }
    }
    panic!("{at_most} calls in a row were all served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_is_refused_with_retry_info_while_another_is_served() {
    let (_cfg, stack) = stack_with("[limits]\nquery_rps = 1\nquery_burst = 5\n").await;
    let url = stack.url();
    let other = create_token(&url, &stack.admin_token, "", pb::Role::Reader).await;

    let (served, refused) = hammer(&url, &stack.reader_token, 50).await;
    // The burst, plus what refilled at 1/s while the calls ran on a loaded machine.
    assert!((5..20).contains(&served), "served {served} before refusing");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("limits.query_rps"),
        "{refused:?}"
    );
    let retry: u64 = refused
        .metadata()
        .get("retry-after")
        .expect("retry-after metadata")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");
    // The standard google.rpc.RetryInfo detail rides along.
    let details = refused.details();
    assert!(
        details
            .windows(b"google.rpc.RetryInfo".len())
            .any(|w| w == b"google.rpc.RetryInfo"),
        "no RetryInfo in the status details"
    );

    // Another token of the same tenant has its own bucket.
    list_alerts(&url, &other).await.unwrap();
    // picketctl says what happened and when to retry.
    let out = std::process::Command::new(bin("picketctl"))
        .args(["--controller", &url, "--token", &stack.reader_token])
        .args(["alerts", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rate limited, retry in"), "{stderr}");

    // After the wait it says, the token is served again.
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(200)).await;
    list_alerts(&url, &stack.reader_token).await.unwrap();
    let limited = metric(
        &stack,
        "picket_controller_rpcs_rate_limited_total",
        &[("tenant", "default")],
    );
    assert!(limited >= 2.0, "rate-limited counter {limited}");
    // Opening an ingest stream is not a query call: a sensor reconnects more often than the
    // burst allows, and streams batches at will.
    for seq in 1..=8 {
        let mut raw = RawSensor::connect(&url, &stack.sensor_token, "busy", 1).await;
        raw.send(raw.batch(seq, "api.example", 1)).await;
    }
}

async fn watch(url: &str, token: &str) -> Result<tonic::Streaming<pb::AlertChange>, tonic::Status> {
    let mut c = alerts_client(url, token).await;
    c.watch_alerts(pb::WatchAlertsRequest {
        bookmark_interval_ms: 60_000,
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_a_cap_are_refused_and_a_closed_stream_frees_its_place() {
    let (_cfg, stack) =
        stack_with("[limits]\nmax_streams_per_tenant = 2\nmax_streams_total = 3\n").await;
    let url = stack.url();
    let mut root = admin(&url, &stack.admin_token).await;
    root.create_tenant(pb::CreateTenantRequest {
        name: "acme".into(),
    })
    .await
    .unwrap();
    let acme_sensor = create_token(&url, &stack.admin_token, "acme", pb::Role::Sensor).await;
    let acme_reader = create_token(&url, &stack.admin_token, "acme", pb::Role::Reader).await;

    let first = RawSensor::connect(&url, &stack.sensor_token, "s1", 1).await;
    let _watch = watch(&url, &stack.reader_token).await.unwrap();
    // The tenant's third stream, of either kind, is refused.
    let refused = RawSensor::try_connect(&url, &stack.sensor_token, "s2", 1)
        .await
        .err()
        .expect("a third stream of the tenant is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("max_streams_per_tenant"),
        "{refused:?}"
    );
    let refused = watch(&url, &stack.reader_token).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Another tenant still opens one; then the controller is full for everybody.
    let _acme = RawSensor::connect(&url, &acme_sensor, "a1", 1).await;
    let refused = watch(&url, &acme_reader).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("max_streams_total"),
        "{refused:?}"
    );
    assert_eq!(
        metric(
            &stack,
            "picket_controller_streams_refused_total",
            &[("tenant", "default")]
        ),
        2.0
    );
    assert_eq!(
        metric(&stack, "picket_controller_ingest_streams_open", &[]),
        2.0
    );

    // Closing a stream gives its place back (the controller notices the client left).
    drop(first);
    let again = eventually(Duration::from_secs(30), "a freed stream slot", || {
        let url = url.clone();
        let token = stack.sensor_token.clone();
        async move { RawSensor::try_connect(&url, &token, "s2", 1).await.ok() }
    })
    .await;
    assert_eq!(again.welcome.tenant, "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_ingest_stream_is_ended_and_its_sensor_reconnects_losing_nothing() {
    let (_cfg, stack) =
        stack_with("[limits]\nstream_idle_timeout_secs = 2\nstream_max_lifetime_secs = 6\n").await;
    let url = stack.url();
    // A real sensor whose streams keep ending delivers everything exactly once.
    let log = stack.path("access.log");
    let line = |i: usize| {
        json_line(
            1_795_219_200.0 + i as f64,
            "shop.example",
            "GET",
            &format!("/items/{i}"),
            200,
            "81.2.69.4",
        )
    };
    append(&log, &(0..20).map(line).collect::<Vec<_>>());
    let _sensor = stack.file_sensor("tail", &log);
    stack.wait_exact("tail", 20, 20).await;
    let idle_ends = || {
        metric(
            &stack,
            "picket_controller_streams_ended_total",
            &[("reason", "idle_timeout")],
        )
    };
    let before = idle_ends();
    eventually(
        Duration::from_secs(60),
        "the quiet sensor's stream ended",
        || async { (idle_ends() > before).then_some(()) },
    )
    .await;
    append(&log, &(20..50).map(line).collect::<Vec<_>>());
    stack.wait_exact("tail", 50, 50).await;
    let mut raw = RawSensor::connect(&url, &stack.sensor_token, "idle", 1).await;
    raw.send(raw.batch(1, "api.example", 3)).await;
    let opened = Instant::now();
    let status = raw.ended(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("limits.stream_idle_timeout_secs"),
        "{status:?}"
    );
    assert!(opened.elapsed() >= Duration::from_millis(1_900));
    // A watch stream is not idle by this rule (watchers only read), but it has a lifetime.
    let mut changes = watch(&url, &stack.reader_token).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match changes.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the watch ended without a status"),
                Err(s) => return s,
            }
        }
    })
    .await
    .expect("the watch ends at its lifetime");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(
        ended.message().contains("limits.stream_max_lifetime_secs"),
        "{ended:?}"
    );

    assert_eq!(usage(&url, &stack.admin_token).await.calls, 53);
    assert!(
        metric(
            &stack,
            "picket_controller_streams_ended_total",
            &[("reason", "max_lifetime")]
        ) >= 1.0
    );
}

fn batch(sensor_id: &str, seq: u64) -> pb::SensorMessage {
    let b = pb::Batch {
        sensor_id: sensor_id.into(),
        stream_epoch: 1,
        seq,
        endpoints: vec![pb::EndpointSummary {
            host: "api.example".into(),
            method: "GET".into(),
            template: "/stall".into(),
            requests: 1,
            first_seen_ms: 1,
            last_seen_ms: 2,
            ..Default::default()
        }],
        ..Default::default()
    };
    pb::SensorMessage {
        msg: Some(pb::sensor_message::Msg::Batch(b)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_that_reads_nothing_is_ended_after_the_stall_timeout_and_frees_its_place() {
    let (_cfg, stack) = stack_with("[limits]\nstream_stall_timeout_secs = 2\n").await;
    // A tiny HTTP/2 receive window: a few dozen unread acks fill it, then the controller's
    // queue fills, then its sends stall.
    let channel = tonic::transport::Endpoint::from_shared(stack.url())
        .unwrap()
        .initial_stream_window_size(Some(512))
        .connect()
        .await
        .unwrap();
    let bearer = picket_cli::client::Bearer::new(Some(&stack.sensor_token)).unwrap();
    let svc = tonic::service::interceptor::InterceptedService::new(channel, bearer);
    let mut client = pb::ingest_client::IngestClient::new(svc);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let hello = pb::Hello {
        sensor_id: "deaf".into(),
        stream_epoch: 1,
        version: "raw".into(),
        ..Default::default()
    };
    tx.send(pb::SensorMessage {
        msg: Some(pb::sensor_message::Msg::Hello(hello)),
    })
    .await
    .unwrap();
    for seq in 1..=600 {
        tx.send(batch("deaf", seq)).await.unwrap();
    }
    let mut inbound = client
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let stalled = || {
        metric(
            &stack,
            "picket_controller_streams_ended_total",
            &[("reason", "stall_timeout")],
        )
    };
    eventually(
        Duration::from_secs(90),
        "the deaf sensor's stream ended",
        || async { (stalled() >= 1.0).then_some(()) },
    )
    .await;
    // Its place is free at once, though the client has still read nothing.
    assert_eq!(
        metric(&stack, "picket_controller_ingest_streams_open", &[]),
        0.0
    );
    let mut acked = 0;
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(30), inbound.message())
            .await
            .expect("the stream answers")
        {
            Ok(Some(m)) => {
                if let Some(pb::controller_message::Msg::Ack(a)) = m.msg {
                    acked = a.seq;
                }
            }
            Ok(None) => panic!("the stream ended without a status"),
            Err(s) => break s,
        }
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("limits.stream_stall_timeout_secs"),
        "{status:?}"
    );
    // Every batch acknowledged is committed; the rest a real sensor resends.
    let committed = stack.clone_handle().committed("deaf").await.unwrap();
    assert!(
        committed >= acked && committed < 600,
        "committed {committed}, acked {acked}"
    );
}

/// A spec with one path (eight API names, replaced in turn): every import changes the tenant's
/// templates, which the controller pushes to each connected sensor as a directive.
fn spec(i: usize) -> pb::ImportSpecRequest {
    let doc = format!(
        "openapi: 3.0.0\ninfo: {{title: s{i}, version: '1'}}\nservers: [{{url: 'https://api.example'}}]\npaths:\n  /p{i}/{{id}}: {{get: {{responses: {{'200': {{description: ok}}}}}}}}\n"
    );
    pb::ImportSpecRequest {
        api: format!("s{}", i % 8),
        files: vec![pb::SpecFile {
            name: "spec.yaml".into(),
            content: doc.into_bytes(),
        }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_that_reads_no_directives_is_ended_after_the_stall_timeout() {
    let (_cfg, stack) = stack_with(
        "[limits]\nstream_stall_timeout_secs = 2\nquery_rps = 1000\nquery_burst = 1000\n",
    )
    .await;
    // A sensor that says hello, then neither sends nor reads: only directives flow to it.
    let raw = tonic::transport::Endpoint::from_shared(stack.url())
        .unwrap()
        .initial_stream_window_size(Some(512))
        .connect()
        .await
        .unwrap();
    let bearer = picket_cli::client::Bearer::new(Some(&stack.sensor_token)).unwrap();
    let svc = tonic::service::interceptor::InterceptedService::new(raw, bearer);
    let mut client = pb::ingest_client::IngestClient::new(svc);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let hello = pb::Hello {
        sensor_id: "deaf-to-directives".into(),
        stream_epoch: 1,
        version: "raw".into(),
        ..Default::default()
    };
    tx.send(pb::SensorMessage {
        msg: Some(pb::sensor_message::Msg::Hello(hello)),
    })
    .await
    .unwrap();
    let _inbound = client
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let open = || metric(&stack, "picket_controller_ingest_streams_open", &[]);
    eventually(Duration::from_secs(30), "the stream opened", || async {
        (open() == 1.0).then_some(())
    })
    .await;
    // Spec imports push template directives until the stream's queue is full and its sends
    // stall; the stall timeout then ends the stream (a blocked send used to hold it forever,
    // deaf to revocation and every other timer).
    let mut specs =
        pb::specs_client::SpecsClient::new(channel(&stack.url(), Some(&stack.admin_token)).await);
    for i in 0..300 {
        specs.import_spec(spec(i)).await.unwrap();
        if open() == 0.0 {
            break;
        }
    }
    eventually(
        Duration::from_secs(60),
        "the deaf sensor's stream ended",
        || async { (open() == 0.0).then_some(()) },
    )
    .await;
    let stalled = metric(
        &stack,
        "picket_controller_streams_ended_total",
        &[("reason", "stall_timeout")],
    );
    assert!(stalled >= 1.0, "ended, but not by the stall timeout");
    drop(tx);
}

/// What a fresh connection to the controller sees first: `true` if it is closed at once
/// (refused by the connection cap), `false` if it is served (the server's HTTP/2 SETTINGS
/// arrive, or nothing within the probe).
async fn refused_at_once(conn: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_millis(500), conn.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_fill_the_cap_only_until_their_preface_deadline() {
    use tokio::io::AsyncReadExt;
    let (_cfg, stack) =
        stack_with("[limits]\nmax_connections = 4\npreface_timeout_secs = 3\n").await;
    let addr = stack.url().trim_start_matches("http://").to_owned();

    // Silent clients (TCP only, no HTTP/2 preface) take every place; the next is closed at
    // once without a byte of service.
    let mut held = Vec::new();
    let mut refused = false;
    for _ in 0..10 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if refused_at_once(&mut c).await {
            refused = true;
            break;
        }
        held.push(c);
    }
    assert!(refused, "10 silent connections were all admitted");
    assert!(
        (1..=4).contains(&held.len()),
        "{} connections held with max_connections = 4",
        held.len()
    );
    assert!(metric(&stack, "picket_controller_connections_refused_total", &[]) >= 1.0);

    // At the preface deadline the silent ones are closed and counted.
    for c in &mut held {
        let mut buf = [0u8; 256];
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                Instant::now() < deadline,
                "a silent connection outlived its deadline"
            );
            match tokio::time::timeout(Duration::from_secs(30), c.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => panic!("a silent connection outlived its deadline"),
            }
        }
    }
    let timeouts = "picket_controller_connection_preface_timeouts_total";
    assert!(metric(&stack, timeouts, &[]) >= held.len() as f64);

    // Their places are free again: real clients are served.
    list_alerts(&stack.url(), &stack.reader_token)
        .await
        .unwrap();
}
