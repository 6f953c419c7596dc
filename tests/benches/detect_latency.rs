//! Detection latency: from the moment a request's log line is written (sensor receipt) to the
//! moment its alert arrives on `WatchAlerts`, under steady background traffic.
//!
//! A writer thread appends benign nginx JSON lines (event time = wall time) at `RATE` lines/s
//! in 10 ms slices; every 100 ms one of the lines is an SQL injection from an address never
//! used before, so each raises a new `injection` alert. A sensor tails the file and streams
//! to a controller (both in this process, real gRPC over loopback, sled with a durable flush
//! before every ack, the analysis worker on its own thread). A watcher matches each raised
//! alert to its probe by actor address. Prints p50/p99/max and the background rate achieved.
//!
//!   cargo bench -p picket-tests --bench detect_latency [-- SECONDS RATE FLUSH_MS]

use picket_cli::client::connect_url;
use picket_proto::v1 as pb;
use picket_sensor::config::{FileSourceConfig, SensorConfig};
use picket_sensor::sources::nginx::LogFormat;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Write instants of the probes, by attacker address.
type Probes = Arc<Mutex<HashMap<String, Instant>>>;

fn probe_ip(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// Appends benign lines and probes until `stop`; returns the lines written.
fn writer(path: std::path::PathBuf, rate: u64, stop: Arc<AtomicBool>, probes: Probes) -> u64 {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file");
    let slice = Duration::from_millis(10);
    let per_slice = (rate / 100).max(1);
    let start = Instant::now();
    let (mut written, mut probe) = (0u64, 0u64);
    let mut buf = String::new();
    for tick in 0u64.. {
        if stop.load(Relaxed) {
            break;
        }
        let now_s = picket_runtime::now_ms() as f64 / 1000.0;
        buf.clear();
        for i in 0..per_slice {
            let n = written + i;
            let uri = format!("/api/v1/products/{}?page={}", n % 5000, n % 9);
            let ip = format!("81.2.{}.{}", (n >> 8) % 40, n % 250);
            buf.push_str(&picket_tests::json_line(
                now_s,
                "shop.example.com",
                "GET",
                &uri,
                200,
                &ip,
            ));
            buf.push('\n');
        }
        let probe_ip = (tick % 10 == 0).then(|| {
            probe += 1;
            probe_ip(probe)
        });
        if let Some(ip) = &probe_ip {
            buf.push_str(&picket_tests::json_line(
                now_s,
                "shop.example.com",
                "GET",
                "/api/v1/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
                200,
                ip,
            ));
            buf.push('\n');
        }
        f.write_all(buf.as_bytes()).expect("append");
        if let Some(ip) = probe_ip {
            let mut p = probes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            p.insert(ip, Instant::now());
        }
        written += per_slice + 1;
        let next = start + slice * (tick as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    written
}

async fn token(url: &str, admin: &str, role: pb::Role) -> anyhow::Result<String> {
    let mut c = pb::admin_client::AdminClient::new(
        connect_url(url, Some(admin), Duration::from_secs(10)).await?,
    );
    Ok(c.create_token(pb::CreateTokenRequest {
        tenant: String::new(),
        role: role as i32,
        description: String::new(),
        ttl_secs: 0,
    })
    .await?
    .into_inner()
    .secret)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let secs = args.first().copied().unwrap_or(30);
    let rate = args.get(1).copied().unwrap_or(20_000);
    let flush_ms = args.get(2).copied().unwrap_or(1_000);
    let dir = tempfile::tempdir()?;
    let ip = picket_tests::InProcess::start_with(&dir.path().join("controller"), |cfg| {
        cfg.detection.learning_period_secs = 60;
    })
    .await?;
    let sensor_token = token(&ip.url, &ip.admin_token, pb::Role::Sensor).await?;
    let reader = token(&ip.url, &ip.admin_token, pb::Role::Reader).await?;
    let mut alerts = pb::alerts_client::AlertsClient::new(
        connect_url(&ip.url, Some(&reader), Duration::from_secs(10)).await?,
    );
    let mut stream = alerts
        .watch_alerts(pb::WatchAlertsRequest::default())
        .await?
        .into_inner();

    let log = dir.path().join("access.json");
    std::fs::File::create(&log)?;
    let mut cfg = SensorConfig {
        controller: ip.url.clone(),
        token: Some(sensor_token),
        id: Some("bench".into()),
        data_dir: dir.path().join("sensor"),
        flush_interval_ms: flush_ms,
        ..Default::default()
    };
    cfg.files
        .push(FileSourceConfig::new(log.clone(), LogFormat::Json));
    let sensor = picket_sensor::Sensor::start(cfg).await?;

    let (stop, probes): (Arc<AtomicBool>, Probes) = Default::default();
    let w = {
        let (stop, probes, log) = (stop.clone(), probes.clone(), log.clone());
        std::thread::spawn(move || writer(log, rate, stop, probes))
    };
    let started = Instant::now();
    let mut latencies = Vec::new();
    let unmatched = AtomicU64::new(0);
    while started.elapsed() < Duration::from_secs(secs) {
        let Ok(Ok(Some(change))) =
            tokio::time::timeout(Duration::from_secs(1), stream.message()).await
        else {
            continue;
        };
        let arrived = Instant::now();
        let Some(alert) = change.alert else { continue };
        if change.kind != pb::alert_change::Kind::Raised as i32 || alert.r#type != "injection" {
            continue;
        }
        let ip = alert.actor.map(|a| a.ip).unwrap_or_default();
        let p = probes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match p.get(&ip) {
            Some(t) => latencies.push(arrived.duration_since(*t).as_secs_f64() * 1e3),
            None => _ = unmatched.fetch_add(1, Relaxed),
        }
    }
    stop.store(true, Relaxed);
    let lines = w.join().unwrap_or(0);
    let elapsed = started.elapsed().as_secs_f64();
    sensor.shutdown().await;
    ip.controller.shutdown().await?;
    anyhow::ensure!(!latencies.is_empty(), "no probe alert arrived");
    // The first probes land before the stream is warm; skip the first second of them.
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!("detection latency: log line written → injection alert on WatchAlerts");
    println!(
        "cores        {}",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    println!(
        "background   {:.0} lines/s for {elapsed:.0} s",
        lines as f64 / elapsed
    );
    println!("flush        {flush_ms} ms (sensor flush interval)");
    println!(
        "probes       {} matched, {} unmatched",
        latencies.len(),
        unmatched.load(Relaxed)
    );
    println!("p50          {:.0} ms", q(0.50));
    println!("p99          {:.0} ms", q(0.99));
    println!("max          {:.0} ms", q(1.0));
    Ok(())
}
