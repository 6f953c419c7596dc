//! Assembles and runs the controller: opens the store, bootstraps the first admin token,
//! layers the gRPC stack and serves it.

use crate::analysis::intel::IntelFiles;
use crate::analysis::worker::WorkerHandle;
use crate::auth::mint;
use crate::config::ControllerConfig;
use crate::grpc::auth_layer::AuthLayer;
use crate::grpc::connections;
use crate::grpc::rpc_metrics::RpcMetricsLayer;
use crate::grpc::trace_layer::TraceLayer;
use crate::grpc::{
    admin::AdminService, alerts::AlertsService, fleet::FleetService, ingest::IngestService,
    inventory::InventoryService, specs::SpecsService, usage::UsageService,
    webhooks::WebhooksService,
};
use crate::metering::{Clock, SystemClock};
use crate::state::State;
use crate::store::sled_store::SledStore;
use crate::store::{Db, TenantRecord};
use picket_proto::v1::{
    admin_server::AdminServer, alerts_server::AlertsServer, fleet_server::FleetServer,
    ingest_server::IngestServer, inventory_server::InventoryServer, specs_server::SpecsServer,
    usage_server::UsageServer, webhooks_server::WebhooksServer,
};
use picket_runtime::admin::AdminListen;
use picket_runtime::metrics::Registry;
use picket_shared::{Role, TenantId};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Largest HTTP/2 header block a client may send, in bytes (tokens and trace context fit
/// well inside).
const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;
/// Streams a client may open and reset before the server accepts them, per connection
/// (HTTP/2 rapid-reset defence).
const MAX_PENDING_RESETS: usize = 20;

/// A duration in seconds from a `[limits]` key, where 0 means "off".
fn secs(s: u64) -> Option<Duration> {
    (s > 0).then(|| Duration::from_secs(s))
}

/// File under the data directory that receives the bootstrap admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("creating data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("opening the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Intel(#[from] crate::analysis::intel::IntelError),
    #[error("starting the alert exports: {0}")]
    Exports(crate::error::Error),
    #[error("starting the analysis worker: {0}")]
    Worker(std::io::Error),
    #[error("bootstrapping the admin token: {0}")]
    Bootstrap(String),
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error(
        "binding the admin listener on {0}: {1} (choose another with --admin-listen ADDR, or \"off\")"
    )]
    AdminBind(SocketAddr, std::io::Error),
    #[error("building reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("serving: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error(transparent)]
    Tls(#[from] picket_runtime::tls::TlsError),
}

/// A running controller.
pub struct Controller {
    pub local_addr: SocketAddr,
    /// Set when this start created the bootstrap token.
    pub admin_token_file: Option<PathBuf>,
    pub state: Arc<State>,
    /// The process's metrics (what `/metrics` serves; an OTLP exporter reads the same).
    pub registry: Arc<Registry>,
    /// Where the admin listener is bound, unless it is off.
    pub admin_addr: Option<SocketAddr>,
    _admin: Option<picket_runtime::admin::Admin>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    maintenance: JoinHandle<()>,
    posture: JoinHandle<()>,
    worker: Option<WorkerHandle>,
    /// Webhook deliveries and the export file sink.
    pub exports: Arc<crate::export::Exports>,
}

impl Controller {
    /// Committed batches threat analysis has not consumed yet (0: alerts are up to date with
    /// everything acknowledged).
    pub fn analysis_lag(&self) -> crate::error::Result<u64> {
        let db = &self.state.db;
        Ok(db.analysis_appended()?.saturating_sub(db.analysis_done()?))
    }

    /// Stops accepting calls, lets running ones finish and flushes the store.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.maintenance.abort();
        self.posture.abort();
        self.exports.shutdown();
        if let Some(w) = self.worker.take() {
            // Finishes its current pass (which flushes) and stops.
            let _ = tokio::task::spawn_blocking(move || w.stop()).await;
        }
        let served = match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => {
                self.task.abort();
                Ok(())
            }
        };
        if let Err(e) = self.state.tokens.persist(&self.state.db, true) {
            tracing::warn!(error = %e, "saving token last-used times failed");
        }
        self.state.db.flush()?;
        Ok(served?)
    }

    /// Resolves only if the server stops on its own (an error): callers select on it next to
    /// their shutdown signal.
    pub async fn failed(&mut self) -> ServeError {
        match (&mut self.task).await {
            Ok(Ok(())) => ServeError::Bootstrap("the server stopped unexpectedly".into()),
            Ok(Err(e)) => ServeError::Serve(e),
            Err(e) => ServeError::Bootstrap(format!("server task failed: {e}")),
        }
    }
}

/// Creates the default tenant and an installation-admin token on the first start, writing
/// the token to `<data_dir>/admin.token` with mode 0600.
fn bootstrap(db: &Db, data_dir: &Path, now_ms: i64) -> Result<Option<PathBuf>, ServeError> {
    if !db.list_tokens()?.is_empty() {
        return Ok(None);
    }
    db.create_tenant(&TenantRecord {
        name: TenantId::default_tenant(),
        created_ms: now_ms,
    })?;
    let minted = mint(
        TenantId::default_tenant(),
        Role::Admin,
        "bootstrap installation admin".into(),
        true,
        now_ms,
        0,
    )
    .map_err(|e| ServeError::Bootstrap(e.to_string()))?;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&path, &minted.bearer)
        .map_err(|e| ServeError::Bootstrap(format!("writing {}: {e}", path.display())))?;
    // The file is written before the record, so a crash in between leaves no unreachable admin.
    db.put_token(&minted.record)?;
    db.flush()?;
    Ok(Some(path))
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}

/// Opens the store, binds the listener and starts serving in the background.
pub async fn start(cfg: ControllerConfig) -> Result<Controller, ServeError> {
    start_with_clock(cfg, Arc::new(SystemClock)).await
}

/// The standard gRPC services every controller serves: `grpc.health.v1` (every Picket
/// service and the server as a whole reported serving) and reflection `v1` and `v1alpha`
/// (grpcurl speaks `v1alpha`).
async fn standard_services() -> Result<
    (
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    for name in [
        "picket.v1.Ingest",
        "picket.v1.Inventory",
        "picket.v1.Fleet",
        "picket.v1.Admin",
        "picket.v1.Usage",
        "picket.v1.Alerts",
        "picket.v1.Specs",
        "picket.v1.Webhooks",
        "",
    ] {
        health_reporter
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(picket_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(picket_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok((health, v1, v1alpha))
}

/// Like [`start`], with an injected clock (tests cross month and year boundaries with it).
pub async fn start_with_clock(
    cfg: ControllerConfig,
    clock: Arc<dyn Clock>,
) -> Result<Controller, ServeError> {
    cfg.validate()?;
    let policy = cfg.billing.policy()?;
    // 0700 whatever the umask, the bootstrap token 0600: too-open modes are narrowed with a
    // warning (`picket_runtime::files`).
    picket_runtime::files::private_dir(&cfg.data_dir)
        .and_then(|()| picket_runtime::files::private_dir(&cfg.data_dir.join("db")))
        .and_then(|()| {
            let token = cfg.data_dir.join(ADMIN_TOKEN_FILE);
            picket_runtime::files::private_file(&token, picket_runtime::files::Kind::Secret)
        })
        .map_err(|e| ServeError::DataDir(cfg.data_dir.clone(), e))?;
    let store = SledStore::open_with_cache(
        &cfg.data_dir.join("db"),
        cfg.limits.store_cache_mib.saturating_mul(1 << 20),
    )?;
    let db = Db::new(Arc::new(store)).with_inventory_caps(cfg.inventory.caps());
    let counted = db.ensure_inventory_counts()?;
    if counted > 0 {
        tracing::info!(
            endpoints = counted,
            "counted the inventory of a store written before its counts"
        );
    }
    let admin_token_file = bootstrap(&db, &cfg.data_dir, clock.now_ms())?;
    if let Some(p) = &admin_token_file {
        tracing::info!(path = %p.display(), "created the bootstrap installation-admin token (mode 0600)");
    }
    let (intel_files, intel) = IntelFiles::open(cfg.detection.threat_intel.clone())?;
    let state = Arc::new(
        State::new(db.clone(), cfg.limits.clone(), policy, clock)
            .with_detection(cfg.detection.clone())
            .with_incidents(cfg.incidents.clone())
            .with_posture(cfg.posture.clone())
            .with_tls_binding(cfg.tls.bind_sensor_id)
            .with_inventory(cfg.inventory.clone()),
    );
    state.analysis.set_intel(intel);
    // Started after the store opened: it picks up every batch committed but not analyzed
    // before a restart.
    let worker = WorkerHandle::spawn(state.clone()).map_err(ServeError::Worker)?;
    let maintenance = tokio::spawn(crate::maintenance::run(state.clone(), intel_files));
    let posture = tokio::spawn(crate::posture::task::run(state.clone()));
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| ServeError::Bind(cfg.listen, e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| ServeError::Bind(cfg.listen, e))?;

    // Webhook deliveries resume from their stored cursors; the file sink from its own.
    let exports = crate::export::Exports::start(
        state.clone(),
        cfg.webhooks.clone(),
        &cfg.export,
        crate::grpc::webhooks::event_data,
    )
    .map_err(ServeError::Exports)?;
    let registry = Arc::new(Registry::default());
    crate::metrics::register(&registry, &state);
    crate::export::metrics::register(&registry, &exports);
    let tls = match cfg.tls.files()? {
        Some(files) => Some(picket_runtime::tls::TlsServer::load(files)?),
        None => None,
    };
    if let Some(t) = &tls {
        crate::metrics::register_tls(&registry, t.clone());
    }
    let rpcs = registry.counter_vec(crate::metrics::RPCS);
    let max = cfg.limits.max_message_bytes;
    let (health, reflection_v1, reflection_v1alpha) = standard_services().await?;

    let router = tonic::transport::Server::builder()
        // Deadline for producing a response; streams outlive it (their bodies are not timed).
        .timeout(Duration::from_millis(cfg.limits.request_timeout_ms))
        // Bound the work one client connection can have in flight.
        .concurrency_limit_per_connection(cfg.limits.max_concurrent_streams_per_connection)
        // The same bound announced to the peer (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
        .max_concurrent_streams(
            u32::try_from(cfg.limits.max_concurrent_streams_per_connection).ok(),
        )
        // Detect dead peers (sensors behind NAT, killed processes) on idle streams.
        .http2_keepalive_interval(secs(cfg.limits.http2_keepalive_interval_secs))
        .http2_keepalive_timeout(secs(cfg.limits.http2_keepalive_timeout_secs))
        // Bound header memory and rapid-reset floods per connection.
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_RESETS))
        .tcp_nodelay(true)
        // Count every call by method and code, refused ones included (so outermost).
        .layer(RpcMetricsLayer::new(rpcs))
        // Authenticate every call except health checks; services read the caller from here.
        // Rate-limit query calls per token (after auth: the bucket is the token's).
        .layer(AuthLayer::new(
            db.clone(),
            state.tokens.clone(),
            state.quotas.clone(),
        ))
        // One OpenTelemetry span per authenticated RPC (inside auth, so it knows the tenant);
        // a pass-through when telemetry is off.
        .layer(TraceLayer)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            IngestServer::new(IngestService::new(state.clone())).max_decoding_message_size(max),
        )
        .add_service(
            InventoryServer::new(InventoryService::new(state.clone()))
                .max_decoding_message_size(max),
        )
        .add_service(
            FleetServer::new(FleetService::new(state.clone())).max_decoding_message_size(max),
        )
        .add_service(
            AdminServer::new(AdminService::new(state.clone())).max_decoding_message_size(max),
        )
        .add_service(
            UsageServer::new(UsageService::new(state.clone())).max_decoding_message_size(max),
        )
        .add_service(
            AlertsServer::new(AlertsService::new(state.clone())).max_decoding_message_size(max),
        )
        .add_service(
            SpecsServer::new(SpecsService::new(state.clone())).max_decoding_message_size(max),
        )
        .add_service(
            picket_proto::v1::posture_server::PostureServer::new(
                crate::grpc::posture::PostureService::new(state.clone()),
            )
            .max_decoding_message_size(max),
        )
        .add_service(
            WebhooksServer::new(WebhooksService::new(exports.clone()))
                .max_decoding_message_size(max),
        );

    // At most `max_connections` at once, each with a preface deadline (`grpc::connections`).
    let gate_cfg = connections::GateConfig {
        max_connections: cfg.limits.max_connections as usize,
        preface_timeout: secs(cfg.limits.preface_timeout_secs),
        tcp_keepalive: secs(cfg.limits.tcp_keepalive_secs),
    };
    let conn_stats = Arc::new(connections::ConnectionStats::default());
    crate::metrics::register_connections(&registry, conn_stats.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let reloader = tls
        .as_ref()
        .map(picket_runtime::tls::TlsServer::spawn_reloader);
    let serving = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = serving.clone();
    let task = tokio::spawn(async move {
        let stop = async {
            let _ = rx.await;
        };
        let served = match &tls {
            // TLS: handshakes complete off the accept loop; certificates reload in place.
            Some(tls) => {
                let incoming = tokio_stream::wrappers::ReceiverStream::new(tls.incoming(listener));
                let incoming = connections::gate(incoming, gate_cfg, conn_stats);
                router.serve_with_incoming_shutdown(incoming, stop).await
            }
            None => {
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let incoming = connections::gate(incoming, gate_cfg, conn_stats);
                router.serve_with_incoming_shutdown(incoming, stop).await
            }
        };
        if let Some(r) = reloader {
            r.abort();
        }
        flag.store(false, std::sync::atomic::Ordering::Relaxed);
        served
    });
    let tls_mode = match (&cfg.tls.cert_file, &cfg.tls.client_ca_file) {
        (None, _) => "plaintext",
        (Some(_), None) => "tls",
        (Some(_), Some(_)) => "mtls",
    };
    tracing::info!(%local_addr, data_dir = %cfg.data_dir.display(), transport = tls_mode, "controller listening");
    let admin = match cfg.telemetry.admin_listen {
        AdminListen::Off => None,
        AdminListen::On(addr) => {
            let ready = crate::metrics::readiness(state.clone(), serving);
            let admin = picket_runtime::admin::start(addr, registry.clone(), ready)
                .await
                .map_err(|e| ServeError::AdminBind(addr, e))?;
            tracing::info!(admin_addr = %admin.local_addr, "admin listener serving /metrics, /healthz, /readyz");
            Some(admin)
        }
    };
    Ok(Controller {
        local_addr,
        admin_token_file,
        state,
        registry,
        admin_addr: admin.as_ref().map(|a| a.local_addr),
        _admin: admin,
        shutdown: Some(tx),
        task,
        maintenance,
        posture,
        worker: Some(worker),
        exports,
    })
}
