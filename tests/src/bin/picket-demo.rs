//! `cargo demo`: Picket's main job end to end on embedded defaults. Starts a controller and
//! two sensors (gateways `edge-a` and `edge-b`) in this process (real gRPC over loopback, real
//! sled on disk in a temporary directory), feeds each its part of the bundled sample nginx
//! traffic (one attacker sprays endpoints through edge-a and injects through edge-b), waits until the controller
//! has acknowledged and analyzed every request, and prints the discovered inventory, the
//! alerts the detection engine raised (the sample stages several attacks after a benign
//! stretch; the demo's controller learns for 5 minutes of event time and loads the bundled
//! threat-intelligence list), the incidents they form (alerts correlated by actor), the sensor
//! fleet, the metered usage of the current billing cycle and the security posture (scores and
//! the most severe findings, evaluated once the analysis caught up). Before the traffic it imports the
//! bundled OpenAPI spec of the sample shop (`tests/data/openapi/shop.yaml`), so the sensor
//! templates by it and every endpoint gets its spec status (documented, shadow, zombie, drift).
//!
//! `--keep DIR` keeps the data in DIR instead of a temporary directory.

use anyhow::{Context, bail};
use clap::Parser;
use picket_cli::{Cli, commands};
use picket_proto::v1 as pb;
use picket_sensor::config::{FileSourceConfig, SensorConfig};
use picket_sensor::sources::nginx::LogFormat;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Bundled sample traffic: nginx JSON lines with attacks after a benign stretch (written by
/// `picket-gen-sample`; what was staged is in tests/data/sample-truth.json).
const SAMPLE: &str = include_str!("../../data/sample-access.json");

/// What the second gateway sees: the sprayer of gateway A coming back with an injection.
const SAMPLE_B: &str = include_str!("../../data/sample-access-b.json");

/// The demo's gateways: sensor id and the traffic its log receives.
const GATEWAYS: [(&str, &str); 2] = [("edge-a", SAMPLE), ("edge-b", SAMPLE_B)];

/// Bundled threat-intelligence list (one documentation-range address the sample's
/// malicious-IP attacker uses).
const INTEL: &str = include_str!("../../data/threat-intel.txt");

/// Bundled OpenAPI 3.0 spec of the sample shop: most endpoints, one deprecated, some left out.
const SHOP_SPEC: &str = include_str!("../../data/openapi/shop.yaml");

/// The demo's learning period, in seconds of event time: the sample's benign stretch is 6
/// minutes (production default: 7 days).
const LEARNING_SECS: u64 = 300;

#[derive(Debug, Parser)]
#[command(
    name = "picket-demo",
    about = "Run controller + sensor on the bundled sample traffic"
)]
struct Args {
    /// Keep the controller and sensor data in this directory.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Warnings only: the demo's own output is the point.
    picket_runtime::init_logging("warn", picket_runtime::LogFormat::Text);
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let root = args.keep.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&root)?;

    let intel = root.join("threat-intel.txt");
    std::fs::write(&intel, INTEL)?;
    let ip = picket_tests::InProcess::start_with(&root.join("controller"), |cfg| {
        cfg.detection.learning_period_secs = LEARNING_SECS;
        cfg.detection.threat_intel = vec![intel.clone()];
    })
    .await
    .context("starting the controller")?;
    let (url, admin_token) = (ip.url.clone(), ip.admin_token.clone());
    let controller = ip.controller;
    println!(
        "controller listening on {url} (data in {})",
        root.join("controller").display()
    );

    let spec_dir = root.join("openapi");
    std::fs::create_dir_all(&spec_dir)?;
    std::fs::write(spec_dir.join("shop.yaml"), SHOP_SPEC)?;
    let spec_path = spec_dir.join("shop.yaml");
    let import = [
        "specs",
        "import",
        spec_path.to_str().context("a non-UTF-8 data directory")?,
        "--api",
        "shop",
    ];
    print!("{}", picketctl(&url, &admin_token, "table", &import).await?);
    println!();

    let sensor_token = create_token(&url, &admin_token, pb::Role::Sensor).await?;
    let mut sensors = Vec::new();
    for (id, sample) in GATEWAYS {
        let log = root.join(format!("{id}-access.json"));
        // Empty until the sensor is connected, so it templates the sample by the spec from
        // the first line (the spec's templates follow the controller's welcome).
        std::fs::write(&log, "")?;
        let mut cfg = SensorConfig {
            controller: url.clone(),
            token: Some(sensor_token.clone()),
            id: Some(id.into()),
            data_dir: root.join(id),
            flush_interval_ms: 200,
            ..Default::default()
        };
        cfg.files
            .push(FileSourceConfig::new(log.clone(), LogFormat::Json));
        let sensor = picket_sensor::Sensor::start(cfg)
            .await
            .with_context(|| format!("starting sensor {id}"))?;
        let mut connected = sensor.connected.clone();
        tokio::time::timeout(Duration::from_secs(30), connected.wait_for(|c| *c))
            .await
            .with_context(|| format!("sensor {id} did not connect within 30 s"))??;
        sensors.push((id, sensor, log, sample));
    }
    // Gateway by gateway, as live traffic would arrive: the sample compresses 15 minutes into
    // a second, and a gateway minutes ahead of another would put the detectors' per-actor
    // horizons past the other's traffic (see README "Incidents").
    let started = Instant::now();
    for (id, sensor, log, sample) in &sensors {
        std::fs::write(log, sample)?;
        let lines = sample.lines().count() as u64;
        println!(
            "sensor {id} reading {} ({lines} lines of nginx JSON)",
            log.display()
        );
        loop {
            let acked = sensor.stats.requests_acked.load(Relaxed);
            let c = sensor.stats.snapshot();
            if c.received == lines && acked == c.parsed && sensor.outbox.is_empty() {
                println!(
                    "sensor {id}: all {acked} requests acknowledged by the controller after {} ms ({} lines rejected)",
                    started.elapsed().as_millis(),
                    c.rejected
                );
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "the controller did not acknowledge sensor {id}'s sample within 60 s (received {}, acked {acked})",
                    c.received
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!();

    let started = Instant::now();
    while controller.analysis_lag()? > 0 {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("threat analysis did not catch up within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "threat analysis caught up in {} ms\n",
        started.elapsed().as_millis()
    );

    // Posture is re-evaluated every minute; evaluate now so the demo shows it at once.
    let st = controller.state.clone();
    tokio::task::spawn_blocking(move || picket_controller::posture::task::evaluate_all(&st))
        .await?;

    let output = if args.json { "json" } else { "table" };
    for (title, cmd) in [
        ("APIs (picketctl apis list)", &["apis", "list"][..]),
        // The sample's spray leaves ~250 one-off 404 paths in the inventory: show a page.
        (
            "Endpoints, first 15 (picketctl endpoints list --limit 15)",
            &["endpoints", "list", "--limit", "15"][..],
        ),
        (
            "Alerts (picketctl alerts list)",
            &["alerts", "list", "--limit", "0"][..],
        ),
        (
            "Incidents: the alerts correlated by actor (picketctl incidents list)",
            &["incidents", "list", "--limit", "0"][..],
        ),
        (
            "The shop spec: operations seen and unused (picketctl specs show shop)",
            &["specs", "show", "shop"][..],
        ),
        ("Sensors (picketctl sensors list)", &["sensors", "list"][..]),
        ("Usage (picketctl usage show)", &["usage", "show"][..]),
        (
            "Posture: scores and the most severe findings (picketctl posture show --top 8)",
            &["posture", "show", "--top", "8"][..],
        ),
    ] {
        println!("== {title}");
        print!("{}", picketctl(&url, &admin_token, output, cmd).await?);
        println!();
        if cmd[0] == "endpoints" {
            println!("== Spec status of every endpoint");
            println!("{}\n", spec_status_counts(&url, &admin_token).await?);
        }
    }
    for (_, sensor, _, _) in sensors {
        sensor.shutdown().await;
    }
    controller.shutdown().await?;
    if args.keep.is_some() {
        println!("data kept in {}", root.display());
    }
    Ok(())
}

async fn create_token(url: &str, admin: &str, role: pb::Role) -> anyhow::Result<String> {
    let channel =
        picket_cli::client::connect_url(url, Some(admin), Duration::from_secs(10)).await?;
    let r = pb::admin_client::AdminClient::new(channel)
        .create_token(pb::CreateTokenRequest {
            tenant: String::new(),
            role: role as i32,
            description: "demo".into(),
            ttl_secs: 0,
        })
        .await?;
    Ok(r.into_inner().secret)
}

/// Runs a `picketctl` command in this process and returns what it prints.
async fn picketctl(url: &str, token: &str, output: &str, cmd: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec![
        "picketctl",
        "--controller",
        url,
        "--token",
        token,
        "-o",
        output,
    ];
    argv.extend_from_slice(cmd);
    let cli = Cli::try_parse_from(argv)?;
    Ok(commands::execute(&cli).await?)
}

/// How many endpoints of the inventory are documented, shadow, zombie or drift.
async fn spec_status_counts(url: &str, token: &str) -> anyhow::Result<String> {
    let channel =
        picket_cli::client::connect_url(url, Some(token), Duration::from_secs(10)).await?;
    let mut c = pb::inventory_client::InventoryClient::new(channel);
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    let mut page_token = String::new();
    loop {
        let r = c
            .list_endpoints(pb::ListEndpointsRequest {
                page: Some(pb::PageRequest {
                    page_size: 1000,
                    page_token,
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        for e in &r.endpoints {
            *counts.entry(commands::spec_class(e)).or_default() += 1;
        }
        page_token = r.page.unwrap_or_default().next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    Ok(parts.join(", "))
}
