//! `picket-controller`: the central controller.

use anyhow::Context;
use clap::Parser;
use picket_controller::ControllerConfig;
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
    /// Export traces and metrics over OTLP/gRPC to this collector, e.g.
    /// http://127.0.0.1:4317 (default: off; `[telemetry] otlp_endpoint`).
    #[arg(long, env = "PICKET_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    picket_runtime::init_logging("info");
    let args = Args::parse();
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
    if let Some(url) = args.otlp_endpoint {
        cfg.telemetry.otlp_endpoint = Some(url);
    }
    let who = picket_runtime::otel::ServiceIdentity {
        name: "picket-controller",
        version: env!("CARGO_PKG_VERSION"),
        sensor_id: None,
    };
    let telemetry = picket_runtime::otel::init(&cfg.telemetry, &who)
        .context("starting OpenTelemetry export")?;
    let mut controller = picket_controller::start(cfg)
        .await
        .context("starting the controller")?;
    if let Some(p) = &controller.admin_token_file {
        eprintln!(
            "picket-controller: bootstrap admin token written to {} (mode 0600)",
            p.display()
        );
    }
    picket_controller::telemetry::register(&controller.state);
    // Machine-readable readiness line for scripts and tests.
    println!("picket-controller listening on {}", controller.local_addr);
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
