//! The long-lived bidirectional stream to the controller: hello, batches up, acks and
//! directives down; reconnects with jittered exponential backoff.

use super::Outbox;
use crate::checkpoint::Checkpoints;
use crate::grpc;
use crate::sources::FilePosition;
use crate::stats::SensorStats;
use crate::telemetry::BatchTraces;
use picket_proto::v1 as pb;
use picket_proto::v1::ingest_client::IngestClient;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;

/// Most endpoint templates accepted from one directive.
pub const MAX_TEMPLATE_HINTS: usize = 100_000;
/// Bytes kept free below the controller's message limit for the gRPC envelope.
const ENVELOPE_BYTES: usize = 1024;

/// Settings of the controller connection.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub controller: String,
    pub token: String,
    /// When set, the token is re-read from this file before every connection attempt (so a
    /// new token takes effect without a restart); `token` is the fallback if it cannot be read.
    pub token_file: Option<std::path::PathBuf>,
    /// PEM files for TLS: the controller's CA, and the client certificate and key (mTLS).
    pub tls_ca_file: Option<std::path::PathBuf>,
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub tls_key_file: Option<std::path::PathBuf>,
    pub sensor_id: String,
    pub sources: Vec<String>,
    pub stream_epoch: u64,
    pub connect_timeout: Duration,
    /// How long to wait for the controller's `Welcome`.
    pub welcome_timeout: Duration,
    /// Batches sent but not yet acknowledged, at most.
    pub max_in_flight: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Largest message sent, in bytes.
    pub max_message_bytes: usize,
}

/// Why one session with the controller ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid controller url {0:?}: {1}")]
    Url(String, tonic::transport::Error),
    #[error("connecting to the controller failed: {0}")]
    Connect(tonic::transport::Error),
    #[error("controller refused the stream: {0}")]
    Refused(tonic::Status),
    #[error("no welcome from the controller within {0:?}")]
    WelcomeTimeout(Duration),
    #[error("controller sent {0} where a welcome was expected")]
    NoWelcome(&'static str),
    #[error("stream failed: {0}")]
    Stream(tonic::Status),
    #[error("the token is not a valid header value")]
    Token,
    #[error("TLS settings: {0}")]
    Tls(String),
    #[error("saving file positions failed: {0}")]
    Checkpoint(std::io::Error),
    #[error("a disk task failed: {0}")]
    Disk(std::io::Error),
}

impl SessionError {
    /// The status when the controller refused the credentials.
    fn unauthenticated(&self) -> Option<&tonic::Status> {
        match self {
            SessionError::Refused(s) | SessionError::Stream(s)
                if s.code() == tonic::Code::Unauthenticated =>
            {
                Some(s)
            }
            _ => None,
        }
    }
}

/// The token for the next connection: the token file's first line when it is set and
/// readable, else the configured token.
fn current_token(cfg: &StreamConfig) -> String {
    let Some(path) = &cfg.token_file else {
        return cfg.token.clone();
    };
    match std::fs::read_to_string(path) {
        Ok(text) => match text.lines().next().map(str::trim) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => {
                tracing::warn!(path = %path.display(), "the token file is empty; using the last token read");
                cfg.token.clone()
            }
        },
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "reading the token file failed; using the last token read");
            cfg.token.clone()
        }
    }
}

/// The TLS settings of the next connection, read from the files now (renewed certificates
/// take effect on reconnect); `None` without any TLS file.
fn client_tls(
    cfg: &StreamConfig,
) -> Result<Option<tonic::transport::ClientTlsConfig>, SessionError> {
    let pem = picket_runtime::tls::client_pem(
        cfg.tls_ca_file.as_deref(),
        cfg.tls_cert_file.as_deref(),
        cfg.tls_key_file.as_deref(),
    )
    .map_err(|e| SessionError::Tls(e.to_string()))?;
    Ok(pem.map(|pem| {
        let mut c = tonic::transport::ClientTlsConfig::new();
        if let Some(ca) = pem.ca {
            c = c.ca_certificate(tonic::transport::Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = pem.identity {
            c = c.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        c
    }))
}

/// Exponential backoff with full jitter.
struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let exp = self
            .min
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let mut seed = [0u8; 8];
        // Without randomness, fall back to the full delay: still bounded, merely less spread.
        let frac = match getrandom::fill(&mut seed) {
            Ok(()) => (u64::from_le_bytes(seed) % 1000) as u32,
            Err(_) => 999,
        };
        (exp / 2 + exp / 2 * frac / 1000).max(self.min)
    }
}

/// The delivery task: runs sessions until `stop` turns true.
pub struct Delivery {
    pub cfg: StreamConfig,
    pub outbox: Arc<Outbox>,
    pub checkpoints: Checkpoints,
    pub saved: BTreeMap<String, FilePosition>,
    pub stats: Arc<SensorStats>,
    /// True while a session holds a welcomed stream.
    pub connected: watch::Sender<bool>,
    /// Endpoint templates from the controller (host, template), for the aggregator.
    pub templates: watch::Sender<Arc<Vec<(String, String)>>>,
    /// The controller's limits from its last `Welcome`, for the aggregator and the sends.
    pub wire_limits: watch::Sender<grpc::WireLimits>,
    /// Where those limits are kept for the next start.
    pub known_limits: super::known_limits::KnownLimits,
    /// Spans of sealed batches (seal → ack), and the trace context each batch carries.
    pub traces: Arc<BatchTraces>,
}

impl Delivery {
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff {
            min: self.cfg.backoff_min,
            max: self.cfg.backoff_max,
            attempt: 0,
        };
        loop {
            let result = tokio::select! {
                r = self.session(&mut backoff) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            self.connected.send_replace(false);
            if let Err(e) = result {
                if let Some(status) = e.unauthenticated() {
                    self.stats.set_auth_error(Some(status.message().to_owned()));
                    tracing::error!(reason = %status.message(), pending = self.outbox.len(), "the controller refused this sensor's token; batches stay spooled, retrying with backoff (token_file is re-read on every attempt)");
                } else {
                    tracing::warn!(error = %e, pending = self.outbox.len(), "controller stream ended");
                }
            }
            let delay = backoff.next_delay();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    async fn session(&mut self, backoff: &mut Backoff) -> Result<(), SessionError> {
        let cfg = &self.cfg;
        let mut endpoint = tonic::transport::Endpoint::from_shared(cfg.controller.clone())
            .map_err(|e| SessionError::Url(cfg.controller.clone(), e))?;
        if let Some(tls) = client_tls(cfg)? {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| SessionError::Tls(e.to_string()))?;
        }
        let endpoint = endpoint
            .connect_timeout(cfg.connect_timeout)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect().await.map_err(SessionError::Connect)?;
        let token = current_token(cfg);
        let auth: MetadataValue<_> = format!("Bearer {token}")
            .parse()
            .map_err(|_| SessionError::Token)?;
        let mut client =
            IngestClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
                req.metadata_mut().insert("authorization", auth.clone());
                Ok(req)
            })
            .max_encoding_message_size(cfg.max_message_bytes);

        // A wire batch is built only when gRPC is ready to take it: a decoded `pb::Batch` is
        // several times the size of its encoding, and a deep queue of them was most of the
        // sensor's memory. The in-flight window (sent, not yet acknowledged) is unchanged.
        let (tx, rx) = mpsc::channel::<pb::SensorMessage>(1);
        debug_assert_eq!(cfg.stream_epoch, self.outbox.epoch);
        let hello = grpc::hello(
            &cfg.sensor_id,
            &cfg.sources,
            cfg.stream_epoch,
            picket_runtime::hostname(),
        );
        // The channel is fresh and has room, so this cannot fail.
        let _ = tx.try_send(hello);
        let mut inbound = client
            .stream(ReceiverStream::new(rx))
            .await
            .map_err(SessionError::Refused)?
            .into_inner();
        let first = tokio::time::timeout(cfg.welcome_timeout, inbound.message())
            .await
            .map_err(|_| SessionError::WelcomeTimeout(cfg.welcome_timeout))?
            .map_err(SessionError::Stream)?;
        let welcome = match first.and_then(|m| m.msg) {
            Some(pb::controller_message::Msg::Welcome(w)) => w,
            Some(_) => return Err(SessionError::NoWelcome("another message")),
            None => return Err(SessionError::NoWelcome("end of stream")),
        };
        tracing::info!(tenant = %welcome.tenant, committed_seq = welcome.committed_seq, "connected to controller");
        backoff.attempt = 0;
        self.stats.set_auth_error(None);
        let limits = grpc::wire_limits(&welcome);
        if *self.wire_limits.borrow() != limits {
            tracing::info!(
                ?limits,
                "the controller's limits; batches are sealed within them"
            );
            self.wire_limits.send_replace(limits);
            let known = self.known_limits.clone();
            let saved = tokio::task::spawn_blocking(move || known.save(&limits)).await;
            if let Ok(Err(e)) = saved {
                tracing::warn!(error = %e, "could not keep the controller's limits for the next start");
            }
        }
        self.connected.send_replace(true);
        self.acked(welcome.committed_seq).await?;
        self.pump(tx, inbound, welcome.committed_seq).await
    }

    /// Sends pending batches within the in-flight window and handles acks until the stream ends.
    async fn pump(
        &mut self,
        tx: mpsc::Sender<pb::SensorMessage>,
        mut inbound: tonic::Streaming<pb::ControllerMessage>,
        committed: u64,
    ) -> Result<(), SessionError> {
        let mut sent_upto = committed;
        let mut acked_upto = committed;
        loop {
            let room = self
                .cfg
                .max_in_flight
                .saturating_sub(sent_upto.saturating_sub(acked_upto) as usize);
            // Older batches are read back from the spool: on the blocking pool.
            let outbox = self.outbox.clone();
            let pending = tokio::task::spawn_blocking(move || outbox.after(sent_upto, room))
                .await
                .map_err(|e| SessionError::Disk(std::io::Error::other(e)))?;
            let max_message = self.wire_limits.borrow().max_message_bytes;
            for p in pending {
                let counters = self.stats.snapshot();
                let batch = grpc::batch(
                    &self.cfg.sensor_id,
                    self.cfg.stream_epoch,
                    p.seq,
                    &p.sealed,
                    &counters,
                    self.traces.on_send(p.seq),
                );
                let msg = pb::SensorMessage {
                    msg: Some(pb::sensor_message::Msg::Batch(batch)),
                };
                if let Some(max) = max_message
                    && prost::Message::encoded_len(&msg) > max.saturating_sub(ENVELOPE_BYTES)
                {
                    // Sealed before the limit was known: it can never be sent. Set aside
                    // once everything before it is settled, so releases stay in order.
                    if sent_upto != acked_upto {
                        break;
                    }
                    let why = format!(
                        "batch of {} bytes is over the controller's message limit of {max} bytes",
                        prost::Message::encoded_len(&msg)
                    );
                    self.set_aside(p.seq, why).await?;
                    (sent_upto, acked_upto) = (p.seq, p.seq);
                    continue;
                }
                if tx.send(msg).await.is_err() {
                    return Err(SessionError::Stream(tonic::Status::unavailable(
                        "request stream closed",
                    )));
                }
                sent_upto = p.seq;
                self.stats
                    .batches_sent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            tokio::select! {
                () = self.outbox.pushed.notified() => {}
                msg = inbound.message() => match msg.map_err(SessionError::Stream)? {
                    None => return Ok(()),
                    Some(m) => match m.msg {
                        Some(pb::controller_message::Msg::Ack(ack)) if ack.stream_epoch == self.cfg.stream_epoch => {
                            acked_upto = acked_upto.max(ack.seq);
                            match grpc::rejection(&ack) {
                                Some(why) => self.set_aside(ack.seq, why).await?,
                                None => self.acked(ack.seq).await?,
                            }
                        }
                        Some(pb::controller_message::Msg::Directive(d)) => self.directive(&d),
                        other => tracing::debug!(?other, "ignored controller message"),
                    },
                },
            }
        }
    }

    fn directive(&self, d: &pb::Directive) {
        let d = grpc::directive(d, MAX_TEMPLATE_HINTS);
        let was = self
            .stats
            .analysis_paused
            .swap(d.analysis_paused, std::sync::atomic::Ordering::Relaxed);
        if was != d.analysis_paused {
            if d.analysis_paused {
                tracing::warn!(
                    until_ms = d.paused_until_ms,
                    "controller paused threat analysis for this tenant (plan cap); traffic is still counted"
                );
            } else {
                tracing::info!("controller resumed threat analysis");
            }
        }
        if let Some(hints) = d.templates {
            tracing::info!(
                templates = hints.len(),
                "endpoint templates from the controller"
            );
            self.templates.send_replace(Arc::new(hints));
        }
        if !d.notice.is_empty() {
            tracing::info!(notice = %d.notice, "directive from controller");
        }
    }

    /// Sets the batch `seq` aside (moved to the spool's `rejected/` folder, counted) and
    /// releases it and everything before it like an acknowledgement.
    async fn set_aside(&mut self, seq: u64, why: String) -> Result<(), SessionError> {
        let outbox = self.outbox.clone();
        tokio::task::spawn_blocking(move || outbox.set_aside(seq, &why))
            .await
            .map_err(|e| SessionError::Disk(std::io::Error::other(e)))?;
        self.acked(seq).await
    }

    /// Releases acknowledged batches: positions are saved first, then the spool files go,
    /// so a crash in between resends (harmlessly) rather than re-reads. The disk work (an
    /// fsync, deletes) runs on the blocking pool; the session waits for it, so the order holds.
    async fn acked(&mut self, seq: u64) -> Result<(), SessionError> {
        let committed = self.outbox.commit_through(seq);
        self.traces.on_ack(seq, &committed.seqs);
        let save = match committed.positions {
            Some(positions) if !positions.is_empty() => {
                for (k, v) in positions {
                    self.saved.insert(k.to_string(), v);
                }
                Some(self.saved.clone())
            }
            _ => None,
        };
        let (checkpoints, outbox, seqs) = (
            self.checkpoints.clone(),
            self.outbox.clone(),
            committed.seqs,
        );
        tokio::task::spawn_blocking(move || {
            if let Some(saved) = save {
                checkpoints.save(&saved).map_err(SessionError::Checkpoint)?;
            }
            outbox.unspool(&seqs);
            Ok(())
        })
        .await
        .map_err(|e| SessionError::Disk(std::io::Error::other(e)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let mut b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
            attempt: 0,
        };
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(100));
        for _ in 0..40 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(100) && d <= Duration::from_secs(2),
                "{d:?}"
            );
        }
        let late: Vec<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(
            late.iter().all(|d| *d >= Duration::from_secs(1)),
            "jitter stays in the upper half"
        );
    }
}
