//! A deadline for the first bytes a client sends on a new connection (its HTTP/2 preface):
//! a client that has not sent them in time gets a read error, so the server closes the
//! connection and its place under a connection cap is free again. Silent or trickling
//! clients cannot hold places. Used by the controller's gRPC listener and the sensor's ALS
//! listener; past the preface the deadline no longer applies (keepalive and stream limits
//! take over).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes of the HTTP/2 client connection preface (RFC 9113 §3.4).
pub const HTTP2_PREFACE_BYTES: usize = 24;

/// The deadline of one connection.
pub struct PrefaceDeadline {
    /// Until the preface has been read (or the deadline passed).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    need: usize,
    read: usize,
    /// The deadline passed: every later read fails too.
    expired: bool,
}

impl PrefaceDeadline {
    /// `need` bytes must arrive within `timeout` from now; `None`: no deadline.
    pub fn new(need: usize, timeout: Option<Duration>) -> Self {
        Self {
            timer: timeout.map(|t| Box::pin(tokio::time::sleep(t))),
            need,
            read: 0,
            expired: false,
        }
    }

    /// An HTTP/2 server's deadline: the 24-byte preface within `timeout`.
    pub fn http2(timeout: Option<Duration>) -> Self {
        Self::new(HTTP2_PREFACE_BYTES, timeout)
    }

    /// Reads from `io` into `buf` under the deadline. Once it passes before the preface is
    /// complete, `expired` runs (the caller counts it) and the read, and every later one,
    /// fails with [`io::ErrorKind::TimedOut`].
    pub fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        expired: impl FnOnce(),
    ) -> Poll<io::Result<()>> {
        if self.expired {
            return Poll::Ready(Err(timed_out()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(io).poll_read(cx, buf);
        let Some(timer) = self.timer.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) => {
                self.read += buf.filled().len() - before;
                if self.read >= self.need {
                    self.timer = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.timer = None;
                    self.expired = true;
                    expired();
                    Poll::Ready(Err(timed_out()))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client's HTTP/2 preface did not arrive in time",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Reads once through the deadline; `Err` when it expired (and counts it in `cut`).
    async fn read_once(
        d: &mut PrefaceDeadline,
        io: &mut tokio::io::DuplexStream,
        cut: &mut u32,
    ) -> io::Result<usize> {
        let mut raw = [0u8; 64];
        std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut raw);
            d.poll_read(io, cx, &mut buf, || *cut += 1)
                .map(|r| r.map(|()| buf.filled().len()))
        })
        .await
    }

    #[tokio::test]
    async fn a_trickled_preface_is_cut_at_the_deadline_and_a_whole_one_is_not() {
        let (mut slow_client, mut slow) = tokio::io::duplex(64);
        let (mut fast_client, mut fast) = tokio::io::duplex(64);
        let timeout = Some(Duration::from_millis(200));
        let (mut slow_d, mut fast_d) = (
            PrefaceDeadline::http2(timeout),
            PrefaceDeadline::http2(timeout),
        );
        let mut cut = 0;
        slow_client.write_all(b"PRI * HTTP/2.0").await.unwrap();
        fast_client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut got = 0;
        while got < HTTP2_PREFACE_BYTES {
            got += read_once(&mut fast_d, &mut fast, &mut cut).await.unwrap();
        }
        assert_eq!(
            read_once(&mut slow_d, &mut slow, &mut cut).await.unwrap(),
            14
        );
        let err = read_once(&mut slow_d, &mut slow, &mut cut)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(cut, 1);
        // Cut for good: a later read fails at once, counted once.
        slow_client.write_all(b"\r\n\r\nSM\r\n\r\n").await.unwrap();
        let again = read_once(&mut slow_d, &mut slow, &mut cut).await;
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(cut, 1);
        // Past its preface, a quiet client is left alone.
        let quiet = tokio::time::timeout(
            Duration::from_millis(400),
            read_once(&mut fast_d, &mut fast, &mut cut),
        );
        assert!(quiet.await.is_err(), "a client past its preface was cut");
        assert_eq!(cut, 1);
        // Without a deadline nobody is cut.
        let mut none = PrefaceDeadline::http2(None);
        let (_idle_client, mut idle) = tokio::io::duplex(64);
        let quiet = tokio::time::timeout(
            Duration::from_millis(300),
            read_once(&mut none, &mut idle, &mut cut),
        );
        assert!(quiet.await.is_err());
    }
}
