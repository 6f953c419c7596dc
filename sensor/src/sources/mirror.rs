//! HTTP mirror listener: nginx's `mirror` directive or Envoy's `request_mirror_policies` send a
//! copy of each request here. The sensor sees the request line, headers and body (read up to
//! `max_body_bytes`, the rest counted and discarded) but no response, so status is 0. The
//! gateway never waits for the mirror: when the pipeline is saturated, requests are dropped and
//! counted.

use super::{Chunk, MAX_CHUNK_RECORDS};
use crate::identity::{Credentials, Identifier};
use crate::record::{self, RequestRecord, Scheme};
use crate::stats::{ChunkTally, SensorStats, SourceStats};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::mpsc;

/// Requests queued between the listener and its chunker.
const QUEUE: usize = 8192;
/// A partial chunk is handed on after this long.
const CHUNK_LINGER: Duration = Duration::from_millis(50);
/// Most concurrent mirror connections.
const MAX_CONNECTIONS: usize = 1024;

/// Settings of the mirror listener.
#[derive(Debug, Clone)]
pub struct MirrorSettings {
    pub default_host: String,
    /// Body bytes read per request; the rest is discarded (and still counted in sizes).
    pub max_body_bytes: usize,
    pub ident: Arc<Identifier>,
    /// Judge headers and bodies for injections.
    pub classify_injections: bool,
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
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let name: Arc<str> = format!("mirror:{addr}").into();
    let settings = MirrorSettings {
        default_host: cfg.default_host.clone(),
        max_body_bytes: cfg.max_body_bytes,
        ident,
        classify_injections,
    };
    tokio::spawn(serve(listener, name.clone(), settings, stats, out));
    tracing::info!(%addr, "HTTP mirror listener ready");
    Ok((addr, name.to_string()))
}

/// Turns one mirrored request into a record. The client address is the gateway's
/// `X-Real-IP`, else the last `X-Forwarded-For` hop, else the connection's peer.
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
    // The gateway that mirrors is the peer; it names the client in X-Real-IP or appends it to
    // X-Forwarded-For, so the peer always counts as a trusted hop here.
    let client = header("x-real-ip")
        .and_then(record::parse_ip)
        .or_else(|| {
            header("x-forwarded-for")
                .and_then(|v| v.rsplit(',').next())
                .and_then(record::parse_ip)
        })
        .unwrap_or(peer.ip());
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

/// Reads the body up to the cap and counts the rest.
pub async fn drain_body(mut body: Incoming, cap: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            let room = cap.saturating_sub(kept.len());
            kept.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    (kept, total)
}

/// Binds the listener and serves until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    name: Arc<str>,
    settings: MirrorSettings,
    stats: Arc<SensorStats>,
    out: mpsc::Sender<Chunk>,
) {
    let src = stats.add_source(name.to_string());
    let (tx, rx) = mpsc::channel::<Result<RequestRecord, &'static str>>(QUEUE);
    tokio::spawn(chunker(rx, name, stats.clone(), src, out));
    let settings = Arc::new(settings);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the connection limit: refuse rather than queue unboundedly.
            continue;
        };
        let (tx, settings, stats) = (tx.clone(), settings.clone(), stats.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (tx, settings, stats) = (tx.clone(), settings.clone(), stats.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let (kept, total) = drain_body(body, settings.max_body_bytes).await;
                    let rec = judge(
                        &parts,
                        &kept,
                        total,
                        peer,
                        &settings,
                        picket_runtime::now_ms(),
                    );
                    if tx.try_send(rec).is_err() {
                        stats.queue_full_drops.fetch_add(1, Relaxed);
                    }
                    Ok::<_, Infallible>(Response::new(
                        http_body_util::Empty::<hyper::body::Bytes>::new(),
                    ))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(io, service);
            let _ = conn.await;
            drop(permit);
        });
    }
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
    }
}
