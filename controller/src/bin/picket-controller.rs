//! `picket-controller`: the central controller.

use anyhow::Context;
use clap::Parser;
use picket_controller::ControllerConfig;
use picket_runtime::LogFormat;
use picket_runtime::admin::AdminListen;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Picket controller: API inventory, storage and query RPCs.
#[derive(Debug, Parser)]
#[command(name = "picket-controller", version)]
struct Args {
    /// TOML configuration file (see deploy/controller.example.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long, env = "PICKET_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory (sled store, bootstrap token) [default: ./picket-data].
    #[arg(long, env = "PICKET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Admin listener (/metrics, /healthz, /readyz): an address, or `off`
    /// [default: 127.0.0.1:9464].
    #[arg(long, env = "PICKET_ADMIN_LISTEN")]
    admin_listen: Option<AdminListen>,
    /// Log format on stderr: `text` or `json` (one object per line) [default: text].
    #[arg(long)]
    log_format: Option<LogFormat>,
    /// Export traces and metrics over OTLP/gRPC to this collector, e.g.
    /// http://127.0.0.1:4317 (default: off; `[telemetry] otlp_endpoint`).
    #[arg(long, env = "PICKET_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Seconds (event time) an endpoint's baseline learns before baseline detectors may fire
    /// on it [default: 604800, 7 days; `[detection] learning_period_secs`].
    #[arg(long)]
    learning_period_secs: Option<u64>,
    /// Seconds between posture re-evaluations of every tenant
    /// [default: 60; `[posture] evaluate_interval_secs`].
    #[arg(long)]
    posture_interval_secs: Option<u64>,
    /// Threat-intelligence list file, reloaded when it changes; repeat for more. Given at
    /// least once, replaces `[detection] threat_intel`.
    #[arg(long = "threat-intel", value_name = "FILE")]
    threat_intel: Vec<PathBuf>,
    /// Serve TLS with this PEM certificate chain (with --tls-key; `[tls] cert_file`).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key (`[tls] key_file`).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Require client certificates issued by these PEM CAs (mTLS; `[tls] client_ca_file`).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Refuse sensors whose client certificate does not name their id (`[tls] bind_sensor_id`).
    #[arg(long)]
    tls_bind_sensor_id: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    let mut cfg = match &args.config {
        Some(p) => ControllerConfig::from_file(p)?,
        None => ControllerConfig::default(),
    };
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(a) = args.admin_listen {
        cfg.telemetry.admin_listen = a;
    }
    if let Some(f) = args.log_format {
        cfg.telemetry.log_format = f;
    }
    if let Some(s) = args.posture_interval_secs {
        cfg.posture.evaluate_interval_secs = s;
    }
    if let Some(s) = args.learning_period_secs {
        cfg.detection.learning_period_secs = s;
    }
    if args.tls_cert.is_some() {
        cfg.tls.cert_file = args.tls_cert.take();
    }
    if args.tls_key.is_some() {
        cfg.tls.key_file = args.tls_key.take();
    }
    if args.tls_client_ca.is_some() {
        cfg.tls.client_ca_file = args.tls_client_ca.take();
    }
    if args.tls_bind_sensor_id {
        cfg.tls.bind_sensor_id = true;
    }
    if !args.threat_intel.is_empty() {
        cfg.detection.threat_intel = args.threat_intel;
    }
    let cfg_log_format = cfg.telemetry.log_format;
    picket_runtime::init_logging("info", cfg_log_format);
    if let Some(url) = args.otlp_endpoint {
        cfg.telemetry.otlp_endpoint = Some(url);
    }
    let who = picket_runtime::otel::ServiceIdentity {
        name: "picket-controller",
        version: env!("CARGO_PKG_VERSION"),
        sensor_id: None,
    };
    let t = &cfg.telemetry;
    let otlp_interval = std::time::Duration::from_millis(t.otlp.metrics_interval_ms);
    let telemetry = picket_runtime::otel::init(t.otlp_endpoint.as_deref(), &t.otlp, &who)
        .context("starting OpenTelemetry export")?;
    let mut controller = picket_controller::start(cfg)
        .await
        .context("starting the controller")?;
    // Also logged through tracing; in JSON mode stderr carries JSON lines only.
    if let Some(p) = &controller.admin_token_file
        && cfg_log_format == LogFormat::Text
    {
        eprintln!(
            "picket-controller: bootstrap admin token written to {} (mode 0600)",
            p.display()
        );
    }
    picket_controller::telemetry::register_histograms();
    picket_runtime::otel::export_registry(controller.registry.clone(), otlp_interval);
    // Machine-readable readiness line for scripts and tests.
    println!("picket-controller listening on {}", controller.local_addr);
    if let Some(addr) = controller.admin_addr {
        println!("picket-controller admin listening on {addr}");
    }
    tokio::select! {
        () = picket_runtime::shutdown_signal() => {}
        e = controller.failed() => return Err(e.into()),
    }
    tracing::info!("shutting down");
    let stopped = controller.shutdown().await;
    if let Some(t) = telemetry {
        t.shutdown().await;
    }
    stopped?;
    Ok(())
}
