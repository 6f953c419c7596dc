//! An ALS connection as tonic serves it: plaintext or TLS, holding its place under the
//! listener's connection cap until tonic drops it, and closed when its HTTP/2 preface does
//! not arrive in time.

use crate::sources::guard::Admission;
use picket_runtime::preface::PrefaceDeadline;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// The transport of one admitted connection.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An admitted connection (see [`crate::sources::guard::Guard::admit`]).
pub struct GuardedIo {
    io: Transport,
    peer: SocketAddr,
    /// The HTTP/2 preface must arrive in time (counted as a `preface` timeout otherwise).
    preface: PrefaceDeadline,
    admission: Admission,
}

impl GuardedIo {
    /// An admitted connection whose HTTP/2 preface must arrive within `preface_timeout`
    /// from now.
    pub fn new(
        io: Transport,
        peer: SocketAddr,
        admission: Admission,
        preface_timeout: Duration,
    ) -> Self {
        Self {
            io,
            peer,
            preface: PrefaceDeadline::http2(Some(preface_timeout)),
            admission,
        }
    }
}

/// What tonic records about the connection: the peer's address.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl tonic::transport::server::Connected for GuardedIo {
    type ConnectInfo = PeerAddr;
    fn connect_info(&self) -> PeerAddr {
        PeerAddr(self.peer)
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let stats = this.admission.stats();
        let expired = || {
            stats.preface_timeouts.fetch_add(1, Relaxed);
        };
        match &mut this.io {
            Transport::Plain(s) => this.preface.poll_read(s, cx, buf, expired),
            Transport::Tls(s) => this.preface.poll_read(s.as_mut(), cx, buf, expired),
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
