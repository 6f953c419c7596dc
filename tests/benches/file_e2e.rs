//! End to end on one machine: a 100,000-line nginx JSON file is tailed by a sensor and
//! streamed to a controller (both in this process, real gRPC over loopback, sled with a
//! durable flush before every ack). Measures the time from sensor start until the controller
//! has acknowledged every line. Prints the median of several runs.
//!
//!   cargo bench -p picket-tests --bench file_e2e [-- LINES RUNS]

use picket_cli::client::connect_url;
use picket_proto::v1 as pb;
use picket_sensor::config::{FileSourceConfig, SensorConfig};
use picket_sensor::sources::nginx::LogFormat;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

async fn once(n: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("access.json");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&log)?);
    for i in 0..n {
        let uri = format!("/api/v1/users/{}/orders?page={}", i % 5000, i % 7);
        let host = format!("api{}.example.com", i % 4);
        writeln!(
            f,
            "{}",
            picket_tests::json_line(
                1_795_219_200.0 + i as f64 / 1000.0,
                &host,
                "GET",
                &uri,
                200,
                "81.2.69.10"
            )
        )?;
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
    let sensor = picket_sensor::Sensor::start(cfg).await?;
    while sensor.stats.requests_acked.load(Relaxed) < n as u64 {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(120),
            "not acknowledged within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    sensor.shutdown().await;
    controller.shutdown().await?;
    Ok(n as f64 / secs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100_000);
    let runs = args.get(1).copied().unwrap_or(5);
    let mut rates = Vec::new();
    for _ in 0..runs {
        rates.push(once(n).await?);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "file → sensor → controller, acknowledged (in-process, loopback gRPC, sled flush per batch)"
    );
    println!("lines        {n}");
    println!(
        "cores        {}",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    println!("runs         {runs}");
    println!("median       {:.0} lines/s", rates[rates.len() / 2]);
    println!(
        "min / max    {:.0} / {:.0} lines/s",
        rates[0],
        rates[rates.len() - 1]
    );
    Ok(())
}
