//! A running sensor: [`Sensor::start`] wires the configured sources, the aggregator and the
//! delivery stream together, one named step each; [`Sensor::shutdown`] drains them.

use crate::aggregate::AggregateLimits;
use crate::checkpoint::Checkpoints;
use crate::config::SensorConfig;
use crate::delivery::spool::{Spool, SpoolMeta};
use crate::delivery::stream::{Delivery, StreamConfig};
use crate::delivery::{self, Outbox};
use crate::identity::{Identifier, PrincipalKey};
use crate::sources::{self, Chunk, FilePosition};
use crate::stats::SensorStats;
use crate::{config, pipeline};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
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

/// Set once a replay has read its whole file (with the error, if reading failed).
pub type ReplayDone = Arc<OnceLock<Result<(), String>>>;

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
    pub replay_done: Option<ReplayDone>,
    stop_sources: Arc<AtomicBool>,
    stop_tx: watch::Sender<bool>,
    aggregator: JoinHandle<()>,
    delivery: JoinHandle<()>,
    grace: Duration,
}

/// What the data directory holds from the previous run.
struct Restored {
    checkpoints: Checkpoints,
    /// File positions to resume from (saved after acks, advanced past spooled lines).
    saved: BTreeMap<String, FilePosition>,
    spool: Spool,
    /// Spooled, unacknowledged batches of the numbering run being continued.
    batches: Vec<SpoolMeta>,
    /// The numbering run: the spooled one when batches wait, a fresh one otherwise.
    epoch: u64,
}

/// What every source needs to hand records on.
struct SourceKit {
    ident: Arc<Identifier>,
    stats: Arc<SensorStats>,
    chunks: mpsc::Sender<Chunk>,
    stop: Arc<AtomicBool>,
    /// Names of the started sources, reported to the controller.
    names: Vec<String>,
}

/// The sources that were started.
struct Started {
    als_addr: Option<SocketAddr>,
    mirror_addr: Option<SocketAddr>,
    replay_done: Option<ReplayDone>,
    names: Vec<String>,
}

impl Sensor {
    /// Starts every configured source, the aggregator and the delivery stream.
    pub async fn start(cfg: SensorConfig) -> Result<Sensor, StartError> {
        cfg.validate()?;
        let token = cfg.resolve_token()?;
        let id = cfg.sensor_id();
        picket_shared::SensorId::new(&id)?;
        let restored = restore(&cfg)?;
        let key = PrincipalKey::load_or_create(&cfg.data_dir)
            .map_err(|e| StartError::State("the principal key", e))?;
        let ident = Arc::new(
            Identifier::new(key, cfg.trusted_proxy_cidrs()?)
                .with_injection_scanning(cfg.classify_injections),
        );
        let stats = Arc::new(SensorStats::default());
        let (chunk_tx, chunk_rx) = mpsc::channel::<Chunk>(cfg.max_queued_chunks);
        let stop_sources = Arc::new(AtomicBool::new(false));
        let kit = SourceKit {
            ident,
            stats: stats.clone(),
            chunks: chunk_tx,
            stop: stop_sources.clone(),
            names: Vec::new(),
        };
        let started = start_sources(&cfg, kit, &restored.saved).await?;

        let outbox = Arc::new(Outbox::new(
            cfg.max_pending_batches,
            stats.clone(),
            restored.epoch,
            Some(restored.spool),
            restored.batches,
        ));
        let (stop_tx, stop_rx) = watch::channel(false);
        let traces = Arc::new(crate::telemetry::BatchTraces::default());
        let (templates_tx, templates_rx) = watch::channel(Arc::new(Vec::new()));
        let known_limits = crate::delivery::known_limits::KnownLimits::new(&cfg.data_dir);
        let (limits_tx, limits_rx) = watch::channel(known_limits.load());
        let aggregator = tokio::spawn(pipeline::run_aggregator(
            chunk_rx,
            templates_rx,
            aggregate_limits(&cfg),
            pipeline::Outlet {
                outbox: outbox.clone(),
                traces: traces.clone(),
                wire_limits: limits_rx,
            },
            Duration::from_millis(cfg.flush_interval_ms),
            stop_rx.clone(),
            stats.clone(),
        ));
        let (connected_tx, connected) = watch::channel(false);
        let delivery = Delivery {
            cfg: stream_config(&cfg, token, &id, started.names, restored.epoch),
            outbox: outbox.clone(),
            checkpoints: restored.checkpoints,
            saved: restored.saved.into_iter().collect(),
            stats: stats.clone(),
            connected: connected_tx,
            templates: templates_tx,
            wire_limits: limits_tx,
            known_limits,
            traces,
        };
        let delivery = tokio::spawn(delivery.run(stop_rx));
        tracing::info!(sensor_id = %id, stream_epoch = restored.epoch, controller = %cfg.controller, "sensor started");
        Ok(Sensor {
            als_addr: started.als_addr,
            mirror_addr: started.mirror_addr,
            stats,
            outbox,
            connected,
            replay_done: started.replay_done,
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
        // A batch waiting for room must not hold the shutdown: drop-oldest from here on.
        self.outbox.close();
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

/// Opens the data directory: saved file positions, the spool and the numbering run to continue.
fn restore(cfg: &SensorConfig) -> Result<Restored, StartError> {
    // 0700 whatever the umask; a more open directory is narrowed with a warning.
    picket_runtime::files::private_dir(&cfg.data_dir)
        .map_err(|e| StartError::DataDir(cfg.data_dir.clone(), e))?;
    let checkpoints = Checkpoints::new(&cfg.data_dir);
    checkpoints
        .check_mode()
        .map_err(|e| StartError::State("file positions", e))?;
    let mut saved = checkpoints
        .load()
        .map_err(|e| StartError::State("file positions", e))?;
    let (spool, mut batches) =
        delivery::spool::Spool::open(&cfg.data_dir.join("spool"), cfg.spool_max_bytes)
            .map_err(|e| StartError::State("the spool", e))?;
    // Continue the spooled numbering run so resends deduplicate; a fresh run otherwise.
    let epoch = batches
        .last()
        .map_or_else(|| picket_runtime::now_ms().max(1) as u64, |r| r.epoch);
    let stale = batches.iter().filter(|r| r.epoch != epoch).count();
    if stale > 0 {
        tracing::error!(
            stale,
            "spool holds batches of an older run; they cannot be resent"
        );
        batches.retain(|r| r.epoch == epoch);
    }
    // Lines in spooled batches are already accounted for: resume after them.
    if let Some(last) = batches.last() {
        saved.extend(last.positions.iter().map(|(k, v)| (k.clone(), *v)));
    }
    if !batches.is_empty() {
        tracing::info!(
            batches = batches.len(),
            epoch,
            "resending batches spooled by the previous run"
        );
    }
    Ok(Restored {
        checkpoints,
        saved,
        spool,
        batches,
        epoch,
    })
}

/// Starts every configured source; the chunk channel closes once they all end.
async fn start_sources(
    cfg: &SensorConfig,
    mut kit: SourceKit,
    saved: &BTreeMap<String, FilePosition>,
) -> Result<Started, StartError> {
    start_tailers(cfg, &mut kit, saved)?;
    let replay_done = start_replay(cfg, &mut kit, saved);
    let als_addr = match &cfg.als {
        Some(als) => {
            let (addr, name) = sources::als::listen(
                als,
                kit.stats.clone(),
                kit.chunks.clone(),
                kit.ident.clone(),
            )
            .await
            .map_err(|e| StartError::Bind(als.listen, e))?;
            kit.names.push(name);
            Some(addr)
        }
        None => None,
    };
    let mirror_addr = match &cfg.mirror {
        Some(m) => {
            let (addr, name) = sources::mirror::listen(
                m,
                cfg.classify_injections,
                kit.stats.clone(),
                kit.chunks.clone(),
                kit.ident.clone(),
            )
            .await
            .map_err(|e| StartError::Bind(m.listen, e))?;
            kit.names.push(name);
            Some(addr)
        }
        None => None,
    };
    Ok(Started {
        als_addr,
        mirror_addr,
        replay_done,
        names: kit.names,
    })
}

/// One tail thread per configured file, resuming from its saved position.
fn start_tailers(
    cfg: &SensorConfig,
    kit: &mut SourceKit,
    saved: &BTreeMap<String, FilePosition>,
) -> Result<(), StartError> {
    for f in &cfg.files {
        // Absolute, so the saved position survives a restart from another directory.
        let path = std::path::absolute(&f.path).unwrap_or_else(|_| f.path.clone());
        let name: Arc<str> = format!("nginx-{}:{}", f.format.as_str(), path.display()).into();
        kit.names.push(name.to_string());
        let tail_cfg = sources::tail::TailConfig {
            path,
            format: f.format,
            default_host: f.default_host.clone(),
            max_line_bytes: f.max_line_bytes,
            poll_interval: Duration::from_millis(f.poll_interval_ms),
            rotate_wait: Duration::from_millis(f.rotate_wait_ms),
            ident: kit.ident.clone(),
        };
        let resume = saved.get(name.as_ref()).copied();
        let tailer = sources::tail::Tailer::new(
            tail_cfg,
            name,
            kit.stats.clone(),
            kit.chunks.clone(),
            kit.stop.clone(),
        );
        std::thread::Builder::new()
            .name("picket-tail".into())
            .spawn(move || tailer.run(resume))
            .map_err(StartError::Thread)?;
    }
    Ok(())
}

/// The replay thread, when a recording is to be replayed, resuming from its saved position.
fn start_replay(
    cfg: &SensorConfig,
    kit: &mut SourceKit,
    saved: &BTreeMap<String, FilePosition>,
) -> Option<ReplayDone> {
    let spec = cfg.replay.as_ref()?;
    let done: ReplayDone = Arc::new(OnceLock::new());
    // Absolute, so the saved position survives a rerun from another directory.
    let path = std::path::absolute(&spec.path).unwrap_or_else(|_| spec.path.clone());
    let name: Arc<str> = format!("replay:{}", path.display()).into();
    kit.names.push(name.to_string());
    let resume = saved.get(name.as_ref()).copied();
    let replayer = sources::replay::Replayer {
        src: kit.stats.add_source(name.to_string()),
        name,
        default_host: spec.default_host.clone(),
        stats: kit.stats.clone(),
        out: kit.chunks.clone(),
        ident: kit.ident.clone(),
        resume,
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
    Some(done)
}

fn aggregate_limits(cfg: &SensorConfig) -> AggregateLimits {
    AggregateLimits {
        max_batch_endpoints: cfg.max_batch_endpoints,
        max_batch_bytes: cfg.max_batch_bytes,
        max_clients_per_endpoint: cfg.max_clients_per_endpoint,
        max_batch_actors: crate::aggregate::MAX_ACTORS_PER_BATCH,
        window_ms: cfg.window_ms,
        classify_injections: cfg.classify_injections,
        learner: picket_shared::learn::LearnerLimits {
            promote_after_distinct: cfg.template_promote_after_distinct,
            max_positions: cfg.template_max_positions,
            ..Default::default()
        },
    }
}

fn stream_config(
    cfg: &SensorConfig,
    token: String,
    id: &str,
    sources: Vec<String>,
    epoch: u64,
) -> StreamConfig {
    StreamConfig {
        controller: cfg.controller.clone(),
        token,
        // An explicit token wins (as at start); a token file is re-read on each connect.
        token_file: cfg
            .token
            .as_deref()
            .is_none_or(str::is_empty)
            .then(|| cfg.token_file.clone())
            .flatten(),
        tls_ca_file: cfg.tls_ca_file.clone(),
        tls_cert_file: cfg.tls_cert_file.clone(),
        tls_key_file: cfg.tls_key_file.clone(),
        sensor_id: id.to_owned(),
        sources,
        stream_epoch: epoch,
        connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
        welcome_timeout: Duration::from_secs(10),
        max_in_flight: cfg.max_in_flight_batches,
        backoff_min: Duration::from_millis(cfg.backoff_min_ms),
        backoff_max: Duration::from_millis(cfg.backoff_max_ms),
        max_message_bytes: cfg.max_message_bytes,
    }
}
