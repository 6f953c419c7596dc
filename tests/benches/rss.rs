//! Sensor and controller memory: the release `picket-sensor` binary tails a log spanning 10,000
//! endpoints and 100,000 distinct clients into a controller (in this process); reports the
//! sensor process's peak and final resident memory once everything is committed, and this
//! process's (the controller's, with its detection engine) once analysis has caught up.
//!
//!   cargo build --release -p picket-sensor && cargo bench -p picket-tests --bench rss [-- LINES]

use picket_proto::v1 as pb;
use std::io::Write;
use std::time::{Duration, Instant};

fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let exe = std::env::current_exe()?;
    let sensor_bin = exe
        .ancestors()
        .nth(2)
        .map(|d| d.join("picket-sensor"))
        .ok_or_else(|| anyhow::anyhow!("no target dir"))?;
    anyhow::ensure!(
        sensor_bin.exists(),
        "{} missing: run `cargo build --release -p picket-sensor` first",
        sensor_bin.display()
    );
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("access.json");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&log)?);
    for i in 0..n {
        // 1,000 hosts × 10 resources = 10,000 endpoints (hosts are never templated, so the
        // endpoints stay distinct); 100,000 client addresses.
        let (host, svc, client) = (i % 1000, (i / 1000) % 10, i % 100_000);
        writeln!(
            f,
            r#"{{"msec":"{}.{:03}","remote_addr":"81.{}.{}.{}","host":"api{host}.example.com","request_method":"GET","request_uri":"/{}/items/{}?page=1","status":"200","body_bytes_sent":"512","request_time":"0.010","http_authorization":"Bearer user-{}"}}"#,
            1_795_219_200 + i / 10_000,
            i % 1000,
            client / 65_536,
            (client / 256) % 256,
            client % 256,
            [
                "orders",
                "users",
                "carts",
                "invoices",
                "products",
                "reviews",
                "payments",
                "shipments",
                "returns",
                "coupons"
            ][svc as usize],
            i % 977,
            client % 5000
        )?;
    }
    f.flush()?;
    drop(f);
    let ip = picket_tests::InProcess::start(&dir.path().join("c")).await?;
    let (url, admin) = (ip.url.clone(), ip.admin_token.clone());
    let ctl = ip.controller;
    let token = picket_tests::create_token(&url, &admin, "", pb::Role::Sensor).await;
    let mut child = std::process::Command::new(&sensor_bin)
        .args([
            "--controller",
            &url,
            "--token",
            &token,
            "--id",
            "rss",
            "--nginx-log",
        ])
        .arg(&log)
        .arg("--data-dir")
        .arg(dir.path().join("s"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let start = Instant::now();
    let mut fleet =
        pb::fleet_client::FleetClient::new(picket_tests::channel(&url, Some(&admin)).await);
    loop {
        let r = fleet
            .list_sensors(pb::ListSensorsRequest::default())
            .await?
            .into_inner();
        if r.sensors.iter().any(|s| s.requests_committed >= n) {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(300),
            "not committed within 300 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (peak, now) = (status_kib(pid, "VmHWM:"), status_kib(pid, "VmRSS:"));
    let _ = child.kill();
    let _ = child.wait();
    let analyzing = Instant::now();
    while ctl.analysis_lag()? > 0 {
        anyhow::ensure!(
            analyzing.elapsed() < Duration::from_secs(600),
            "analysis did not catch up within 600 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let analysis_secs = analyzing.elapsed().as_secs_f64();
    let me = std::process::id();
    let (c_peak, c_now) = (status_kib(me, "VmHWM:"), status_kib(me, "VmRSS:"));
    let endpoints = picket_tests::all_endpoints(&url, &admin).await.len();
    ctl.shutdown().await?;
    println!("picket-sensor memory, {n} lines over 10,000 endpoints and 100,000 clients");
    println!("endpoints    {endpoints} in the controller's inventory");
    println!("elapsed      {:.1} s", start.elapsed().as_secs_f64());
    println!("peak RSS     {:.1} MiB", peak as f64 / 1024.0);
    println!("final RSS    {:.1} MiB", now as f64 / 1024.0);
    println!(
        "controller   analysis caught up {analysis_secs:.1} s after the last commit; peak RSS {:.1} MiB, final {:.1} MiB (bench process: controller + detection engine + this driver)",
        c_peak as f64 / 1024.0,
        c_now as f64 / 1024.0
    );
    Ok(())
}
