//! The webhook HTTP client: one POST per connection, HTTP/1.1 (hyper 1) over a tokio
//! `TcpStream`, or over `tokio-rustls` (ring provider, the Mozilla roots of `webpki-roots`)
//! for `https://`. Every attempt has a connect deadline and a total deadline; the answer's
//! body is read up to [`MAX_RESPONSE_BYTES`] (only its start is kept, for the error text).
//! Resolved addresses pass [`url::check_ip`] before any connection, so a name that resolves
//! to a metadata address is refused like the literal.

use super::url::{Target, check_ip};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Most response-body bytes read from a receiver.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Most response-body bytes kept for an error message.
const ERROR_BODY_BYTES: usize = 200;
/// Most resolved addresses tried per attempt.
const MAX_ADDRESSES: usize = 4;

/// Deadlines of one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub connect: Duration,
    pub total: Duration,
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The start of the body (lossy UTF-8), for error messages.
    pub body_start: String,
}

/// Why an attempt got no answer. `reason()` is the metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("resolving {0}")]
    Resolve(String),
    #[error("{0}")]
    Refused(String),
    #[error("connecting: {0}")]
    Connect(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("http: {0}")]
    Http(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl PostError {
    pub fn reason(&self) -> &'static str {
        match self {
            PostError::Resolve(_) => "resolve",
            PostError::Refused(_) => "refused_address",
            PostError::Connect(_) => "connect",
            PostError::Tls(_) => "tls",
            PostError::Http(_) => "http",
            PostError::Timeout(_) => "timeout",
        }
    }
}

/// The one TLS client configuration (built on first use): ring, the webpki roots, ALPN
/// `http/1.1`.
fn tls_config() -> Result<Arc<tokio_rustls::rustls::ClientConfig>, PostError> {
    use tokio_rustls::rustls;
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(cfg))
        })
        .clone()
        .map_err(PostError::Tls)
}

/// POSTs `body` to `target` with `headers`, within the deadlines.
pub async fn post(
    target: &Target,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
    d: Deadlines,
) -> Result<Answer, PostError> {
    let start = Instant::now();
    match tokio::time::timeout(d.total, attempt(target, headers, body, d.connect, start)).await {
        Ok(r) => r,
        Err(_) => Err(PostError::Timeout(d.total)),
    }
}

async fn attempt(
    target: &Target,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
    connect: Duration,
    start: Instant,
) -> Result<Answer, PostError> {
    let stream = tokio::time::timeout(connect, dial(target))
        .await
        .map_err(|_| PostError::Timeout(connect))??;
    let req = request(target, headers, body)?;
    if !target.https {
        return exchange(stream, req).await;
    }
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| PostError::Tls(e.to_string()))?;
    let left = connect.saturating_sub(start.elapsed());
    let tls = tokio::time::timeout(
        left,
        tokio_rustls::TlsConnector::from(tls_config()?).connect(name, stream),
    )
    .await
    .map_err(|_| PostError::Timeout(connect))?
    .map_err(|e| PostError::Tls(e.to_string()))?;
    exchange(tls, req).await
}

async fn dial(target: &Target) -> Result<TcpStream, PostError> {
    let addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| PostError::Resolve(format!("{}: {e}", target.host)))?;
    let mut last = PostError::Resolve(format!("{}: no addresses", target.host));
    for addr in addrs.take(MAX_ADDRESSES) {
        if let Err(e) = check_ip(addr.ip()) {
            last = PostError::Refused(e);
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = PostError::Connect(format!("{addr}: {e}")),
        }
    }
    Err(last)
}

fn request(
    target: &Target,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<http::Request<Full<Bytes>>, PostError> {
    let mut b = http::Request::post(target.path.as_str())
        .header(http::header::HOST, target.authority())
        .header(http::header::USER_AGENT, "picket-controller")
        .header(http::header::CONNECTION, "close");
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(body)))
        .map_err(|e| PostError::Http(e.to_string()))
}

async fn exchange<IO>(io: IO, req: http::Request<Full<Bytes>>) -> Result<Answer, PostError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| PostError::Http(e.to_string()))?;
    // The connection task ends with the exchange (`Connection: close`), or is aborted when
    // this future is dropped by the total deadline.
    let driver = tokio::spawn(conn);
    let _abort = AbortOnDrop(driver);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| PostError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut kept = Vec::new();
    let mut read = 0usize;
    while read < MAX_RESPONSE_BYTES {
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Err(PostError::Http(format!("reading the answer: {e}"))),
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    read += d.len();
                    let room = ERROR_BODY_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&d[..d.len().min(room)]);
                }
            }
        }
    }
    Ok(Answer {
        status,
        body_start: String::from_utf8_lossy(&kept).into_owned(),
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn target(port: u16, https: bool) -> Target {
        Target {
            https,
            host: "127.0.0.1".into(),
            port,
            path: "/hook".into(),
        }
    }

    const D: Deadlines = Deadlines {
        connect: Duration::from_secs(5),
        total: Duration::from_secs(10),
    };

    /// A one-connection server answering `answer` after reading the request head.
    async fn server(answer: Vec<u8>, wait: Duration) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            tokio::time::sleep(wait).await;
            let _ = s.write_all(&answer).await;
        });
        port
    }

    #[tokio::test]
    async fn answers_are_read_with_a_cap() {
        let big = "x".repeat(MAX_RESPONSE_BYTES * 2);
        let answer = format!(
            "HTTP/1.1 503 Busy\r\ncontent-length: {}\r\n\r\n{big}",
            big.len()
        );
        let port = server(answer.into_bytes(), Duration::ZERO).await;
        let a = post(&target(port, false), &[], b"{}".to_vec(), D)
            .await
            .unwrap();
        assert_eq!(a.status, 503);
        assert_eq!(
            a.body_start.len(),
            ERROR_BODY_BYTES,
            "only the start is kept"
        );
    }

    #[tokio::test]
    async fn a_silent_receiver_times_out_and_a_closed_port_fails_to_connect() {
        let port = server(Vec::new(), Duration::from_secs(30)).await;
        let short = Deadlines {
            connect: Duration::from_millis(500),
            total: Duration::from_millis(500),
        };
        let e = post(&target(port, false), &[], vec![], short)
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "timeout", "{e}");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let e = post(&target(port, false), &[], vec![], D)
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "connect", "{e}");
    }

    #[tokio::test]
    async fn https_speaks_tls_and_refuses_a_plain_server() {
        let port = server(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), Duration::ZERO).await;
        let e = post(&target(port, true), &[], vec![], D).await.unwrap_err();
        assert_eq!(e.reason(), "tls", "{e}");
    }
}
