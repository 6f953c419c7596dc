//! The sensor's network listeners (HTTP mirror, Envoy ALS) against hostile peers, over real
//! sockets: peers outside the allowlist are refused and counted, forwarded addresses count only
//! from trusted proxies, slow-loris headers and trickling bodies are cut, connections over the
//! cap are refused while the holders stay served, quiet ALS streams are ended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use envoy_types::pb::envoy::service::accesslog::v3 as als;
use picket_tests::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A sensor metric (0 when absent).
fn metric(sensor: &SensorProc, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (_, text) = http_get(sensor.admin_addr.as_ref().unwrap(), "/metrics");
    prom_value(&parse_prometheus(&text).unwrap(), name, labels).unwrap_or(0.0)
}

/// Waits (generously) until a sensor metric reaches `want`.
async fn wait_metric(sensor: &SensorProc, name: &str, labels: &[(&str, &str)], want: f64) {
    eventually(
        Duration::from_secs(30),
        &format!("{name}{labels:?} >= {want}"),
        || async { (metric(sensor, name, labels) >= want).then_some(()) },
    )
    .await;
}

fn refused(sensor: &SensorProc, source: &str, reason: &str) -> f64 {
    metric(
        sensor,
        "picket_sensor_listener_refused_total",
        &[("source", source), ("reason", reason)],
    )
}

fn start_sensor(stack: &Stack, id: &str, extra: &[&str]) -> SensorProc {
    let data = stack.path(&format!("{id}-data"));
    let mut args = vec!["--id", id, "--data-dir", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    SensorProc::start(&stack.url(), &stack.sensor_token, &args)
}

/// A sensor with a mirror listener configured by `mirror_toml` (keys of `[mirror]`).
fn mirror_sensor(stack: &Stack, id: &str, mirror_toml: &str, extra: &[&str]) -> SensorProc {
    let cfg = stack.path(&format!("{id}.toml"));
    std::fs::write(&cfg, format!("[mirror]\n{mirror_toml}\n")).unwrap();
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "--mirror-listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start_sensor(stack, id, &args)
}

/// A sensor with an ALS listener configured by `als_toml` (keys of `[als]`); returns it with
/// the listener's address and source name.
fn als_sensor(stack: &Stack, id: &str, als_toml: &str) -> (SensorProc, String, String) {
    let cfg = stack.path(&format!("{id}.toml"));
    std::fs::write(&cfg, format!("[als]\n{als_toml}\n")).unwrap();
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--als-listen",
        "127.0.0.1:0",
    ];
    let sensor = start_sensor(stack, id, &args);
    let addr = sensor.als_addr.clone().unwrap();
    let source = format!("envoy-als:{addr}");
    (sensor, addr, source)
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads one response head (up to the blank line); empty when the peer closed first.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Sends one keep-alive request on `s` and returns the response head.
fn request(s: &mut TcpStream, path: &str, extra_headers: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: mirror.example\r\n{extra_headers}\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    read_head(s)
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_refuses_peers_outside_the_allowlist_and_serves_allowed_ones() {
    let stack = Stack::start().await;
    // 127.0.0.1 is outside 10.0.0.0/8: every connection is refused before a byte is read.
    let closed = start_sensor(
        &stack,
        "mirror-closed",
        &[
            "--mirror-listen",
            "127.0.0.1:0",
            "--mirror-allow",
            "10.0.0.0/8",
        ],
    );
    let addr = closed.mirror_addr.clone().unwrap();
    let source = format!("mirror:{addr}");
    for _ in 0..3 {
        let mut s = connect(&addr);
        let resp = request(&mut s, "/refused", "Connection: close\r\n");
        assert!(!resp.contains("200"), "refused peer was served: {resp}");
    }
    wait_metric(
        &closed,
        "picket_sensor_listener_refused_total",
        &[("source", &source), ("reason", "not_allowed")],
        3.0,
    )
    .await;
    let received = metric(
        &closed,
        "picket_sensor_requests_received_total",
        &[("source", &source)],
    );
    assert_eq!(received, 0.0, "a refused peer's request was read");

    let open = start_sensor(
        &stack,
        "mirror-open",
        &[
            "--mirror-listen",
            "127.0.0.1:0",
            "--mirror-allow",
            "127.0.0.0/8",
        ],
    );
    let addr = open.mirror_addr.clone().unwrap();
    let mut s = connect(&addr);
    let resp = request(&mut s, "/allowed", "Connection: close\r\n");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let eps = stack.wait_total_calls(1).await;
    assert_eq!(eps[0].path, "/allowed");
    assert_eq!(
        refused(&open, &format!("mirror:{addr}"), "not_allowed"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let stack = Stack::start().await;
    // Loopback is a trusted proxy by default (a local gateway); X-Real-IP is believed only
    // with --mirror-real-ip-header (gateways often pass a client's own X-Real-IP through).
    let trusting = start_sensor(
        &stack,
        "trusting",
        &["--mirror-listen", "127.0.0.1:0", "--mirror-real-ip-header"],
    );
    let by_default = start_sensor(&stack, "default", &["--mirror-listen", "127.0.0.1:0"]);
    // Loopback is not a trusted proxy here: the client is the peer, whatever the headers say.
    let untrusting = start_sensor(
        &stack,
        "untrusting",
        &[
            "--mirror-listen",
            "127.0.0.1:0",
            "--mirror-trusted-proxy",
            "10.0.0.0/8",
        ],
    );
    let send = |addr: &str, path: &str, headers: &str| {
        let mut s = connect(addr);
        let resp = request(&mut s, path, &format!("{headers}Connection: close\r\n"));
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    };
    let (t, u) = (
        trusting.mirror_addr.clone().unwrap(),
        untrusting.mirror_addr.clone().unwrap(),
    );
    send(&t, "/trusted/real-ip", "X-Real-IP: 81.2.69.10\r\n");
    send(
        &t,
        "/trusted/xff",
        "X-Forwarded-For: 6.6.6.6, 81.2.69.11, 127.0.0.1\r\n",
    );
    send(&u, "/untrusted/real-ip", "X-Real-IP: 81.2.69.12\r\n");
    send(&u, "/untrusted/xff", "X-Forwarded-For: 81.2.69.13\r\n");
    let d = by_default.mirror_addr.clone().unwrap();
    send(&d, "/default/real-ip", "X-Real-IP: 81.2.69.14\r\n");
    let eps = stack.wait_total_calls(5).await;
    let public = |path: &str| {
        eps.iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .public_client_requests
    };
    assert_eq!(
        public("/trusted/real-ip"),
        1,
        "X-Real-IP from a trusted peer"
    );
    assert_eq!(public("/trusted/xff"), 1, "XFF walked past a trusted hop");
    assert_eq!(
        public("/untrusted/real-ip"),
        0,
        "X-Real-IP from an untrusted peer"
    );
    assert_eq!(public("/untrusted/xff"), 0, "XFF from an untrusted peer");
    assert_eq!(
        public("/default/real-ip"),
        0,
        "X-Real-IP believed without mirror.real_ip_header"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_headers_trickling_bodies_and_idle_connections_are_cut() {
    let stack = Stack::start().await;
    let sensor = mirror_sensor(
        &stack,
        "mirror-timeouts",
        "header_timeout_ms = 1000\nbody_timeout_ms = 1500\nidle_timeout_ms = 2000",
        &[],
    );
    let addr = sensor.mirror_addr.clone().unwrap();
    let source = format!("mirror:{addr}");
    let timeouts = |reason: &str| {
        metric(
            &sensor,
            "picket_sensor_listener_timeouts_total",
            &[("source", &source), ("reason", reason)],
        )
    };

    // Slow loris: a header line every 200 ms, never the blank line.
    let mut loris = connect(&addr);
    loris
        .write_all(b"GET /loris HTTP/1.1\r\nHost: mirror.example\r\n")
        .unwrap();
    let start = Instant::now();
    let mut cut = false;
    for i in 0..100 {
        std::thread::sleep(Duration::from_millis(200));
        if loris
            .write_all(format!("X-Pad-{i}: a\r\n").as_bytes())
            .is_err()
        {
            cut = true;
            break;
        }
        if start.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    assert!(cut || closed_within(&mut loris, Duration::from_secs(10)));
    wait_metric(
        &sensor,
        "picket_sensor_listener_timeouts_total",
        &[("source", &source), ("reason", "header")],
        1.0,
    )
    .await;

    // A body announced as 1000 bytes that trickles one byte every 200 ms.
    let mut trickle = connect(&addr);
    trickle
        .write_all(
            b"POST /trickle HTTP/1.1\r\nHost: mirror.example\r\nContent-Length: 1000\r\n\r\n",
        )
        .unwrap();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        if trickle.write_all(b"a").is_err() {
            break;
        }
        if timeouts("body") >= 1.0 {
            break;
        }
    }
    wait_metric(
        &sensor,
        "picket_sensor_listener_timeouts_total",
        &[("source", &source), ("reason", "body")],
        1.0,
    )
    .await;
    assert!(closed_within(&mut trickle, Duration::from_secs(10)));
    // The stalled request still happened at the gateway: it is recorded with what arrived.
    let eps = stack.wait_total_calls(1).await;
    assert_eq!(eps[0].path, "/trickle");

    // A kept-alive connection that sends nothing more is closed after the idle timeout,
    // after being served normally.
    let mut idle = connect(&addr);
    let resp = request(&mut idle, "/before-idle", "");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(closed_within(&mut idle, Duration::from_secs(20)));
    wait_metric(
        &sensor,
        "picket_sensor_listener_timeouts_total",
        &[("source", &source), ("reason", "idle")],
        1.0,
    )
    .await;
    assert_eq!(
        timeouts("header"),
        1.0,
        "an idle connection is not a slow loris"
    );
    stack.wait_total_calls(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_connections_over_the_cap_are_refused_while_the_holders_are_served() {
    let stack = Stack::start().await;
    let sensor = mirror_sensor(&stack, "mirror-cap", "max_connections = 2", &[]);
    let addr = sensor.mirror_addr.clone().unwrap();
    let source = format!("mirror:{addr}");
    let mut holders = [connect(&addr), connect(&addr)];
    for (i, h) in holders.iter_mut().enumerate() {
        let resp = request(h, &format!("/holder/{i}"), "");
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    wait_metric(
        &sensor,
        "picket_sensor_listener_connections",
        &[("source", &source)],
        2.0,
    )
    .await;
    for _ in 0..3 {
        let mut extra = connect(&addr);
        let resp = request(&mut extra, "/extra", "Connection: close\r\n");
        assert!(!resp.contains("200"), "served over the cap: {resp}");
    }
    wait_metric(
        &sensor,
        "picket_sensor_listener_refused_total",
        &[("source", &source), ("reason", "over_capacity")],
        3.0,
    )
    .await;
    for (i, h) in holders.iter_mut().enumerate() {
        let resp = request(h, &format!("/holder/{i}"), "");
        assert!(resp.starts_with("HTTP/1.1 200"), "holder {i}: {resp}");
    }
    let eps = stack.wait_total_calls(4).await;
    assert!(eps.iter().all(|e| e.path != "/extra"));
    // A holder leaves: a new connection takes its place.
    drop(holders);
    let mut next = connect(&addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = request(&mut next, "/next", "Connection: close\r\n");
        if resp.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no room after the holders left");
        std::thread::sleep(Duration::from_millis(100));
        next = connect(&addr);
    }
}

fn als_message(path: &str) -> als::StreamAccessLogsMessage {
    use als::stream_access_logs_message::{HttpAccessLogEntries, Identifier, LogEntries};
    use envoy_types::pb::envoy::config::core::v3::RequestMethod;
    use envoy_types::pb::envoy::data::accesslog::v3::{
        AccessLogCommon, HttpAccessLogEntry, HttpRequestProperties, HttpResponseProperties,
    };
    use envoy_types::pb::google::protobuf::UInt32Value;
    let entry = HttpAccessLogEntry {
        common_properties: Some(AccessLogCommon::default()),
        request: Some(HttpRequestProperties {
            request_method: RequestMethod::Get as i32,
            authority: "als.example".into(),
            path: path.into(),
            ..Default::default()
        }),
        response: Some(HttpResponseProperties {
            response_code: Some(UInt32Value { value: 200 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    als::StreamAccessLogsMessage {
        identifier: Some(Identifier {
            log_name: "listeners".into(),
            ..Default::default()
        }),
        log_entries: Some(LogEntries::HttpLogs(HttpAccessLogEntries {
            log_entry: vec![entry],
        })),
    }
}

type AlsClient = als::access_log_service_client::AccessLogServiceClient<tonic::transport::Channel>;

async fn als_client(addr: &str) -> Result<AlsClient, String> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(AlsClient::new(channel))
}

/// Streams one message and closes the stream.
async fn send_als(addr: &str, path: &str) -> Result<(), String> {
    let mut client = als_client(addr).await?;
    tokio::time::timeout(
        Duration::from_secs(20),
        client.stream_access_logs(tokio_stream::iter(vec![als_message(path)])),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn als_refuses_peers_outside_the_allowlist_and_serves_allowed_ones() {
    let stack = Stack::start().await;
    let closed = start_sensor(
        &stack,
        "als-closed",
        &["--als-listen", "127.0.0.1:0", "--als-allow", "10.0.0.0/8"],
    );
    let addr = closed.als_addr.clone().unwrap();
    assert!(send_als(&addr, "/refused").await.is_err());
    wait_metric(
        &closed,
        "picket_sensor_listener_refused_total",
        &[
            ("source", &format!("envoy-als:{addr}")),
            ("reason", "not_allowed"),
        ],
        1.0,
    )
    .await;

    let open = start_sensor(
        &stack,
        "als-open",
        &["--als-listen", "127.0.0.1:0", "--als-allow", "127.0.0.1"],
    );
    let addr = open.als_addr.clone().unwrap();
    send_als(&addr, "/allowed").await.unwrap();
    let eps = stack.wait_total_calls(1).await;
    assert_eq!(eps[0].path, "/allowed");
    assert_eq!(
        refused(&open, &format!("envoy-als:{addr}"), "not_allowed"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn als_caps_connections_and_ends_quiet_streams() {
    let stack = Stack::start().await;
    let (sensor, addr, source) = als_sensor(
        &stack,
        "als-cap",
        "max_connections = 1\nidle_timeout_ms = 1500",
    );
    // The holder: one message, then a stream that stays open and quiet.
    let mut holder = als_client(&addr).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(als_message("/holder")).await.unwrap();
    let call = tokio::spawn(async move {
        holder
            .stream_access_logs(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map(|_| holder)
    });
    wait_metric(
        &sensor,
        "picket_sensor_listener_connections",
        &[("source", &source)],
        1.0,
    )
    .await;
    // A second connection is over the cap.
    assert!(send_als(&addr, "/extra").await.is_err());
    wait_metric(
        &sensor,
        "picket_sensor_listener_refused_total",
        &[("source", &source), ("reason", "over_capacity")],
        1.0,
    )
    .await;
    // The quiet stream is ended by the sensor (the client still holds its end open).
    let holder = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the quiet stream was not ended")
        .unwrap()
        .expect("the ended stream reports OK");
    drop(tx);
    wait_metric(
        &sensor,
        "picket_sensor_listener_timeouts_total",
        &[("source", &source), ("reason", "idle")],
        1.0,
    )
    .await;
    // The holder's connection serves a new stream, as Envoy's would.
    let mut holder = holder;
    holder
        .stream_access_logs(tokio_stream::iter(vec![als_message("/again")]))
        .await
        .unwrap();
    let eps = stack.wait_total_calls(2).await;
    assert!(eps.iter().all(|e| e.path != "/extra"));
}

/// A client that connects to ALS and never sends its HTTP/2 preface (or trickles part of it)
/// is closed at `als.preface_timeout_ms` and counted, so silent clients cannot hold the
/// listener's places; Envoy, which sends its preface at once, is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn als_closes_clients_that_send_no_preface_in_time() {
    let stack = Stack::start().await;
    let (sensor, addr, source) = als_sensor(
        &stack,
        "als-preface",
        "max_connections = 2\npreface_timeout_ms = 700",
    );
    // Both fit under the cap; each is cut by the deadline (counted as `preface`), not refused.
    let mut silent = connect(&addr);
    let mut trickle = connect(&addr);
    trickle.write_all(b"PRI * HTTP/2.0").unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(20)));
    assert!(closed_within(&mut trickle, Duration::from_secs(20)));
    wait_metric(
        &sensor,
        "picket_sensor_listener_timeouts_total",
        &[("source", &source), ("reason", "preface")],
        2.0,
    )
    .await;
    assert_eq!(refused(&sensor, &source, "over_capacity"), 0.0);
    // The places are free again: a real client streams.
    send_als(&addr, "/after-preface-cut").await.unwrap();
    let eps = stack.wait_total_calls(1).await;
    assert!(eps.iter().any(|e| e.path == "/after-preface-cut"));
}

/// Out of descriptors (EMFILE): the mirror's accept fails while connections wait in the
/// backlog. It pauses with a growing backoff (counted, a handful per second rather than a
/// spinning loop) and serves again once descriptors are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_errors_back_off_and_the_listener_recovers() {
    let stack = Stack::start().await;
    let data = stack.path("emfile-data");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -n 128 && exec "$0" "$@""#)
        .arg(bin("picket-sensor"))
        .args([
            "--controller",
            &stack.url(),
            "--token",
            &stack.sensor_token,
            "--flush-interval-ms",
            "100",
            "--id",
            "emfile",
            "--data-dir",
            data.to_str().unwrap(),
            "--mirror-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn");
    let mut proc = Proc::spawn(cmd);
    let addr = proc.wait_line("picket-sensor mirror listening on ");
    let admin = proc.wait_line("picket-sensor admin listening on ");
    proc.wait_line("picket-sensor ready");
    let sensor = SensorProc {
        proc,
        als_addr: None,
        mirror_addr: Some(addr.clone()),
        admin_addr: Some(admin),
    };
    // More connections than the sensor has descriptors (128, about 15 in use): the rest wait
    // in the listen backlog (at least 128 deep) and every accept of theirs fails.
    let held: Vec<TcpStream> = (0..180).map(|_| connect(&addr)).collect();
    let flood = Duration::from_secs(3);
    std::thread::sleep(flood);
    drop(held);
    let source = format!("mirror:{addr}");
    wait_metric(
        &sensor,
        "picket_sensor_listener_accept_errors_total",
        &[("source", &source)],
        1.0,
    )
    .await;
    let errors = metric(
        &sensor,
        "picket_sensor_listener_accept_errors_total",
        &[("source", &source)],
    );
    // 10 ms doubling to 1 s: about 10 failed accepts in 3 s (a spinning loop: millions).
    assert!(
        errors <= 50.0,
        "{errors} failed accepts in {flood:?}: not backing off"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut s = connect(&addr);
        let resp = request(&mut s, "/after-emfile", "Connection: close\r\n");
        if resp.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the listener did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    let eps = stack.wait_total_calls(1).await;
    assert_eq!(eps[0].path, "/after-emfile");
}
