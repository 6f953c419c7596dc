//! Picket sensor: reads gateway traffic (nginx access logs, Envoy ALS), normalizes each
//! request, folds requests into per-endpoint summaries and streams them to the controller.
//!
//! Pipeline: sources → bounded chunk channel → aggregator → outbox → delivery stream.
//! The sensor never touches sled and never sends a raw request value.

pub mod aggregate;
pub mod checkpoint;
pub mod classify;
pub mod config;
pub mod delivery;
pub mod grpc;
pub mod identity;
pub mod record;
pub mod sources;
pub mod stats;

use aggregate::{AggregateLimits, Aggregator};
use checkpoint::Checkpoints;
use config::SensorConfig;
use delivery::Outbox;
use delivery::stream::{Delivery, StreamConfig};
use sources::Chunk;
use stats::SensorStats;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Why the sensor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("creating data directory {0}: {1}")]
    DataDir(std::path::PathBuf, std::io::Error),
    #[error("loading {0} from the data directory: {1}")]
    State(&'static str, std::io::Error),
    #[error("binding a listener on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("starting a source thread: {0}")]
    Thread(std::io::Error),
    #[error("invalid sensor id: {0}")]
    SensorId(#[from] picket_shared::IdError),
}

/// A running sensor.
pub struct Sensor {
    /// Where the ALS listener is bound, when configured.
    pub als_addr: Option<SocketAddr>,
    /// Where the HTTP mirror listener is bound, when configured.
    pub mirror_addr: Option<SocketAddr>,
    pub stats: Arc<SensorStats>,
    pub outbox: Arc<Outbox>,
    /// True while the controller stream is up.
    pub connected: watch::Receiver<bool>,
    /// For a replay: set once the whole file was read (with the error, if reading failed).
    pub replay_done: Option<Arc<std::sync::OnceLock<Result<(), String>>>>,
    stop_sources: Arc<AtomicBool>,
    stop_tx: watch::Sender<bool>,
    aggregator: JoinHandle<()>,
    delivery: JoinHandle<()>,
    grace: Duration,
}

impl Sensor {
    /// Starts every configured source, the aggregator and the delivery stream.
    pub async fn start(cfg: SensorConfig) -> Result<Sensor, StartError> {
        cfg.validate()?;
        let token = cfg.resolve_token()?;
        let id = cfg.id.clone().unwrap_or_else(default_id);
        picket_shared::SensorId::new(&id)?;
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(|e| StartError::DataDir(cfg.data_dir.clone(), e))?;
        let checkpoints = Checkpoints::new(&cfg.data_dir);
        let mut saved = checkpoints
            .load()
            .map_err(|e| StartError::State("file positions", e))?;
        let (spool, mut restored) =
            delivery::spool::Spool::open(&cfg.data_dir.join("spool"), cfg.spool_max_bytes)
                .map_err(|e| StartError::State("the spool", e))?;
        // Continue the spooled numbering run so resends deduplicate; a fresh run otherwise.
        let epoch = restored
            .last()
            .map_or_else(|| sources::tail::now_ms().max(1) as u64, |r| r.epoch);
        let stale = restored.iter().filter(|r| r.epoch != epoch).count();
        if stale > 0 {
            tracing::error!(
                stale,
                "spool holds batches of an older run; they cannot be resent"
            );
            restored.retain(|r| r.epoch == epoch);
        }
        // Lines in spooled batches are already accounted for: resume after them.
        if let Some(last) = restored.last() {
            saved.extend(last.positions.iter().map(|(k, v)| (k.clone(), *v)));
        }
        if !restored.is_empty() {
            tracing::info!(
                batches = restored.len(),
                epoch,
                "resending batches spooled by the previous run"
            );
        }
        let key = identity::PrincipalKey::load_or_create(&cfg.data_dir)
            .map_err(|e| StartError::State("the principal key", e))?;
        let ident = Arc::new(
            identity::Identifier::new(key, cfg.trusted_proxy_cidrs()?)
                .with_injection_scanning(cfg.classify_injections),
        );
        let stats = Arc::new(SensorStats::default());
        let (chunk_tx, chunk_rx) = mpsc::channel::<Chunk>(cfg.max_queued_chunks);
        let stop_sources = Arc::new(AtomicBool::new(false));
        let mut source_names = Vec::new();

        for f in &cfg.files {
            // Absolute, so the saved position survives a restart from another directory.
            let path = std::path::absolute(&f.path).unwrap_or_else(|_| f.path.clone());
            let name: Arc<str> = format!("nginx-{}:{}", f.format.as_str(), path.display()).into();
            source_names.push(name.to_string());
            let tail_cfg = sources::tail::TailConfig {
                path,
                format: f.format,
                default_host: f.default_host.clone(),
                max_line_bytes: f.max_line_bytes,
                poll_interval: Duration::from_millis(f.poll_interval_ms),
                rotate_wait: Duration::from_millis(f.rotate_wait_ms),
                ident: ident.clone(),
            };
            let resume = saved.get(name.as_ref()).copied();
            let tailer = sources::tail::Tailer::new(
                tail_cfg,
                name,
                stats.clone(),
                chunk_tx.clone(),
                stop_sources.clone(),
            );
            std::thread::Builder::new()
                .name("picket-tail".into())
                .spawn(move || tailer.run(resume))
                .map_err(StartError::Thread)?;
        }

        let replay_done = cfg.replay.as_ref().map(|spec| {
            let done = Arc::new(std::sync::OnceLock::new());
            let name: Arc<str> = format!("replay:{}", spec.path.display()).into();
            source_names.push(name.to_string());
            let replayer = sources::replay::Replayer {
                src: stats.add_source(name.to_string()),
                name,
                default_host: spec.default_host.clone(),
                stats: stats.clone(),
                out: chunk_tx.clone(),
                ident: ident.clone(),
            };
            let (spec, flag) = (spec.clone(), done.clone());
            let spawned = std::thread::Builder::new()
                .name("picket-replay".into())
                .spawn(move || {
                    let result = replayer
                        .run(&spec.path, spec.format)
                        .map_err(|e| e.to_string());
                    let _ = flag.set(result);
                });
            if let Err(e) = spawned {
                // Reported through the same channel as a read failure.
                let _ = done.set(Err(format!("starting the replay thread: {e}")));
            }
            done
        });

        let als_addr = match &cfg.als {
            Some(als) => {
                let listener = tokio::net::TcpListener::bind(als.listen)
                    .await
                    .map_err(|e| StartError::Bind(als.listen, e))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| StartError::Bind(als.listen, e))?;
                let name: Arc<str> = format!("envoy-als:{addr}").into();
                source_names.push(name.to_string());
                let sink = sources::als::AlsSink::new(
                    name,
                    &als.default_host,
                    stats.clone(),
                    chunk_tx.clone(),
                    ident.clone(),
                );
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                tokio::spawn(async move {
                    let served = tonic::transport::Server::builder()
                        // Envoy keeps one stream per worker; bound them anyway.
                        .concurrency_limit_per_connection(64)
                        .add_service(sink.into_service())
                        .serve_with_incoming(incoming)
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "ALS listener failed");
                    }
                });
                tracing::info!(%addr, "envoy ALS listener ready");
                Some(addr)
            }
            None => None,
        };
        let mirror_addr = match &cfg.mirror {
            Some(m) => {
                let listener = tokio::net::TcpListener::bind(m.listen)
                    .await
                    .map_err(|e| StartError::Bind(m.listen, e))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| StartError::Bind(m.listen, e))?;
                let name: Arc<str> = format!("mirror:{addr}").into();
                source_names.push(name.to_string());
                let settings = sources::mirror::MirrorSettings {
                    default_host: m.default_host.clone(),
                    max_body_bytes: m.max_body_bytes,
                    ident: ident.clone(),
                    classify_injections: cfg.classify_injections,
                };
                tokio::spawn(sources::mirror::serve(
                    listener,
                    name,
                    settings,
                    stats.clone(),
                    chunk_tx.clone(),
                ));
                tracing::info!(%addr, "HTTP mirror listener ready");
                Some(addr)
            }
            None => None,
        };
        drop(chunk_tx);

        let outbox = Arc::new(Outbox::new(
            cfg.max_pending_batches,
            stats.clone(),
            epoch,
            Some(spool),
            restored,
        ));
        let (stop_tx, stop_rx) = watch::channel(false);
        let limits = AggregateLimits {
            max_batch_endpoints: cfg.max_batch_endpoints,
            max_batch_bytes: cfg.max_batch_bytes,
            max_clients_per_endpoint: cfg.max_clients_per_endpoint,
            window_ms: cfg.window_ms,
            classify_injections: cfg.classify_injections,
            learner: picket_shared::learn::LearnerLimits {
                promote_after_distinct: cfg.template_promote_after_distinct,
                max_positions: cfg.template_max_positions,
                min_clients: cfg.template_min_clients,
                ..Default::default()
            },
        };
        let (templates_tx, templates_rx) = watch::channel(Arc::new(Vec::new()));
        let aggregator = tokio::spawn(run_aggregator(
            chunk_rx,
            templates_rx,
            limits,
            outbox.clone(),
            Duration::from_millis(cfg.flush_interval_ms),
            stop_rx.clone(),
            stats.clone(),
        ));
        let (connected_tx, connected) = watch::channel(false);
        let delivery = Delivery {
            cfg: StreamConfig {
                controller: cfg.controller.clone(),
                token,
                sensor_id: id.clone(),
                sources: source_names,
                stream_epoch: epoch,
                connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
                welcome_timeout: Duration::from_secs(10),
                max_in_flight: cfg.max_in_flight_batches,
                backoff_min: Duration::from_millis(cfg.backoff_min_ms),
                backoff_max: Duration::from_millis(cfg.backoff_max_ms),
                max_message_bytes: cfg.max_message_bytes,
            },
            outbox: outbox.clone(),
            checkpoints,
            saved: saved.into_iter().collect(),
            stats: stats.clone(),
            connected: connected_tx,
            templates: templates_tx,
        };
        let delivery = tokio::spawn(delivery.run(stop_rx));
        tracing::info!(sensor_id = %id, stream_epoch = epoch, controller = %cfg.controller, "sensor started");
        Ok(Sensor {
            als_addr,
            mirror_addr,
            stats,
            outbox,
            connected,
            replay_done,
            stop_sources,
            stop_tx,
            aggregator,
            delivery,
            grace: Duration::from_millis(cfg.shutdown_grace_ms),
        })
    }

    /// Stops the sources, seals what was read and waits (up to the grace period) for the
    /// controller to acknowledge it.
    pub async fn shutdown(self) {
        self.stop_sources
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.stop_tx.send_replace(true);
        let _ = self.aggregator.await;
        let drained = async {
            while !self.outbox.is_empty() {
                let wait = self.outbox.drained.notified();
                if self.outbox.is_empty() {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), wait).await;
            }
        };
        if tokio::time::timeout(self.grace, drained).await.is_err() {
            tracing::warn!(
                pending = self.outbox.len(),
                "shutting down with unacknowledged batches"
            );
        }
        self.delivery.abort();
    }
}

/// Folds chunks into the batch under construction and seals it every `flush` (or when full).
async fn run_aggregator(
    mut rx: mpsc::Receiver<Chunk>,
    mut templates: watch::Receiver<Arc<Vec<(String, String)>>>,
    limits: AggregateLimits,
    outbox: Arc<Outbox>,
    flush: Duration,
    mut stop: watch::Receiver<bool>,
    stats: Arc<SensorStats>,
) {
    let mut agg = Aggregator::new(limits);
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(c) => {
                    if templates.has_changed().unwrap_or(false) {
                        agg.learner.set_known(&templates.borrow_and_update());
                    }
                    fill(&mut agg, c, &outbox, &stats).await;
                }
                None => break,
            },
            _ = tick.tick() => {
                if agg.has_content() {
                    push(&outbox, agg.seal()).await;
                }
            }
            () = stopped(&mut stop) => {
                // Take what the sources already queued, then stop.
                while let Ok(c) = rx.try_recv() {
                    fill(&mut agg, c, &outbox, &stats).await;
                }
                break;
            }
        }
    }
    if agg.has_content() {
        push(&outbox, agg.seal()).await;
    }
}

/// Folds a chunk in, sealing whenever the batch reaches its bounds (also mid-chunk).
async fn fill(agg: &mut Aggregator, mut chunk: Chunk, outbox: &Arc<Outbox>, stats: &SensorStats) {
    while agg.fill(&mut chunk) {
        push(outbox, agg.seal()).await;
    }
    stats
        .notables_dropped
        .store(agg.notables_dropped, std::sync::atomic::Ordering::Relaxed);
}

/// Resolves once `stop` turns true (without holding the watch's lock across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Spools (fsync) and queues a batch off the async workers, in order.
async fn push(outbox: &Arc<Outbox>, sealed: aggregate::Sealed) {
    let outbox = outbox.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || outbox.push(sealed)).await {
        tracing::error!(error = %e, "spooling task failed");
    }
}

/// The machine's host name, made a valid sensor id.
fn default_id() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let id: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(picket_shared::ids::MAX_NAME_BYTES)
        .collect();
    if id.is_empty() { "sensor".into() } else { id }
}
