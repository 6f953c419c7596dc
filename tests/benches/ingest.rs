//! Controller ingest throughput with durable commits: several concurrent sensor streams over
//! loopback send batches as a sensor would (pipelined, up to 32 unacknowledged); every batch is
//! applied atomically with its watermark and usage, sled is flushed, then it is acknowledged.
//! Reports represented requests/s and batches/s (wall clock) and per CPU-second of this whole
//! process (controller and clients together, so the per-core figure is conservative).
//!
//! With NOTABLES > 0 every batch also carries that many notable events (redacted flagged
//! requests), stored in the same transaction; notable events/s are reported too.
//!
//! With `PICKET_BENCH_OTLP=URL` (or `=receiver` for an in-process OTLP receiver) it then
//! installs OTLP export in this process and runs again, back to back: per-RPC and per-batch
//! spans (every batch carries a `traceparent`, as a sensor's would), histograms and the
//! observable instruments, exported to that collector.
//!
//!   cargo bench -p picket-tests --bench ingest [-- SENSORS BATCHES ENDPOINTS REQUESTS RUNS NOTABLES]
//!   PICKET_BENCH_OTLP=receiver cargo bench --workspace --bench ingest

use picket_cli::client::connect_url;
use picket_proto::v1 as pb;
use std::time::{Duration, Instant};
use tokio_stream::wrappers::ReceiverStream;

#[path = "../tests/otlp_receiver/mod.rs"]
#[allow(clippy::unwrap_used)]
mod otlp_receiver;

/// utime + stime of this process, in seconds (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn batch(
    sensor: &str,
    epoch: u64,
    seq: u64,
    endpoints: usize,
    requests: u64,
    notables: usize,
) -> pb::Batch {
    pb::Batch {
        notables: (0..notables)
            .map(|i| pb::NotableEvent {
                ts_ms: 1_795_219_200_000 + (seq as i64) * 1000 + i as i64,
                host: format!("api{}.example.com", i % 8),
                method: "GET".into(),
                template: format!("/v1/resource{}/{{id}}", i % endpoints.max(1)),
                kinds: vec!["injection".into()],
                labels: vec![
                    "query:sqli.union-select".into(),
                    "query:sqli.sql-fragment".into(),
                ],
                client_ip: format!("81.2.69.{}", i % 250),
                principal: String::new(),
                status: 403,
            })
            .collect(),
        sensor_id: sensor.into(),
        stream_epoch: epoch,
        seq,
        endpoints: (0..endpoints)
            .map(|i| pb::EndpointSummary {
                host: format!("api{}.example.com", i % 8),
                method: "GET".into(),
                template: format!("/v1/resource{}/{{id}}", i),
                requests,
                statuses: vec![
                    pb::StatusCount {
                        status: 200,
                        count: requests - 1,
                    },
                    pb::StatusCount {
                        status: 404,
                        count: 1,
                    },
                ],
                first_seen_ms: 1_795_219_200_000,
                last_seen_ms: 1_795_219_201_000,
                request_bytes_sum: requests * 400,
                response_bytes_sum: requests * 2000,
                latency_us_sum: requests * 12_000,
                latency_us_max: 90_000,
                distinct_clients: 20,
                ..Default::default()
            })
            .collect(),
        traceparent: if picket_runtime::otel::enabled() {
            format!("00-{:016x}{seq:016x}-{seq:016x}-01", epoch + 1)
        } else {
            String::new()
        },
        ..Default::default()
    }
}

async fn stream(
    url: String,
    token: String,
    id: String,
    batches: u64,
    endpoints: usize,
    requests: u64,
    notables: usize,
) -> anyhow::Result<()> {
    let ch = connect_url(&url, Some(&token), Duration::from_secs(60)).await?;
    let mut client = pb::ingest_client::IngestClient::new(ch).max_encoding_message_size(64 << 20);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let hello = pb::Hello {
        sensor_id: id.clone(),
        stream_epoch: 1,
        ..Default::default()
    };
    tx.send(pb::SensorMessage {
        msg: Some(pb::sensor_message::Msg::Hello(hello)),
    })
    .await?;
    let mut inbound = client.stream(ReceiverStream::new(rx)).await?.into_inner();
    let (mut sent, mut acked) = (0u64, 0u64);
    while acked < batches {
        while sent < batches && sent - acked < 32 {
            sent += 1;
            let b = batch(&id, 1, sent, endpoints, requests, notables);
            tx.send(pb::SensorMessage {
                msg: Some(pb::sensor_message::Msg::Batch(b)),
            })
            .await?;
        }
        match inbound.message().await?.and_then(|m| m.msg) {
            Some(pb::controller_message::Msg::Ack(_)) => acked += 1,
            Some(_) => {}
            None => anyhow::bail!("stream ended"),
        }
    }
    Ok(())
}

async fn once(
    sensors: usize,
    batches: u64,
    endpoints: usize,
    requests: u64,
    notables: usize,
) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let ip = picket_tests::InProcess::start(dir.path()).await?;
    let (url, admin) = (ip.url.clone(), ip.admin_token.clone());
    let ctl = ip.controller;
    let token = picket_tests::create_token(&url, &admin, "", pb::Role::Sensor).await;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let tasks: Vec<_> = (0..sensors)
        .map(|i| {
            tokio::spawn(stream(
                url.clone(),
                token.clone(),
                format!("bench-{i}"),
                batches,
                endpoints,
                requests,
                notables,
            ))
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    ctl.shutdown().await?;
    Ok((wall, cpu))
}

struct Shape {
    sensors: usize,
    batches: u64,
    endpoints: usize,
    requests: u64,
    runs: usize,
    notables: usize,
}

async fn measure(shape: &Shape, suffix: &str) -> anyhow::Result<()> {
    let Shape {
        sensors,
        batches,
        endpoints,
        requests,
        runs,
        notables,
    } = *shape;
    let total_batches = sensors as u64 * batches;
    let represented = total_batches * endpoints as u64 * requests;
    let mut results = Vec::new();
    for _ in 0..runs {
        results.push(once(sensors, batches, endpoints, requests, notables).await?);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let wall_rps = median(
        results
            .iter()
            .map(|(w, _)| represented as f64 / w)
            .collect(),
    );
    let cpu_rps = median(
        results
            .iter()
            .map(|(_, c)| represented as f64 / c)
            .collect(),
    );
    let wall_bps = median(
        results
            .iter()
            .map(|(w, _)| total_batches as f64 / w)
            .collect(),
    );
    let cpu_bps = median(
        results
            .iter()
            .map(|(_, c)| total_batches as f64 / c)
            .collect(),
    );
    println!("represented requests/s (wall){suffix}  {wall_rps:.0}");
    println!("represented requests/CPU-s{suffix}     {cpu_rps:.0}   (per core, clients included)");
    println!("batches/s (wall){suffix}               {wall_bps:.0}");
    println!("batches/CPU-s{suffix}                  {cpu_bps:.0}");
    if notables > 0 {
        println!(
            "notable events/s (wall)        {:.0}   ({notables} per batch)",
            wall_bps * notables as f64
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sensors = a.first().copied().unwrap_or(4) as usize;
    let batches = a.get(1).copied().unwrap_or(200);
    let endpoints = a.get(2).copied().unwrap_or(200) as usize;
    let requests = a.get(3).copied().unwrap_or(50);
    let runs = a.get(4).copied().unwrap_or(5) as usize;
    let notables = a.get(5).copied().unwrap_or(0) as usize;
    let shape = Shape {
        sensors,
        batches,
        endpoints,
        requests,
        runs,
        notables,
    };
    println!("controller ingest, durable (sled flush before every ack), loopback gRPC");
    println!(
        "sensors {sensors}, batches/sensor {batches}, endpoints/batch {endpoints}, requests/endpoint {requests}, notables/batch {notables}, runs {runs}"
    );
    println!(
        "cores                          {}",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    measure(&shape, "").await?;
    if let Ok(url) = std::env::var("PICKET_BENCH_OTLP") {
        let mut receiver = None;
        let url = if url == "receiver" {
            let r = tokio::task::spawn_blocking(otlp_receiver::Receiver::start).await?;
            let u = r.url.clone();
            receiver = Some(r);
            u
        } else {
            url
        };
        let cfg = picket_runtime::otel::OtlpConfig::default();
        let who = picket_runtime::otel::ServiceIdentity {
            name: "picket-controller-bench",
            version: env!("CARGO_PKG_VERSION"),
            sensor_id: None,
        };
        let telemetry = picket_runtime::otel::init(Some(&url), &cfg, &who)?;
        // The per-batch histograms; the observable instruments would pin each run's store.
        picket_controller::telemetry::register_histograms();
        println!("telemetry on: OTLP to {url}");
        measure(&shape, ", telemetry on").await?;
        if let Some(t) = telemetry {
            t.shutdown().await;
        }
        if let Some(r) = receiver {
            let spans = r.spans().len();
            println!("spans received by the in-process receiver: {spans}");
            tokio::task::spawn_blocking(move || drop(r)).await?;
        }
    }
    Ok(())
}
