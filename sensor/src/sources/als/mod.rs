//! Envoy gRPC Access Log Service sink (`envoy.service.accesslog.v3`). Envoy, Istio, Envoy
//! Gateway and Contour stream HTTP access-log entries here. ALS never acknowledges and is lossy
//! by design: the sensor counts what arrives; TCP entries and unusable entries are counted and
//! skipped, never fatal.
//!
//! Messages are decoded into the trimmed types of [`wire`] (only the fields [`convert`] reads,
//! strings borrowed from the received frame), not into `envoy-types`' full messages.

pub mod conn;
pub mod wire;

use super::guard::Guard;
use super::{Chunk, MAX_CHUNK_RECORDS};
use crate::identity::{Credentials, Identifier};
use crate::record::{self, RequestRecord, Scheme};
use crate::stats::{ChunkTally, ListenerStats, SensorStats, SourceStats};
use bytes::Bytes;
use conn::{GuardedIo, Transport};
use prost_types::{Duration as PbDuration, Timestamp};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};
use wire::access_log_service_server::{AccessLogService, AccessLogServiceServer};
use wire::{
    AddressKind, HttpAccessLogEntry, LogEntries, StreamAccessLogsMessage, StreamAccessLogsResponse,
};

/// Largest ALS message accepted, in bytes.
pub const MAX_ALS_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Connections admitted and waiting for tonic to take them.
const ADMITTED_QUEUE: usize = 64;

/// Binds the ALS listener and serves Envoy's access-log streams on it in the background:
/// peers outside `allow` and connections over `max_connections` are closed at once (counted),
/// TLS (with client certificates when `tls_client_ca_file` is set) is negotiated after that,
/// a connection whose HTTP/2 preface has not arrived `preface_timeout_ms` after that is
/// closed, quiet streams end after `idle_timeout_ms`. Returns the bound address and the source's name.
pub async fn listen(
    cfg: &crate::config::AlsConfig,
    stats: Arc<SensorStats>,
    out: mpsc::Sender<Chunk>,
    ident: Arc<Identifier>,
) -> std::io::Result<(std::net::SocketAddr, String)> {
    let tls = match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(cert), Some(key)) => {
            let files = picket_runtime::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: cfg.tls_client_ca_file.clone(),
            };
            let tls = picket_runtime::tls::TlsServer::load(files)
                .map_err(|e| std::io::Error::other(format!("ALS TLS: {e}")))?;
            // Runs for the life of the process: renewed certificates serve new connections.
            tls.spawn_reloader();
            Some(tls)
        }
        (None, None) if cfg.tls_client_ca_file.is_some() => {
            return Err(std::io::Error::other(
                "als.tls_client_ca_file needs als.tls_cert_file and als.tls_key_file",
            ));
        }
        (None, None) => None,
        _ => {
            return Err(std::io::Error::other(
                "als.tls_cert_file and als.tls_key_file go together",
            ));
        }
    };
    let allow = crate::config::listener_cidrs("als.allow", cfg.allow.as_ref())
        .map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let name: Arc<str> = format!("envoy-als:{addr}").into();
    if !addr.ip().is_loopback() && cfg.allow.is_none() {
        tracing::warn!(%addr, "the ALS listener binds a non-loopback address but admits loopback peers only; set als.allow (--als-allow CIDR) to the proxies that send access logs");
    }
    let conns = stats.add_listener(name.to_string());
    let guard = Guard::new(conns.clone(), allow, cfg.max_connections);
    let sink = AlsSink::new(name.clone(), &cfg.default_host, stats, out, ident)
        .with_idle_timeout(Duration::from_millis(cfg.idle_timeout_ms), conns.clone());
    let (tx, rx) = mpsc::channel::<std::io::Result<GuardedIo>>(ADMITTED_QUEUE);
    let preface = Duration::from_millis(cfg.preface_timeout_ms);
    tokio::spawn(admit(listener, guard, tls, preface, tx));
    let router = tonic::transport::Server::builder()
        // Envoy keeps one stream per worker; bound them anyway.
        .concurrency_limit_per_connection(64)
        .http2_keepalive_interval(Some(Duration::from_millis(cfg.keepalive_interval_ms)))
        .http2_keepalive_timeout(Some(Duration::from_millis(cfg.keepalive_timeout_ms)))
        .add_service(sink.into_service());
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::error!(error = %e, "ALS listener failed");
        }
    });
    tracing::info!(%addr, "envoy ALS listener ready");
    Ok((addr, name.to_string()))
}

/// Accepts connections through the guard, completes TLS handshakes (concurrently, each
/// holding its place under the cap) and hands the connections to tonic.
async fn admit(
    listener: tokio::net::TcpListener,
    mut guard: Guard,
    tls: Option<Arc<picket_runtime::tls::TlsServer>>,
    preface: Duration,
    tx: mpsc::Sender<std::io::Result<GuardedIo>>,
) {
    loop {
        let a = tokio::select! {
            a = guard.admit(|| listener.accept()) => a,
            () = tx.closed() => return,
        };
        let _ = a.stream.set_nodelay(true);
        match &tls {
            None => {
                let io = GuardedIo::new(Transport::Plain(a.stream), a.peer, a.admission, preface);
                if tx.send(Ok(io)).await.is_err() {
                    return;
                }
            }
            Some(tls) => {
                let (tls, tx, conns) = (tls.clone(), tx.clone(), guard.stats.clone());
                tokio::spawn(async move {
                    match tls.handshake(a.stream, a.peer).await {
                        Some(s) => {
                            let io = GuardedIo::new(
                                Transport::Tls(Box::new(s)),
                                a.peer,
                                a.admission,
                                preface,
                            );
                            let _ = tx.send(Ok(io)).await;
                        }
                        None => {
                            conns.tls_failed.fetch_add(1, Relaxed);
                        }
                    }
                });
            }
        }
    }
}

/// The ALS gRPC service of the sensor.
#[derive(Clone)]
pub struct AlsSink {
    name: Arc<str>,
    default_host: Arc<str>,
    stats: Arc<SensorStats>,
    src: Arc<SourceStats>,
    out: mpsc::Sender<Chunk>,
    ident: Arc<Identifier>,
    /// A stream with no message for this long is ended.
    idle: Duration,
    /// Where ended idle streams are counted.
    conns: Option<Arc<ListenerStats>>,
}

/// How long a stream may stay quiet when no listener configured it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

impl AlsSink {
    pub fn new(
        name: Arc<str>,
        default_host: &str,
        stats: Arc<SensorStats>,
        out: mpsc::Sender<Chunk>,
        ident: Arc<Identifier>,
    ) -> Self {
        let src = stats.add_source(name.to_string());
        Self {
            name,
            default_host: default_host.into(),
            stats,
            src,
            out,
            ident,
            idle: DEFAULT_IDLE_TIMEOUT,
            conns: None,
        }
    }

    /// Ends streams that stay quiet for `idle` (counted in `conns`); Envoy opens a new one
    /// when it next logs.
    pub fn with_idle_timeout(mut self, idle: Duration, conns: Arc<ListenerStats>) -> Self {
        self.idle = idle;
        self.conns = Some(conns);
        self
    }

    /// The tonic service, with the message-size limit applied.
    pub fn into_service(self) -> AccessLogServiceServer<Self> {
        AccessLogServiceServer::new(self).max_decoding_message_size(MAX_ALS_MESSAGE_BYTES)
    }

    /// Converts one message's entries into `pending`, handing on every full chunk.
    async fn handle(&self, msg: StreamAccessLogsMessage, pending: &mut Vec<RequestRecord>) {
        let mut tally = ChunkTally::default();
        match msg.log_entries {
            Some(LogEntries::HttpLogs(http)) => {
                for entry in http.log_entry {
                    match convert(&entry, &self.default_host, &self.ident) {
                        Ok(r) => {
                            tally.accept();
                            pending.push(r);
                        }
                        Err(reason) => tally.reject(reason),
                    }
                    if pending.len() >= MAX_CHUNK_RECORDS {
                        self.send(pending).await;
                    }
                }
            }
            Some(LogEntries::TcpLogs(tcp)) => {
                for _ in tcp.log_entry {
                    tally.reject("als_tcp_entry");
                }
            }
            None => tally.reject("als_empty_message"),
        }
        self.stats.record(&self.src, &tally);
    }

    /// Hands `records` on as one chunk (leaving it empty, with room for the next).
    async fn send(&self, records: &mut Vec<RequestRecord>) {
        if records.is_empty() {
            return;
        }
        let records = std::mem::replace(records, Vec::with_capacity(MAX_CHUNK_RECORDS));
        let n = records.len() as u64;
        let chunk = Chunk {
            can_wait: false,
            source: self.name.clone(),
            records,
            position: None,
            record_ends: Vec::new(),
        };
        // ALS is lossy by contract; when the aggregator is saturated, drop and count rather than
        // stall Envoy's stream.
        if self.out.try_send(chunk).is_err() {
            self.stats
                .queue_full_drops
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The stream's next message if one is ready now (`None` if it would have to wait).
async fn ready_message<T>(stream: &mut Streaming<T>) -> Option<Result<Option<T>, Status>> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *stream).poll_next(cx) {
            Poll::Ready(Some(Ok(m))) => Some(Ok(Some(m))),
            Poll::Ready(Some(Err(e))) => Some(Err(e)),
            Poll::Ready(None) => Some(Ok(None)),
            Poll::Pending => None,
        })
    })
    .await
}

#[tonic::async_trait]
impl AccessLogService for AlsSink {
    async fn stream_access_logs(
        &self,
        request: Request<Streaming<StreamAccessLogsMessage>>,
    ) -> Result<Response<StreamAccessLogsResponse>, Status> {
        let mut stream = request.into_inner();
        // Entries of consecutive messages share a chunk (Envoy sends ~100 per message): fewer,
        // fuller chunks for the aggregator. What is buffered goes on as soon as the stream has
        // nothing more ready, so nothing waits for the next message.
        let mut pending = Vec::with_capacity(MAX_CHUNK_RECORDS);
        loop {
            let next = if pending.is_empty() {
                match tokio::time::timeout(self.idle, stream.message()).await {
                    Ok(next) => next,
                    Err(_) => {
                        if let Some(c) = &self.conns {
                            c.idle_timeouts.fetch_add(1, Relaxed);
                        }
                        tracing::debug!(source = %self.name, "quiet ALS stream ended");
                        break;
                    }
                }
            } else {
                match ready_message(&mut stream).await {
                    Some(next) => next,
                    None => {
                        self.send(&mut pending).await;
                        continue;
                    }
                }
            };
            match next {
                Ok(Some(msg)) => self.handle(msg, &mut pending).await,
                Ok(None) => break,
                Err(status) => {
                    self.send(&mut pending).await;
                    // A message that fails to decode ends the stream; Envoy reconnects.
                    let mut tally = ChunkTally::default();
                    tally.reject("als_decode_error");
                    self.stats.record(&self.src, &tally);
                    tracing::debug!(source = %self.name, %status, "als stream error");
                    return Err(status);
                }
            }
        }
        self.send(&mut pending).await;
        Ok(Response::new(StreamAccessLogsResponse {}))
    }
}

fn timestamp_ms(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos / 1_000_000))
}

fn duration_us(d: &PbDuration) -> u64 {
    let us = d
        .seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(d.nanos / 1000));
    u64::try_from(us).unwrap_or(0)
}

/// A string field as text. Envoy sends UTF-8; an entry whose used fields are not is rejected
/// (fields the sensor does not read are never checked).
fn text(raw: &Bytes) -> Result<&str, &'static str> {
    std::str::from_utf8(raw).map_err(|_| "als_bad_utf8")
}

/// A string field as text, `None` when empty.
fn non_empty(raw: &Bytes) -> Result<Option<&str>, &'static str> {
    text(raw).map(|t| Some(t).filter(|t| !t.is_empty()))
}

/// Turns one Envoy HTTP entry into a request record, or names why it cannot.
pub fn convert(
    entry: &HttpAccessLogEntry,
    default_host: &str,
    ident: &Identifier,
) -> Result<RequestRecord, &'static str> {
    let common = entry
        .common_properties
        .as_ref()
        .ok_or("als_missing_common")?;
    let req = entry.request.as_ref().ok_or("als_missing_request")?;
    let method = wire::method_name(req.request_method).ok_or("bad_method")?;
    let target = if req.path.is_empty() {
        &req.original_path
    } else {
        &req.path
    };
    let target = record::normalize_target(text(target)?).map_err(|_| "bad_target")?;
    let scheme = match &req.scheme[..] {
        b"https" => Some(Scheme::Https),
        b"http" => Some(Scheme::Http),
        _ => None,
    };
    let ts_ms = common
        .start_time
        .as_ref()
        .map_or_else(picket_runtime::now_ms, timestamp_ms);
    let latency_us = common
        .time_to_last_downstream_tx_byte
        .as_ref()
        .or(common.duration.as_ref())
        .map_or(0, duration_us);
    let client_ip = match common
        .downstream_remote_address
        .as_ref()
        .and_then(|a| a.address.as_ref())
    {
        Some(AddressKind::SocketAddress(s)) => record::parse_ip(text(&s.address)?),
        _ => None,
    };
    // Envoy logs header names as configured; look them up case-insensitively. Of repeated
    // names the last wins, as it would in the map Envoy's schema declares.
    let header = |name: &str| {
        req.request_headers
            .iter()
            .rev()
            .find(|h| h.key.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| text(&h.value))
            .transpose()
    };
    let resp = entry.response.as_ref();
    let mut rec = RequestRecord {
        ts_ms,
        method: method.to_owned(),
        host: record::normalize_host(text(&req.authority)?, scheme, default_host),
        target: target.to_owned(),
        status: resp
            .and_then(|r| r.response_code.as_ref())
            .and_then(|c| u16::try_from(c.value).ok())
            .unwrap_or(0),
        request_bytes: req
            .request_headers_bytes
            .saturating_add(req.request_body_bytes),
        response_bytes: resp.map_or(0, |r| r.response_body_bytes),
        latency_us,
        scheme,
        ..Default::default()
    };
    let forwarded_for = match non_empty(&req.forwarded_for)? {
        Some(f) => Some(f),
        None => header("x-forwarded-for")?,
    };
    let creds = Credentials {
        authorization: header("authorization")?,
        api_key: header("x-api-key")?,
        cookie: req
            .request_headers
            .iter()
            .any(|h| h.key.eq_ignore_ascii_case(b"cookie")),
        user: None,
        peer: client_ip,
        forwarded_for,
        user_agent: non_empty(&req.user_agent)?,
    };
    // Logged only when Envoy is told to (`additional_request_headers_to_log`); a value that is
    // not UTF-8 is an unknown media type, not a reason to lose the request.
    rec.content_type = match header("content-type") {
        Ok(v) => picket_shared::media::header_label(v),
        Err(_) => Some("other"),
    };
    ident.apply(&mut rec, creds);
    Ok(rec)
}

#[cfg(test)]
mod tests;
