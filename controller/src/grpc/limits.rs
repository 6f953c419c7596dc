//! The gRPC face of `crate::limits`: the statuses of refused and ended calls, and
//! [`Endable`], the response stream a stream task can end with a status even when its client
//! stopped reading (its queue full).
//!
//! Refused and ended calls carry `picket-limit` metadata naming the limit; a rate-limited
//! call also carries `retry-after` (whole seconds) and a `google.rpc.RetryInfo` detail.

use crate::limits::{StreamEnd, StreamRefusal, StreamTimeouts, retry_secs};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Metadata key: whole seconds to wait before retrying a rate-limited call.
pub const RETRY_AFTER: &str = "retry-after";
/// Metadata key: the limit that refused or ended a call (`query_rps`, `max_streams_total`,
/// `idle_timeout`, …).
pub const LIMIT: &str = "picket-limit";

fn metadata(limit: &'static str, retry: Option<u64>) -> MetadataMap {
    let mut md = MetadataMap::new();
    md.insert(LIMIT, MetadataValue::from_static(limit));
    if let Some(secs) = retry {
        md.insert(RETRY_AFTER, MetadataValue::from(secs));
    }
    md
}

/// A query call refused by its token's rate limit: retry after `wait`.
pub fn rate_limited(wait: Duration, rps: u32) -> Status {
    let secs = retry_secs(wait);
    Status::with_error_details_and_metadata(
        Code::ResourceExhausted,
        format!(
            "rate limited: this token may make {rps} query calls per second (limits.query_rps); retry in {secs} s"
        ),
        ErrorDetails::with_retry_info(Some(wait)),
        metadata("query_rps", Some(secs)),
    )
}

/// A stream refused at open by a cap.
pub fn stream_refused(r: StreamRefusal) -> Status {
    let limit = match r {
        StreamRefusal::Tenant(_) => "max_streams_per_tenant",
        StreamRefusal::Total(_) => "max_streams_total",
    };
    Status::with_metadata(
        Code::ResourceExhausted,
        format!("stream refused: {r}"),
        metadata(limit, None),
    )
}

/// A stream ended by a timeout: `UNAVAILABLE`, so clients reconnect (sensors resend what was
/// not acknowledged, watchers resume from their cursor).
pub fn ended(why: StreamEnd, t: &StreamTimeouts) -> Status {
    let after = match why {
        StreamEnd::Idle => t.idle,
        StreamEnd::Stalled => t.stall,
        StreamEnd::Lifetime => t.lifetime,
    }
    .map_or(0, |d| d.as_secs());
    let what = match why {
        StreamEnd::Idle => "no message from the client",
        StreamEnd::Stalled => "the client read nothing",
        StreamEnd::Lifetime => "the stream was open",
    };
    Status::with_metadata(
        Code::Unavailable,
        format!(
            "stream ended: {what} for {after} s ({}); reconnect",
            why.key()
        ),
        metadata(why.as_str(), None),
    )
}

/// Whether a status is one of this module's (a limit, not a fault of the client or server).
pub fn is_limit(s: &Status) -> bool {
    s.metadata().get(LIMIT).is_some()
}

/// Ends an [`Endable`] stream with a status.
#[derive(Clone)]
pub struct EndHandle(Arc<Mutex<Option<Status>>>);

impl EndHandle {
    /// Queues `status` as the stream's last message if there is room, else makes it the next
    /// one the client reads (messages still queued are dropped: the client had stopped
    /// reading, and resumes by cursor or resends).
    pub fn finish<T>(&self, tx: &mpsc::Sender<Result<T, Status>>, status: Status) {
        match tx.try_send(Err(status)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(Err(s))) => {
                *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(s);
            }
            Err(mpsc::error::TrySendError::Full(Ok(_))) => {}
        }
    }
}

/// A response stream over a queue that an [`EndHandle`] can cut short.
pub struct Endable<T> {
    inner: ReceiverStream<Result<T, Status>>,
    end: Arc<Mutex<Option<Status>>>,
    done: bool,
}

/// The response stream of a stream task's queue, and the handle that ends it.
pub fn endable<T>(rx: mpsc::Receiver<Result<T, Status>>) -> (Endable<T>, EndHandle) {
    let end = Arc::new(Mutex::new(None));
    let stream = Endable {
        inner: ReceiverStream::new(rx),
        end: end.clone(),
        done: false,
    };
    (stream, EndHandle(end))
}

impl<T> Stream for Endable<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let ended = self
            .end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(s) = ended {
            self.done = true;
            return Poll::Ready(Some(Err(s)));
        }
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = next {
            // The task set the end and dropped its sender in between.
            let ended = self
                .end
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            self.done = true;
            return Poll::Ready(ended.map(Err));
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[test]
    fn a_rate_limited_status_says_when_to_retry_three_ways() {
        let s = rate_limited(Duration::from_millis(1_200), 20);
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().contains("retry in 2 s"), "{}", s.message());
        assert_eq!(s.metadata().get(RETRY_AFTER).unwrap(), "2");
        let info = s.get_details_retry_info().unwrap();
        assert_eq!(info.retry_delay, Some(Duration::from_millis(1_200)));
        assert!(is_limit(&s));
        assert!(!is_limit(&Status::unavailable("store down")));
    }

    #[tokio::test]
    async fn an_end_handle_ends_a_full_stream_first_and_a_free_one_last() {
        let (tx, rx) = mpsc::channel::<Result<u32, Status>>(1);
        let (mut s, end) = endable(rx);
        tx.send(Ok(1)).await.unwrap();
        end.finish(&tx, Status::unavailable("stalled"));
        drop(tx);
        assert_eq!(s.next().await.unwrap().unwrap_err().message(), "stalled");
        assert!(s.next().await.is_none());

        let (tx, rx) = mpsc::channel::<Result<u32, Status>>(2);
        let (mut s, end) = endable(rx);
        tx.send(Ok(1)).await.unwrap();
        end.finish(&tx, Status::unavailable("idle"));
        drop(tx);
        assert_eq!(s.next().await.unwrap().unwrap(), 1);
        assert_eq!(s.next().await.unwrap().unwrap_err().message(), "idle");
        assert!(s.next().await.is_none());
    }
}
