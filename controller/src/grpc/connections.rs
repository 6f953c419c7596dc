//! The gate in front of the controller's gRPC listener: at most `limits.max_connections`
//! connections at once (one more is closed right after accept, before a byte is read, and
//! counted), a deadline for the client's HTTP/2 preface (`limits.preface_timeout_secs`: a
//! connection that has not sent it by then is closed and counted, so silent or trickling
//! clients cannot hold the places), and TCP keepalive on every accepted socket (tonic applies
//! its own `tcp_keepalive` only to listeners it binds itself).

use picket_runtime::preface::PrefaceDeadline;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::Connected;

pub use picket_runtime::preface::HTTP2_PREFACE_BYTES as PREFACE_BYTES;

/// The gate's counters.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections closed right after accept because `max_connections` were open.
    pub over_capacity: AtomicU64,
    /// Connections closed because the client's preface did not arrive in time.
    pub preface_timeouts: AtomicU64,
}

/// The gate's settings.
#[derive(Debug, Clone, Copy)]
pub struct GateConfig {
    pub max_connections: usize,
    /// `None`: no deadline.
    pub preface_timeout: Option<Duration>,
    /// `None`: keepalive off.
    pub tcp_keepalive: Option<Duration>,
}

/// A stream over a TCP socket (plain, or TLS on top of one).
pub trait OverTcp {
    fn tcp(&self) -> &TcpStream;
}

impl OverTcp for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl OverTcp for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Lets through the connections of `incoming` the gate admits, each holding its place until
/// it is dropped.
pub fn gate<S, I>(
    incoming: I,
    cfg: GateConfig,
    stats: Arc<ConnectionStats>,
) -> impl Stream<Item = io::Result<Gated<S>>>
where
    I: Stream<Item = io::Result<S>>,
    S: OverTcp,
{
    let permits = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    incoming.filter_map(move |accepted| {
        let io = match accepted {
            Ok(io) => io,
            // The accept loops back off on their own; tonic logs and goes on.
            Err(e) => return Some(Err(e)),
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            stats.over_capacity.fetch_add(1, Relaxed);
            tracing::debug!("connection over limits.max_connections refused");
            return None;
        };
        if let Some(idle) = cfg.tcp_keepalive {
            let ka = socket2::TcpKeepalive::new().with_time(idle);
            if let Err(e) = socket2::SockRef::from(io.tcp()).set_tcp_keepalive(&ka) {
                tracing::debug!(error = %e, "setting TCP keepalive failed");
            }
        }
        stats.open.fetch_add(1, Relaxed);
        Some(Ok(Gated {
            io,
            preface: PrefaceDeadline::http2(cfg.preface_timeout),
            place: Place {
                _permit: permit,
                stats: stats.clone(),
            },
        }))
    })
}

/// A connection's place under the cap, given back when the connection is dropped.
struct Place {
    _permit: OwnedSemaphorePermit,
    stats: Arc<ConnectionStats>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Relaxed);
    }
}

/// An admitted connection: the stream, its preface deadline and its place.
pub struct Gated<S> {
    io: S,
    preface: PrefaceDeadline,
    place: Place,
}

impl<S: AsyncRead + Unpin> AsyncRead for Gated<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let stats = &this.place.stats;
        this.preface.poll_read(&mut this.io, cx, buf, || {
            stats.preface_timeouts.fetch_add(1, Relaxed);
        })
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gated<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<S: Connected> Connected for Gated<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair(listener: &tokio::net::TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn the_cap_refuses_the_extra_connection_and_a_dropped_one_frees_its_place() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut accepted = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let (c, s) = pair(&listener).await;
            clients.push(c);
            accepted.push(Ok(s));
        }
        let stats = Arc::new(ConnectionStats::default());
        let cfg = GateConfig {
            max_connections: 2,
            preface_timeout: None,
            tcp_keepalive: Some(Duration::from_secs(60)),
        };
        let admitted: Vec<_> = gate(tokio_stream::iter(accepted), cfg, stats.clone())
            .collect()
            .await;
        assert_eq!(admitted.len(), 2);
        assert_eq!(stats.over_capacity.load(Relaxed), 1);
        assert_eq!(stats.open.load(Relaxed), 2);
        // The refused connection was closed without a byte: its client reads end-of-stream.
        let mut buf = [0u8; 1];
        let n = clients[2].read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
        drop(admitted);
        assert_eq!(stats.open.load(Relaxed), 0);
    }

    #[tokio::test]
    async fn a_client_without_its_preface_is_cut_at_the_deadline_and_one_with_it_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut slow, slow_s) = pair(&listener).await;
        let (mut fast, fast_s) = pair(&listener).await;
        let stats = Arc::new(ConnectionStats::default());
        let cfg = GateConfig {
            max_connections: 8,
            preface_timeout: Some(Duration::from_millis(200)),
            tcp_keepalive: None,
        };
        let mut admitted: Vec<_> = gate(
            tokio_stream::iter([Ok(slow_s), Ok(fast_s)]),
            cfg,
            stats.clone(),
        )
        .collect()
        .await;
        let mut fast_gated = admitted.pop().unwrap().unwrap();
        let mut slow_gated = admitted.pop().unwrap().unwrap();
        // The slow client trickles less than the preface.
        slow.write_all(b"PRI * HTTP/2.0").await.unwrap();
        fast.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 64];
        let mut got = 0;
        while got < PREFACE_BYTES {
            got += fast_gated.read(&mut buf[got..]).await.unwrap();
        }
        assert_eq!(slow_gated.read(&mut buf).await.unwrap(), 14);
        let cut = slow_gated.read(&mut buf).await.unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::TimedOut);
        assert_eq!(stats.preface_timeouts.load(Relaxed), 1);
        // Past its preface, a quiet client is left alone (keepalive and stream limits apply).
        let quiet = tokio::time::timeout(Duration::from_millis(400), fast_gated.read(&mut buf));
        assert!(quiet.await.is_err(), "a client past its preface was cut");
    }
}
