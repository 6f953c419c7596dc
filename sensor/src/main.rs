//! `picket-sensor`: run a sensor next to a gateway.

use anyhow::Context;
use clap::Parser;
use picket_runtime::admin::AdminListen;
use picket_runtime::metrics::Registry;
use picket_sensor::config::{
    AlsConfig, FileSourceConfig, MirrorConfig, ReplaySpec, SensorConfig, parse_listen,
};
use picket_sensor::metrics;
use picket_sensor::sources::nginx::LogFormat;
use picket_sensor::sources::replay::ReplayFormat;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Picket sensor: reads gateway traffic and streams summaries to the controller.
#[derive(Debug, Parser)]
#[command(name = "picket-sensor", version)]
struct Args {
    /// TOML configuration file (see deploy/sensor.example.toml); flags override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Controller URL, e.g. http://127.0.0.1:50051.
    #[arg(long, global = true, env = "PICKET_CONTROLLER")]
    controller: Option<String>,
    /// Bearer token with role `sensor`.
    #[arg(long, global = true, env = "PICKET_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File whose first line is the token.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// Sensor name, unique within the tenant (default: host name).
    #[arg(long, global = true)]
    id: Option<String>,
    /// Directory for file positions.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// nginx access-log file to tail.
    #[arg(long)]
    nginx_log: Option<PathBuf>,
    /// Format of --nginx-log.
    #[arg(long, value_enum, default_value = "json")]
    nginx_format: FormatArg,
    /// Host recorded for lines without one (the combined format has none).
    #[arg(long, global = true)]
    default_host: Option<String>,
    /// PEM CA of the controller's certificate (`tls_ca_file`).
    #[arg(long, global = true)]
    tls_ca: Option<PathBuf>,
    /// PEM client certificate for mTLS (`tls_cert_file`).
    #[arg(long, global = true)]
    tls_cert: Option<PathBuf>,
    /// PEM key of --tls-cert (`tls_key_file`).
    #[arg(long, global = true)]
    tls_key: Option<PathBuf>,
    /// Listen address of the Envoy gRPC access-log service: ADDR:PORT, or a port for loopback
    /// (`[als] listen`, default 127.0.0.1:9001 when `[als]` is set).
    #[arg(long, value_parser = parse_listen)]
    als_listen: Option<SocketAddr>,
    /// Serve ALS over TLS with this PEM certificate (with --als-tls-key; `[als] tls_cert_file`).
    #[arg(long, value_name = "FILE")]
    als_tls_cert: Option<PathBuf>,
    /// The ALS certificate's PEM key (`[als] tls_key_file`).
    #[arg(long, value_name = "FILE")]
    als_tls_key: Option<PathBuf>,
    /// Listen address of the HTTP mirror listener (nginx `mirror`, Envoy request mirroring):
    /// ADDR:PORT, or a port for loopback (`[mirror] listen`).
    #[arg(long, value_parser = parse_listen)]
    mirror_listen: Option<SocketAddr>,
    /// Seal and send a batch this often, in milliseconds.
    #[arg(long, global = true)]
    flush_interval_ms: Option<u64>,
    /// Admin listener (/metrics, /healthz, /readyz): an address, or `off`
    /// [default: 127.0.0.1:9465]. Not started by `replay` and `classify`.
    #[arg(long, global = true, env = "PICKET_ADMIN_LISTEN")]
    admin_listen: Option<AdminListen>,
    /// Log format on stderr: `text` or `json` (one object per line) [default: text].
    #[arg(long, global = true)]
    log_format: Option<picket_runtime::LogFormat>,
    /// Export traces and metrics over OTLP/gRPC to this collector, e.g.
    /// http://127.0.0.1:4317 (default: off; `[telemetry] otlp_endpoint`).
    #[arg(long, global = true, env = "PICKET_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Require ALS clients (Envoy) to present a certificate issued by this PEM CA (with
    /// --als-tls-cert; `[als] tls_client_ca_file`).
    #[arg(long, value_name = "FILE")]
    als_tls_client_ca: Option<PathBuf>,
    /// Peers allowed to reach the ALS listener, an address or CIDR; repeatable (`[als] allow`,
    /// default loopback only). Replaces the configured list.
    #[arg(long, value_name = "CIDR")]
    als_allow: Vec<String>,
    /// Peers allowed to reach the mirror listener, an address or CIDR; repeatable
    /// (`[mirror] allow`, default loopback only). Replaces the configured list.
    #[arg(long, value_name = "CIDR")]
    mirror_allow: Vec<String>,
    /// Peers whose X-Real-IP / X-Forwarded-For the mirror believes, an address or CIDR;
    /// repeatable (`[mirror] trusted_proxies`, default loopback). Replaces the configured list.
    #[arg(long, value_name = "CIDR")]
    mirror_trusted_proxy: Vec<String>,
    /// Believe X-Real-IP from trusted proxies (`[mirror] real_ip_header`); only when the
    /// gateway overwrites it. Default: X-Forwarded-For only.
    #[arg(long)]
    mirror_real_ip_header: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Judge values or requests for injections: JSON lines on stdin, one verdict line per item
    /// on stdout, in order (see README, "Classify"). Needs no controller.
    Classify,
    /// Replay a recorded file (HAR, Picket JSON lines, nginx JSON or combined log) through the
    /// sensor and exit 0 once the controller has acknowledged everything read.
    Replay {
        /// The file to replay.
        file: PathBuf,
        /// Its format.
        #[arg(long, value_enum, default_value = "auto")]
        format: ReplayFormat,
        /// Give up (exit 1) if not everything is acknowledged within this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Json,
    Combined,
}

fn build_config(args: &mut Args) -> anyhow::Result<SensorConfig> {
    let mut cfg = match &args.config {
        Some(p) => SensorConfig::from_file(p)?,
        None => SensorConfig::default(),
    };
    if let Some(c) = args.controller.take() {
        cfg.controller = c;
    }
    if args.token.is_some() {
        cfg.token = args.token.take();
    }
    if args.token_file.is_some() {
        cfg.token_file = args.token_file.take();
    }
    if args.tls_ca.is_some() {
        cfg.tls_ca_file = args.tls_ca.take();
    }
    if args.tls_cert.is_some() {
        cfg.tls_cert_file = args.tls_cert.take();
    }
    if args.tls_key.is_some() {
        cfg.tls_key_file = args.tls_key.take();
    }
    if args.id.is_some() {
        cfg.id = args.id.take();
    }
    if let Some(d) = args.data_dir.take() {
        cfg.data_dir = d;
    }
    if let Some(ms) = args.flush_interval_ms {
        cfg.flush_interval_ms = ms;
    }
    if let Some(a) = args.admin_listen {
        cfg.telemetry.admin_listen = a;
    }
    if let Some(f) = args.log_format {
        cfg.telemetry.log_format = f;
    }
    if let Some(url) = args.otlp_endpoint.take() {
        cfg.telemetry.otlp_endpoint = Some(url);
    }
    if let Some(path) = args.nginx_log.take() {
        let format = match args.nginx_format {
            FormatArg::Json => LogFormat::Json,
            FormatArg::Combined => LogFormat::Combined,
        };
        let mut f = FileSourceConfig::new(path, format);
        if let Some(h) = &args.default_host {
            f.default_host = h.clone();
        }
        cfg.files.push(f);
    }
    let default_host = args.default_host.clone();
    if let Some(listen) = args.mirror_listen {
        // Flags adjust a configured [mirror]; its other keys stay.
        let m = cfg.mirror.get_or_insert_with(|| {
            MirrorConfig::new(
                listen,
                default_host.clone().unwrap_or_else(|| "default".into()),
            )
        });
        m.listen = listen;
        if let Some(h) = &default_host {
            m.default_host = h.clone();
        }
    }
    if let Some(m) = cfg.mirror.as_mut() {
        if !args.mirror_allow.is_empty() {
            m.allow = Some(std::mem::take(&mut args.mirror_allow));
        }
        if !args.mirror_trusted_proxy.is_empty() {
            m.trusted_proxies = Some(std::mem::take(&mut args.mirror_trusted_proxy));
        }
        if std::mem::take(&mut args.mirror_real_ip_header) {
            m.real_ip_header = true;
        }
    }
    if let Some(listen) = args.als_listen {
        let als = cfg.als.get_or_insert_with(|| {
            AlsConfig::new(
                listen,
                default_host.clone().unwrap_or_else(|| "default".into()),
            )
        });
        als.listen = listen;
        if let Some(h) = &default_host {
            als.default_host = h.clone();
        }
    }
    if let Some(als) = cfg.als.as_mut() {
        if args.als_tls_cert.is_some() {
            als.tls_cert_file = args.als_tls_cert.take();
        }
        if args.als_tls_key.is_some() {
            als.tls_key_file = args.als_tls_key.take();
        }
        if args.als_tls_client_ca.is_some() {
            als.tls_client_ca_file = args.als_tls_client_ca.take();
        }
        if !args.als_allow.is_empty() {
            als.allow = Some(std::mem::take(&mut args.als_allow));
        }
    }
    // Whatever is left had no listener to apply to: say so rather than ignore it.
    if !args.mirror_allow.is_empty()
        || !args.mirror_trusted_proxy.is_empty()
        || args.mirror_real_ip_header
    {
        anyhow::bail!(
            "--mirror-allow, --mirror-trusted-proxy and --mirror-real-ip-header need a mirror listener (--mirror-listen or [mirror])"
        );
    }
    if !args.als_allow.is_empty()
        || args.als_tls_cert.is_some()
        || args.als_tls_key.is_some()
        || args.als_tls_client_ca.is_some()
    {
        anyhow::bail!("--als-allow and --als-tls-* need an ALS listener (--als-listen or [als])");
    }
    Ok(cfg)
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if matches!(args.command, Some(Command::Classify)) {
        picket_runtime::init_logging("info", args.log_format.unwrap_or_default());
        let stats = picket_sensor::classify::run(std::io::stdin().lock(), std::io::stdout().lock())
            .context("classify: reading stdin or writing stdout")?;
        tracing::debug!(?stats, "classify done");
        return Ok(());
    }
    let cfg = build_config(&mut args)?;
    picket_runtime::init_logging("info", cfg.telemetry.log_format);
    // Few runtime threads keep the footprint small: every thread that allocates gets its own
    // malloc arena, and arenas keep what they freed (one worker: about half the memory of
    // two). Parsing runs on the sources' own threads either way.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.worker_threads)
        .max_blocking_threads(cfg.worker_threads.max(2))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let telemetry = start_telemetry(&cfg)?;
        let result = run(args, cfg).await;
        if let Some(t) = telemetry {
            t.shutdown().await;
        }
        result
    })
}

/// OTLP export when configured (inside the runtime: the exporter's channel lives on it).
fn start_telemetry(cfg: &SensorConfig) -> anyhow::Result<Option<picket_runtime::otel::Telemetry>> {
    let who = picket_runtime::otel::ServiceIdentity {
        name: "picket-sensor",
        version: env!("CARGO_PKG_VERSION"),
        sensor_id: Some(cfg.sensor_id()),
    };
    let t = &cfg.telemetry;
    picket_runtime::otel::init(t.otlp_endpoint.as_deref(), &t.otlp, &who)
        .context("starting OpenTelemetry export")
}

async fn run(args: Args, mut cfg: SensorConfig) -> anyhow::Result<()> {
    if let Some(Command::Replay {
        file,
        format,
        timeout_secs,
    }) = args.command
    {
        // A replay reads its file only; configured live sources stay off.
        cfg.files.clear();
        cfg.als = None;
        cfg.mirror = None;
        let default_host = args
            .default_host
            .clone()
            .unwrap_or_else(|| "default".into());
        cfg.replay = Some(ReplaySpec {
            path: file,
            format,
            default_host,
        });
        return replay(cfg, std::time::Duration::from_secs(timeout_secs)).await;
    }
    let (admin_listen, max_pending, spool_max) = (
        cfg.telemetry.admin_listen,
        cfg.max_pending_batches,
        cfg.spool_max_bytes,
    );
    let otlp_interval = std::time::Duration::from_millis(cfg.telemetry.otlp.metrics_interval_ms);
    let sensor = picket_sensor::Sensor::start(cfg)
        .await
        .context("starting the sensor")?;
    let registry = Arc::new(Registry::default());
    let parts = metrics::Sources {
        stats: sensor.stats.clone(),
        outbox: sensor.outbox.clone(),
        connected: sensor.connected.clone(),
    };
    metrics::register(&registry, parts.clone());
    let admin = match admin_listen {
        AdminListen::Off => None,
        AdminListen::On(addr) => {
            let ready = metrics::readiness(parts, max_pending, spool_max);
            match picket_runtime::admin::start(addr, registry.clone(), ready).await {
                Ok(a) => Some(a),
                Err(e) => {
                    sensor.shutdown().await;
                    anyhow::bail!(
                        "binding the admin listener on {addr}: {e} (choose another with --admin-listen ADDR, or \"off\")"
                    );
                }
            }
        }
    };
    if let Some(addr) = sensor.als_addr {
        // Machine-readable readiness lines for scripts and tests.
        println!("picket-sensor als listening on {addr}");
    }
    if let Some(addr) = sensor.mirror_addr {
        println!("picket-sensor mirror listening on {addr}");
    }
    picket_sensor::telemetry::register_histograms();
    picket_runtime::otel::export_registry(registry.clone(), otlp_interval);
    if let Some(a) = &admin {
        println!("picket-sensor admin listening on {}", a.local_addr);
    }
    println!("picket-sensor ready");
    let stats = sensor.stats.clone();
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        tick.tick().await;
        loop {
            tick.tick().await;
            let c = stats.snapshot();
            tracing::info!(
                received = c.received,
                parsed = c.parsed,
                rejected = c.rejected,
                batches_sent = c.batches_sent,
                batches_acked = c.batches_acked,
                batches_dropped = c.batches_dropped,
                requests_dropped = c.requests_dropped,
                "sensor counters"
            );
        }
    });
    picket_runtime::shutdown_signal().await;
    tracing::info!("shutting down");
    reporter.abort();
    drop(admin);
    sensor.shutdown().await;
    Ok(())
}

/// Runs a replay to completion: every request read is acknowledged by the controller.
async fn replay(cfg: SensorConfig, timeout: std::time::Duration) -> anyhow::Result<()> {
    let otlp_interval = std::time::Duration::from_millis(cfg.telemetry.otlp.metrics_interval_ms);
    let sensor = picket_sensor::Sensor::start(cfg)
        .await
        .context("starting the sensor")?;
    if picket_runtime::otel::enabled() {
        // No admin listener in a replay; the registry exists for OTLP only.
        let registry = Arc::new(Registry::default());
        metrics::register(
            &registry,
            metrics::Sources {
                stats: sensor.stats.clone(),
                outbox: sensor.outbox.clone(),
                connected: sensor.connected.clone(),
            },
        );
        picket_sensor::telemetry::register_histograms();
        picket_runtime::otel::export_registry(registry, otlp_interval);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let done = sensor
        .replay_done
        .clone()
        .context("replay source missing")?;
    loop {
        if let Some(result) = done.get() {
            if let Err(e) = result {
                sensor.shutdown().await;
                anyhow::bail!("replay failed: {e}");
            }
            let c = sensor.stats.snapshot();
            let relaxed = std::sync::atomic::Ordering::Relaxed;
            // Settled: what this run read and what an interrupted run had spooled are all
            // acknowledged (or set aside as never acceptable, or, for an unreadable spooled
            // batch, dropped; both counted).
            let settled = sensor
                .stats
                .requests_acked
                .load(relaxed)
                .saturating_add(sensor.stats.requests_dropped.load(relaxed))
                .saturating_add(sensor.stats.requests_rejected.load(relaxed));
            let expected = c.parsed.saturating_add(sensor.outbox.restored_requests);
            if settled >= expected && sensor.outbox.is_empty() {
                let resent = sensor.outbox.restored_requests;
                let resent = if resent > 0 {
                    format!(", {resent} more resent from an interrupted run")
                } else {
                    String::new()
                };
                println!(
                    "replayed {} requests ({} lines rejected{resent}); all acknowledged by the controller",
                    c.parsed, c.rejected
                );
                for (reason, n) in &c.rejected_by_reason {
                    println!("  rejected {reason}: {n}");
                }
                sensor.shutdown().await;
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let pending = sensor.outbox.len();
            sensor.shutdown().await;
            anyhow::bail!(
                "not everything was acknowledged within {timeout:?} ({pending} batches pending; is the controller reachable?)"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
