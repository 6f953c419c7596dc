//! HTTP mirror listener: nginx's `mirror` directive or Envoy's `request_mirror_policies` send a
//! copy of each request here. The sensor sees the request line, headers and body (read up to
//! `max_body_bytes`, the rest counted and discarded) but no response, so status is 0. The
//! gateway never waits for the mirror: when the pipeline is saturated, requests are dropped and
//! counted.
//!
//! Protection: peers outside `allow` and connections over `max_connections` are closed right
//! after accept ([`super::guard`]); a request's headers must arrive within `header_timeout_ms`
//! and its body within `body_timeout_ms`, and a kept-alive connection may wait
//! `idle_timeout_ms` for its next request ([`ConnClock`]); forwarded client addresses count
//! only from `trusted_proxies` ([`client_address`]).

use super::guard::Guard;
use super::{Chunk, MAX_CHUNK_RECORDS};
use crate::identity::{Cidr, Credentials, Identifier};
use crate::record::{self, RequestRecord, Scheme};
use crate::stats::{ChunkTally, ListenerStats, SensorStats, SourceStats};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Requests queued between the listener and its chunker.
const QUEUE: usize = 8192;
/// A partial chunk is handed on after this long.
const CHUNK_LINGER: Duration = Duration::from_millis(50);

/// The mirror's time limits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request's first byte to the end of its headers.
    pub header: Duration,
    /// From the end of the headers to the end of the body.
    pub body: Duration,
    /// From the end of a request (or the accept) to the first byte of the next one.
    pub idle: Duration,
}

/// Settings of the mirror listener.
#[derive(Debug, Clone)]
pub struct MirrorSettings {
    pub default_host: String,
    /// Body bytes read per request; the rest is discarded (and still counted in sizes).
    pub max_body_bytes: usize,
    pub ident: Arc<Identifier>,
    /// Judge headers and bodies for injections.
    pub classify_injections: bool,
    /// Peers whose `X-Real-IP` / `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Believe `X-Real-IP` from trusted proxies (`mirror.real_ip_header`).
    pub real_ip_header: bool,
    pub timeouts: Timeouts,
}

/// Binds the mirror listener and serves it in the background. Returns the bound address and
/// the source's name.
pub async fn listen(
    cfg: &crate::config::MirrorConfig,
    classify_injections: bool,
    stats: Arc<SensorStats>,
    out: mpsc::Sender<Chunk>,
    ident: Arc<Identifier>,
) -> std::io::Result<(SocketAddr, String)> {
    let cidrs = |key, list| crate::config::listener_cidrs(key, list).map_err(std::io::Error::other);
    let allow = cidrs("mirror.allow", cfg.allow.as_ref())?;
    let trusted_proxies = cidrs("mirror.trusted_proxies", cfg.trusted_proxies.as_ref())?;
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let name: Arc<str> = format!("mirror:{addr}").into();
    if !addr.ip().is_loopback() && cfg.allow.is_none() {
        tracing::warn!(%addr, "the mirror listener binds a non-loopback address but admits loopback peers only; set mirror.allow (--mirror-allow CIDR) to the gateways that mirror");
    }
    let settings = MirrorSettings {
        default_host: cfg.default_host.clone(),
        max_body_bytes: cfg.max_body_bytes,
        ident,
        classify_injections,
        trusted_proxies,
        real_ip_header: cfg.real_ip_header,
        timeouts: Timeouts {
            header: Duration::from_millis(cfg.header_timeout_ms),
            body: Duration::from_millis(cfg.body_timeout_ms),
            idle: Duration::from_millis(cfg.idle_timeout_ms),
        },
    };
    let guard = Guard::new(
        stats.add_listener(name.to_string()),
        allow,
        cfg.max_connections,
    );
    tokio::spawn(serve(listener, guard, name.clone(), settings, stats, out));
    tracing::info!(%addr, "HTTP mirror listener ready");
    Ok((addr, name.to_string()))
}

/// The client of a mirrored request. The peer, unless it is a trusted proxy; then the
/// gateway's `X-Real-IP` (when given: `mirror.real_ip_header`), else `X-Forwarded-For` walked
/// from the right past trusted proxies (spoofed left-most entries are never reached), else the
/// peer.
pub fn client_address(
    peer: IpAddr,
    real_ip: Option<&str>,
    forwarded_for: Option<&str>,
    trusted: &[Cidr],
) -> IpAddr {
    if !trusted.iter().any(|c| c.contains(peer)) {
        return peer;
    }
    if let Some(ip) = real_ip.and_then(record::parse_ip) {
        return ip;
    }
    crate::identity::client_ip(Some(peer), forwarded_for, trusted).unwrap_or(peer)
}

/// Turns one mirrored request into a record. The client address: see [`client_address`].
pub fn record(
    parts: &hyper::http::request::Parts,
    body_bytes: u64,
    peer: SocketAddr,
    settings: &MirrorSettings,
    now_ms: i64,
) -> Result<RequestRecord, &'static str> {
    let h = &parts.headers;
    let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    let host = header("host")
        .or(parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    // Envoy marks mirrored authorities with a "-shadow" suffix.
    let host = host.strip_suffix("-shadow").unwrap_or(host);
    let scheme = match header("x-forwarded-proto") {
        Some("https") => Some(Scheme::Https),
        Some("http") => Some(Scheme::Http),
        _ => None,
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // Repeated X-Forwarded-For headers are one list, in order.
    let forwarded: Vec<&str> = h
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    let client = client_address(
        peer.ip(),
        header("x-real-ip").filter(|_| settings.real_ip_header),
        forwarded.as_deref(),
        &settings.trusted_proxies,
    );
    let header_bytes: u64 = h
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum();
    let mut rec = RequestRecord {
        ts_ms: now_ms,
        method: record::normalize_method(parts.method.as_str()).map_err(|_| "bad_method")?,
        host: record::normalize_host(host, scheme, &settings.default_host),
        target: record::normalize_target(target)
            .map_err(|_| "bad_target")?
            .to_owned(),
        status: 0,
        request_bytes: header_bytes + body_bytes,
        response_bytes: 0,
        latency_us: 0,
        scheme,
        ..Default::default()
    };
    let creds = Credentials {
        authorization: header("authorization"),
        api_key: header("x-api-key"),
        cookie: h.contains_key("cookie"),
        user: None,
        peer: Some(client),
        forwarded_for: None,
        user_agent: header("user-agent"),
    };
    settings.ident.apply(&mut rec, creds);
    Ok(rec)
}

/// Turns one mirrored request with the kept part of its body (`kept`, of `total` bytes) into a
/// record with its evidence: media-type label, body parameters and, when enabled, injection
/// findings in headers and body.
pub fn judge(
    parts: &hyper::http::request::Parts,
    kept: &[u8],
    total: u64,
    peer: SocketAddr,
    settings: &MirrorSettings,
    now_ms: i64,
) -> Result<RequestRecord, &'static str> {
    let mut r = record(parts, total, peer, settings, now_ms)?;
    let ct = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    // A value that is not visible ASCII is an unknown media type.
    r.content_type = match parts.headers.get("content-type") {
        Some(v) if v.to_str().is_err() => Some("other"),
        _ => picket_shared::media::header_label(ct),
    };
    r.body_params = picket_shared::params::body(ct, kept);
    if settings.classify_injections {
        let mut v = picket_shared::inject::Verdict::default();
        for (name, value) in &parts.headers {
            if name != "user-agent"
                && let Ok(value) = value.to_str()
            {
                picket_shared::inject::scan_header(name.as_str(), value, &mut v);
            }
        }
        let all: Vec<(&str, &str)> = (parts.headers.iter())
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
            .collect();
        picket_shared::inject::scan_headers(&all, &mut v);
        picket_shared::inject::scan_body(ct, kept, &mut v);
        r.injections.extend(v.findings);
    }
    Ok(r)
}

/// A request body as read: the kept bytes, the total length and whether it was cut short by
/// the body timeout.
pub struct Body {
    pub kept: Vec<u8>,
    pub total: u64,
    pub timed_out: bool,
}

/// Reads the body up to the cap and counts the rest, until `deadline`.
pub async fn drain_body(mut body: Incoming, cap: usize, deadline: Instant) -> Body {
    let mut b = Body {
        kept: Vec::new(),
        total: 0,
        timed_out: false,
    };
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(_)) | None) => break,
            Err(_) => {
                b.timed_out = true;
                break;
            }
        };
        if let Ok(data) = frame.into_data() {
            b.total += data.len() as u64;
            let room = cap.saturating_sub(b.kept.len());
            b.kept.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    b
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a request (since the accept or the previous request).
    Idle,
    /// A request's first bytes arrived; its headers are not complete.
    Head,
    /// The handler has the request (reading its body under the body timeout).
    Handling,
}

/// A connection's phase and when it began, for the header and idle timeouts (hyper's own
/// header timer would also cut idle kept-alive connections, so it is off).
#[derive(Debug)]
struct ConnClock(Mutex<(Phase, Instant)>);

impl ConnClock {
    fn new() -> Self {
        Self(Mutex::new((Phase::Idle, Instant::now())))
    }

    fn get(&self) -> (Phase, Instant) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, phase: Phase) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = (phase, Instant::now());
    }

    /// Bytes arrived: an idle connection starts a request.
    fn bytes_arrived(&self) {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if s.0 == Phase::Idle {
            *s = (Phase::Head, Instant::now());
        }
    }

    /// Resolves with the phase whose time ran out (`Idle` or `Head`).
    async fn expired(&self, t: Timeouts) -> Phase {
        loop {
            let (phase, since) = self.get();
            let limit = match phase {
                Phase::Idle => t.idle,
                Phase::Head => t.header,
                Phase::Handling => {
                    // The handler enforces the body timeout; look again later.
                    tokio::time::sleep(t.header.min(t.idle)).await;
                    continue;
                }
            };
            if Instant::now() >= since + limit {
                return phase;
            }
            tokio::time::sleep_until(since + limit).await;
        }
    }
}

/// A mirror connection that tells its [`ConnClock`] when bytes arrive.
struct WatchedIo {
    io: tokio::net::TcpStream,
    clock: Arc<ConnClock>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            me.clock.bytes_arrived();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What every connection task shares.
struct Shared {
    tx: mpsc::Sender<Result<RequestRecord, &'static str>>,
    settings: MirrorSettings,
    stats: Arc<SensorStats>,
    conns: Arc<ListenerStats>,
}

/// Accepts connections through the guard and serves each on a task of its own, until the
/// process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    mut guard: Guard,
    name: Arc<str>,
    settings: MirrorSettings,
    stats: Arc<SensorStats>,
    out: mpsc::Sender<Chunk>,
) {
    let src = stats.add_source(name.to_string());
    let (tx, rx) = mpsc::channel::<Result<RequestRecord, &'static str>>(QUEUE);
    tokio::spawn(chunker(rx, name, stats.clone(), src, out));
    let shared = Arc::new(Shared {
        tx,
        settings,
        stats,
        conns: guard.stats.clone(),
    });
    loop {
        let a = guard.admit(|| listener.accept()).await;
        let shared = shared.clone();
        tokio::spawn(async move {
            let _admission = a.admission;
            serve_connection(a.stream, a.peer, shared).await;
        });
    }
}

/// Serves one connection until it closes, errs or runs out of time.
async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let clock = Arc::new(ConnClock::new());
    let timeouts = shared.settings.timeouts;
    let service = {
        let (clock, shared) = (clock.clone(), shared.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let (clock, shared) = (clock.clone(), shared.clone());
            async move {
                clock.set(Phase::Handling);
                let result = handle(req, peer, &shared).await;
                clock.set(Phase::Idle);
                result
            }
        })
    };
    let io = hyper_util::rt::TokioIo::new(WatchedIo {
        io: stream,
        clock: clock.clone(),
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::select! {
        _ = conn => {}
        phase = clock.expired(timeouts) => {
            // Dropping the connection closes it.
            let counter = match phase {
                Phase::Head => &shared.conns.header_timeouts,
                _ => &shared.conns.idle_timeouts,
            };
            counter.fetch_add(1, Relaxed);
            tracing::debug!(%peer, ?phase, "mirror connection timed out");
        }
    }
}

/// The body took longer than the body timeout; the connection is closed.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within the body timeout")]
struct BodyTimeout;

/// Reads one mirrored request and hands its record on; answers 200 with no body.
async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<Response<http_body_util::Empty<hyper::body::Bytes>>, BodyTimeout> {
    let settings = &shared.settings;
    let (parts, body) = req.into_parts();
    let deadline = Instant::now() + settings.timeouts.body;
    let body = drain_body(body, settings.max_body_bytes, deadline).await;
    // A request whose body stalls still happened at the gateway: it is recorded with what
    // arrived, and the connection is closed.
    let rec = judge(
        &parts,
        &body.kept,
        body.total,
        peer,
        settings,
        picket_runtime::now_ms(),
    );
    if shared.tx.try_send(rec).is_err() {
        shared.stats.queue_full_drops.fetch_add(1, Relaxed);
    }
    if body.timed_out {
        shared.conns.body_timeouts.fetch_add(1, Relaxed);
        return Err(BodyTimeout);
    }
    Ok(Response::new(http_body_util::Empty::new()))
}

/// Groups mirrored requests into chunks for the aggregator.
async fn chunker(
    mut rx: mpsc::Receiver<Result<RequestRecord, &'static str>>,
    name: Arc<str>,
    stats: Arc<SensorStats>,
    src: Arc<SourceStats>,
    out: mpsc::Sender<Chunk>,
) {
    let mut records = Vec::new();
    let mut tally = ChunkTally::default();
    loop {
        let next = tokio::time::timeout(CHUNK_LINGER, rx.recv()).await;
        let (idle, closed) = (next.is_err(), matches!(next, Ok(None)));
        match next {
            Ok(Some(Ok(r))) => {
                tally.accept();
                records.push(r);
            }
            Ok(Some(Err(reason))) => tally.reject(reason),
            Ok(None) | Err(_) => {}
        }
        if records.len() >= MAX_CHUNK_RECORDS || ((idle || closed) && tally.received > 0) {
            stats.record(&src, &tally);
            tally = ChunkTally::default();
            let batch = std::mem::take(&mut records);
            let n = batch.len() as u64;
            if !batch.is_empty()
                && out
                    .try_send(Chunk {
                        can_wait: false,
                        source: name.clone(),
                        records: batch,
                        position: None,
                        record_ends: Vec::new(),
                    })
                    .is_err()
            {
                stats.queue_full_drops.fetch_add(n, Relaxed);
            }
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_request_becomes_a_record() {
        let req = Request::builder()
            .method("POST")
            .uri("/api/orders?x=1")
            .header("host", "shop.example-shadow")
            .header("x-forwarded-for", "10.0.0.1, 81.2.69.20")
            // A client's own X-Real-IP, passed through by a gateway that does not overwrite it.
            .header("x-real-ip", "6.6.6.6")
            .header("x-api-key", "k")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let ident = Identifier::new(
            crate::identity::PrincipalKey::from_bytes([1; 32]),
            Vec::new(),
        );
        let settings = MirrorSettings {
            default_host: "d".into(),
            max_body_bytes: 10,
            ident: Arc::new(ident),
            classify_injections: true,
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            real_ip_header: false,
            timeouts: Timeouts {
                header: Duration::from_secs(1),
                body: Duration::from_secs(1),
                idle: Duration::from_secs(1),
            },
        };
        let r = record(&parts, 100, "127.0.0.1:5000".parse().unwrap(), &settings, 7).unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_str(), r.target.as_str()),
            ("POST", "shop.example", "/api/orders?x=1")
        );
        assert_eq!(r.client_ip, "81.2.69.20".parse().ok());
        assert!(r.auth_present);
        assert!(r.request_bytes >= 100);
        assert_eq!(r.status, 0);
        // Believed only when the operator says the gateway overwrites it.
        let settings = MirrorSettings {
            real_ip_header: true,
            ..settings
        };
        let r = record(&parts, 100, "127.0.0.1:5000".parse().unwrap(), &settings, 7).unwrap();
        assert_eq!(r.client_ip, "6.6.6.6".parse().ok());
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = ["127.0.0.0/8", "10.0.0.0/8"]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let (lo, outsider) = (ip("127.0.0.1"), ip("203.0.113.9"));
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(
            client_address(outsider, Some("81.2.69.1"), Some("81.2.69.2"), &trusted),
            outsider
        );
        // A trusted peer's X-Real-IP wins; a malformed one falls back to the walk.
        assert_eq!(
            client_address(lo, Some("81.2.69.1"), None, &trusted),
            ip("81.2.69.1")
        );
        assert_eq!(
            client_address(lo, Some("nonsense"), Some("81.2.69.2"), &trusted),
            ip("81.2.69.2")
        );
        // X-Forwarded-For is walked from the right past trusted hops; spoofed left-most
        // entries are never reached.
        assert_eq!(
            client_address(lo, None, Some("6.6.6.6, 81.2.69.3, 10.0.0.7"), &trusted),
            ip("81.2.69.3")
        );
        assert_eq!(
            client_address(lo, None, Some("6.6.6.6,81.2.69.4"), &trusted),
            ip("81.2.69.4")
        );
        // All hops trusted: the left-most one; none: the peer.
        assert_eq!(
            client_address(lo, None, Some("10.0.0.1, 10.0.0.2"), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(client_address(lo, None, None, &trusted), lo);
        // No trusted proxies at all: always the peer.
        assert_eq!(client_address(lo, Some("81.2.69.1"), None, &[]), lo);
    }
}
