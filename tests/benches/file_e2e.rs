//! End to end on one machine: a 100,000-line nginx JSON file is tailed by a sensor and
//! streamed to a controller (both in this process, real gRPC over loopback, sled with a
//! durable flush before every ack). Measures the time from sensor start until the controller
//! has acknowledged every line, and the process CPU time per line. Prints the median of
//! several runs.
//!
//! Two shapes: `dense` (the default: 1,000 lines per second of event time over a few
//! endpoints, so one endpoint-window summary stands for many requests) and `sparse` (a
//! low-rate API: the lines spread over an hour of event time across 400 endpoints and 5,000
//! clients, about one request per endpoint-window summary — the shape of a recorded hour of
//! a small production API replayed at full speed).
//!
//!   cargo bench -p picket-tests --bench file_e2e [-- LINES RUNS [dense|sparse]]

use picket_cli::client::connect_url;
use picket_proto::v1 as pb;
use picket_sensor::config::{FileSourceConfig, SensorConfig};
use picket_sensor::sources::nginx::LogFormat;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Resources of the sparse shape's API: 100 names × 4 forms = 400 endpoints.
const RESOURCES: usize = 100;

/// One line of the chosen shape.
fn line(i: usize, n: usize, sparse: bool) -> String {
    if !sparse {
        let uri = format!("/api/v1/users/{}/orders?page={}", i % 5000, i % 7);
        let host = format!("api{}.example.com", i % 4);
        return picket_tests::json_line(
            1_795_219_200.0 + i as f64 / 1000.0,
            &host,
            "GET",
            &uri,
            200,
            "81.2.69.10",
        );
    }
    // A cheap scramble so neighbouring lines hit unrelated endpoints and clients.
    let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17;
    let resource = (h as usize) % RESOURCES;
    let (method, uri) = match (h >> 20) % 4 {
        0 => ("GET", format!("/api/v2/res{resource}")),
        1 => ("GET", format!("/api/v2/res{resource}/{}", h % 100_000)),
        2 => ("POST", format!("/api/v2/res{resource}")),
        _ => (
            "GET",
            format!("/api/v2/res{resource}/{}/history", h % 100_000),
        ),
    };
    let ip = format!("81.2.{}.{}", (h >> 8) % 20, h % 250);
    let ts = 1_795_219_200.0 + 3600.0 * i as f64 / n as f64;
    picket_tests::json_line(ts, "shop.example.com", method, &uri, 200, &ip)
}

/// Process CPU time (user + system) so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |k: usize| f.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

struct Run {
    lines_per_s: f64,
    cpu_us_per_line: f64,
    /// Until threat analysis has consumed everything too.
    analyzed_lines_per_s: f64,
    analyzed_cpu_us_per_line: f64,
}

async fn once(n: usize, sparse: bool) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("access.json");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&log)?);
    for i in 0..n {
        writeln!(f, "{}", line(i, n, sparse))?;
    }
    f.flush()?;
    drop(f);
    let ip = picket_tests::InProcess::start(&dir.path().join("controller")).await?;
    let (url, admin) = (ip.url.clone(), ip.admin_token.clone());
    let controller = ip.controller;
    let mut client = pb::admin_client::AdminClient::new(
        connect_url(&url, Some(&admin), Duration::from_secs(10)).await?,
    );
    let token = client
        .create_token(pb::CreateTokenRequest {
            tenant: String::new(),
            role: pb::Role::Sensor as i32,
            description: String::new(),
            ttl_secs: 0,
        })
        .await?
        .into_inner()
        .secret;
    let mut cfg = SensorConfig {
        controller: url,
        token: Some(token),
        id: Some("bench".into()),
        data_dir: dir.path().join("sensor"),
        flush_interval_ms: 100,
        ..Default::default()
    };
    cfg.files.push(FileSourceConfig::new(log, LogFormat::Json));
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let sensor = picket_sensor::Sensor::start(cfg).await?;
    while sensor.stats.requests_acked.load(Relaxed) < n as u64 {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(120),
            "not acknowledged within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    // Threat analysis runs behind the acks on its own thread: wait for it too.
    while controller.analysis_lag()? > 0 {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "not analyzed within 600 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let analyzed_secs = start.elapsed().as_secs_f64();
    let analyzed_cpu = cpu_seconds() - cpu_start;
    sensor.shutdown().await;
    controller.shutdown().await?;
    Ok(Run {
        lines_per_s: n as f64 / secs,
        cpu_us_per_line: cpu * 1e6 / n as f64,
        analyzed_lines_per_s: n as f64 / analyzed_secs,
        analyzed_cpu_us_per_line: analyzed_cpu * 1e6 / n as f64,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let sparse = raw.iter().any(|a| a == "sparse");
    let args: Vec<usize> = raw.iter().filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(100_000);
    let runs = args.get(1).copied().unwrap_or(5);
    let (mut rates, mut cpu, mut a_rates, mut a_cpu) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let r = once(n, sparse).await?;
        rates.push(r.lines_per_s);
        cpu.push(r.cpu_us_per_line);
        a_rates.push(r.analyzed_lines_per_s);
        a_cpu.push(r.analyzed_cpu_us_per_line);
    }
    for v in [&mut rates, &mut cpu, &mut a_rates, &mut a_cpu] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "file → sensor → controller, acknowledged (in-process, loopback gRPC, sled flush per batch)"
    );
    println!("shape        {}", if sparse { "sparse" } else { "dense" });
    println!("lines        {n}");
    println!(
        "cores        {}",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    println!("runs         {runs}");
    println!("median       {:.0} lines/s", rates[rates.len() / 2]);
    println!(
        "cpu          {:.1} µs per line (median; sensor + controller, one process)",
        cpu[cpu.len() / 2]
    );
    println!(
        "analyzed     {:.0} lines/s, {:.1} µs CPU per line (median; until threat analysis caught up)",
        a_rates[a_rates.len() / 2],
        a_cpu[a_cpu.len() / 2]
    );
    println!(
        "min / max    {:.0} / {:.0} lines/s",
        rates[0],
        rates[rates.len() - 1]
    );
    Ok(())
}
