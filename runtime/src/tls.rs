//! TLS for a gRPC listener (the controller's, the sensor's ALS), with optional client
//! certificates (mTLS), reloaded when the files change.
//!
//! Reload without dropping anything: every handshake reads the current `TlsAcceptor` (a
//! rustls `ServerConfig`) under a lock; [`TlsServer::reload_if_changed`] builds a new one when
//! a file's modification time or length changed and swaps it in. Established connections
//! keep the session they negotiated, so open streams live on; new connections get the new
//! certificate and client CA. A reload that fails (a half-written file) keeps the old
//! configuration and is retried at the next check.

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How often the certificate files are checked for changes.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most handshakes in progress at once; further connections wait to be accepted.
pub const MAX_PENDING_HANDSHAKES: usize = 256;
/// Largest certificate, key or CA file read, in bytes.
pub const MAX_PEM_FILE_BYTES: u64 = 1 << 20;

/// The files of the listener's TLS identity and, for mTLS, the client CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate issued by one of these CAs.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is larger than {MAX_PEM_FILE_BYTES} bytes")]
    TooLarge(PathBuf),
    #[error("{0} holds no PEM {1}")]
    Empty(PathBuf, &'static str),
    #[error("{0}: {1}")]
    Pem(PathBuf, String),
    #[error("building the TLS configuration: {0}")]
    Config(String),
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    let meta = std::fs::metadata(path).map_err(|e| TlsError::Read(path.into(), e))?;
    if meta.len() > MAX_PEM_FILE_BYTES {
        return Err(TlsError::TooLarge(path.into()));
    }
    std::fs::read(path).map_err(|e| TlsError::Read(path.into(), e))
}

/// The PEM files a TLS client presents and trusts, read whole: the trust root for the server
/// and, for mTLS, the client's own certificate chain and key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPem {
    /// The CA certificates the server's chain must lead to; `None` uses the client's default.
    pub ca: Option<Vec<u8>>,
    /// The client's certificate chain and private key.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// Reads a client's TLS files (each at most [`MAX_PEM_FILE_BYTES`]); `None` when none is set.
/// The certificate and key go together.
pub fn client_pem(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<ClientPem>, TlsError> {
    if ca.is_none() && cert.is_none() && key.is_none() {
        return Ok(None);
    }
    let identity = match (cert, key) {
        (Some(cert), Some(key)) => Some((read_pem(cert)?, read_pem(key)?)),
        (None, None) => None,
        _ => {
            return Err(TlsError::Config(
                "the client certificate and key go together".into(),
            ));
        }
    };
    Ok(Some(ClientPem {
        ca: ca.map(read_pem).transpose()?,
        identity,
    }))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(path.into(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Empty(path.into(), "certificate"));
    }
    Ok(certs)
}

fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read_pem(&files.key)?)
        .map_err(|e| TlsError::Pem(files.key.clone(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| TlsError::Pem(ca.clone(), e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    // gRPC is HTTP/2 only.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// What identifies a file's version: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamps(files: &TlsFiles) -> Vec<Stamp> {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

/// The listener's TLS state: the acceptor in force and what it was built from.
pub struct TlsServer {
    files: TlsFiles,
    acceptor: Mutex<(TlsAcceptor, Vec<Stamp>)>,
    /// Handshakes that failed or timed out (no certificate, wrong CA, plaintext clients).
    pub handshakes_failed: AtomicU64,
    /// Reloads that failed (the previous configuration stayed in force).
    pub reloads_failed: AtomicU64,
    pub reloads: AtomicU64,
}

impl TlsServer {
    /// Loads the files; fails when they do not make a valid configuration.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let stamp = stamps(&files);
        let config = server_config(&files)?;
        Ok(Arc::new(Self {
            files,
            acceptor: Mutex::new((TlsAcceptor::from(config), stamp)),
            handshakes_failed: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
        }))
    }

    fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// Rebuilds the configuration when a file changed. `None`: nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = stamps(&self.files);
        {
            let cur = self.acceptor.lock().unwrap_or_else(PoisonError::into_inner);
            if cur.1 == now {
                return None;
            }
        }
        let result = server_config(&self.files).map(|config| {
            *self.acceptor.lock().unwrap_or_else(PoisonError::into_inner) =
                (TlsAcceptor::from(config), now);
        });
        match &result {
            Ok(()) => {
                self.reloads.fetch_add(1, Relaxed);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificates reloaded");
            }
            Err(e) => {
                self.reloads_failed.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "TLS reload failed; the previous certificates stay in force");
            }
        }
        Some(result)
    }

    /// Checks the files every [`RELOAD_CHECK_INTERVAL`] until the returned task is aborted.
    pub fn spawn_reloader(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_CHECK_INTERVAL);
            loop {
                tick.tick().await;
                let m = me.clone();
                let _ = tokio::task::spawn_blocking(move || m.reload_if_changed()).await;
            }
        })
    }

    /// Completes the server handshake of one connection the caller accepted (and, say,
    /// filtered by peer) within [`HANDSHAKE_TIMEOUT`]. A failure or timeout is counted in
    /// `handshakes_failed`, logged, and returned as `None`.
    pub async fn handshake<IO>(&self, io: IO, peer: std::net::SocketAddr) -> Option<TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor().accept(io)).await {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                self.handshakes_failed.fetch_add(1, Relaxed);
                tracing::info!(%peer, error = %e, "TLS handshake refused");
                None
            }
            Err(_) => {
                self.handshakes_failed.fetch_add(1, Relaxed);
                tracing::info!(%peer, "TLS handshake timed out");
                None
            }
        }
    }

    /// Accepts TCP connections and completes their handshakes concurrently (each within
    /// [`HANDSHAKE_TIMEOUT`], at most [`MAX_PENDING_HANDSHAKES`] at once), yielding the
    /// established TLS streams. Ends when the receiver is dropped.
    pub fn incoming(
        self: &Arc<Self>,
        listener: TcpListener,
    ) -> tokio::sync::mpsc::Receiver<std::io::Result<TlsStream<TcpStream>>> {
        let (tx, rx) = tokio::sync::mpsc::channel(MAX_PENDING_HANDSHAKES);
        let me = self.clone();
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    () = tx.closed() => return,
                };
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (tx, me) = (tx.clone(), me.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Some(tls) = me.handshake(tcp, peer).await {
                        let _ = tx.send(Ok(tls)).await;
                    }
                });
            }
        });
        rx
    }
}

/// Whether a client's leaf certificate names `sensor_id` as a DNS subject alternative name
/// (the check behind `[tls] bind_sensor_id`). Ids that are not valid DNS names (`_`) never
/// match.
pub fn names_sensor(leaf: &CertificateDer<'_>, sensor_id: &str) -> bool {
    let Ok(name) = rustls::pki_types::ServerName::try_from(sensor_id) else {
        return false;
    };
    if !matches!(name, rustls::pki_types::ServerName::DnsName(_)) {
        return false;
    }
    rustls::server::ParsedCertificate::try_from(leaf)
        .and_then(|cert| rustls::client::verify_server_name(&cert, &name))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_files_are_read_whole_and_paired() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let cert = dir.path().join("c.pem");
        let big = dir.path().join("big.pem");
        std::fs::write(&ca, b"ca").unwrap();
        std::fs::write(&cert, b"cert").unwrap();
        std::fs::write(&big, vec![b'x'; MAX_PEM_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(client_pem(None, None, None).unwrap(), None);
        let only_ca = client_pem(Some(&ca), None, None).unwrap().unwrap();
        assert_eq!(
            (only_ca.ca.as_deref(), only_ca.identity),
            (Some(&b"ca"[..]), None)
        );
        let both = client_pem(None, Some(&cert), Some(&ca)).unwrap().unwrap();
        assert_eq!(both.identity, Some((b"cert".to_vec(), b"ca".to_vec())));
        assert!(matches!(
            client_pem(None, Some(&cert), None),
            Err(TlsError::Config(_))
        ));
        assert!(matches!(
            client_pem(Some(&big), None, None),
            Err(TlsError::TooLarge(_))
        ));
        assert!(matches!(
            client_pem(Some(&dir.path().join("missing")), None, None),
            Err(TlsError::Read(..))
        ));
    }
}
