//! `WatchAlerts`: a tenant's alert changes, resumable by cursor.
//!
//! The stream reads the tenant's `alert_log` strictly after its position, page by page, and
//! when caught up waits for an announcement (`Analysis::publish`, a `watch` channel the worker
//! and status changes update without ever blocking) or the bookmark interval. Because every
//! change is read from the log, never from the announcement, a watcher that is slow or misses
//! announcements misses no change, and a slow watcher holds up only its own queue.
//!
//! Positions: `after_cursor` 0 starts at the current end; otherwise the stream resumes
//! strictly after it (`OUT_OF_RANGE` when retention removed what follows it, or when it is
//! beyond the newest cursor). With `snapshot`, the tenant's active alerts come first (kind
//! SNAPSHOT, all at the end cursor read before them, so nothing committed meanwhile is
//! skipped) and the stream continues from that end, whatever `after_cursor` said.

use super::alerts_wire::{alert_pb, change_pb, marker_pb};
use super::blocking;
use crate::error::Error;
use crate::grpc::limits;
use crate::limits::{StreamEnd, StreamKind, StreamTimers};
use crate::state::State;
use crate::store::alert_query::{AlertFilter, LogBounds, MAX_ALERT_SCAN};
use crate::tokens::TokenGuard;
use picket_detect::AlertStatus;
use picket_proto::v1 as pb;
use picket_proto::v1::alert_change::Kind;
use picket_shared::TenantId;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::Status;

/// The stream `WatchAlerts` answers with.
pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<pb::AlertChange, Status>> + Send>>;

/// Most concurrent watch streams per tenant.
pub const MAX_WATCHES_PER_TENANT: usize = 64;
/// Messages queued towards one watcher.
const WATCH_QUEUE: usize = 64;
/// Log entries read per store call.
const WATCH_PAGE: usize = 256;
/// Most alerts a snapshot sends.
pub const MAX_SNAPSHOT_ALERTS: usize = 10_000;
/// Bookmark interval bounds, in milliseconds.
const DEFAULT_BOOKMARK_MS: u32 = 10_000;
const MIN_BOOKMARK_MS: u32 = 100;
const MAX_BOOKMARK_MS: u32 = 3_600_000;

fn bookmark_interval(ms: u32) -> Result<Duration, Error> {
    match ms {
        0 => Ok(Duration::from_millis(DEFAULT_BOOKMARK_MS.into())),
        ms if (MIN_BOOKMARK_MS..=MAX_BOOKMARK_MS).contains(&ms) => {
            Ok(Duration::from_millis(ms.into()))
        }
        ms => Err(Error::invalid(format!(
            "bookmark_interval_ms {ms} is outside {MIN_BOOKMARK_MS}..={MAX_BOOKMARK_MS}"
        ))),
    }
}

/// Refuses a resume position the log no longer (or not yet) covers.
pub fn check_cursor(after: u64, b: LogBounds) -> Result<(), Error> {
    if after != 0 && after < b.purged {
        return Err(Error::OutOfRange(format!(
            "cursor {after} predates retention; the oldest cursor kept is {}",
            b.purged + 1
        )));
    }
    if after > b.last {
        return Err(Error::OutOfRange(format!(
            "cursor {after} is beyond the newest cursor {}",
            b.last
        )));
    }
    Ok(())
}

/// Validates the request, takes a watch slot and starts the stream.
/// `guard` ends the stream with `UNAUTHENTICATED` once the caller's token stops working
/// (`None` only in unit tests that drive the watcher without a token).
pub async fn start(
    state: &Arc<State>,
    tenant: TenantId,
    r: pb::WatchAlertsRequest,
    guard: Option<TokenGuard>,
) -> Result<ChangeStream, Status> {
    let interval = bookmark_interval(r.bookmark_interval_ms)?;
    // Both held by the stream task: the counts drop however the stream ends.
    let stream_slot = (state.quotas.streams)
        .acquire(&tenant, StreamKind::Watch)
        .map_err(limits::stream_refused)?;
    let slot = state
        .analysis
        .watch_slot(&tenant, MAX_WATCHES_PER_TENANT)
        .ok_or_else(|| {
            state.quotas.streams.refused.add(&tenant);
            Error::ResourceExhausted(format!(
                "the tenant has {MAX_WATCHES_PER_TENANT} open watch streams, the limit"
            ))
        })?;
    // Subscribed before the first read, so no announcement can fall in between.
    let feed = state.analysis.subscribe(&tenant);
    let (db, t) = (state.db.clone(), tenant.clone());
    let bounds = blocking(move || Ok(db.alert_log_bounds(&t)?)).await?;
    check_cursor(r.after_cursor, bounds)?;
    let (tx, rx) = mpsc::channel(WATCH_QUEUE);
    let (out, end) = limits::endable(rx);
    let mut w = Watcher {
        state: state.clone(),
        tenant,
        tx,
        interval,
        guard,
        timers: state.quotas.timers(),
        stalled: AtomicBool::new(false),
    };
    tokio::spawn(async move {
        let _slots = (slot, stream_slot);
        let result = w.run(&r, bounds, feed).await;
        let status = match result {
            Err(status) => Some(status),
            Ok(()) if w.stalled.load(Relaxed) => {
                w.state.quotas.count_end(StreamEnd::Stalled);
                Some(limits::ended(StreamEnd::Stalled, &w.state.quotas.timeouts))
            }
            Ok(()) => None,
        };
        if let Some(status) = status {
            // Never waits: a watcher that stopped reading gets the status next.
            end.finish(&w.tx, status);
        }
    });
    Ok(Box::pin(out))
}

/// Resolves when the guarded token stops working; never without a guard.
async fn invalidated(guard: Option<&mut TokenGuard>) -> Error {
    match guard {
        Some(g) => g.invalidated().await,
        None => std::future::pending().await,
    }
}

struct Watcher {
    state: Arc<State>,
    tenant: TenantId,
    tx: mpsc::Sender<Result<pb::AlertChange, Status>>,
    interval: Duration,
    guard: Option<TokenGuard>,
    timers: StreamTimers,
    /// A send gave up because the watcher read nothing for the stall timeout.
    stalled: AtomicBool,
}

/// The watcher went away (or stopped reading: `Watcher::stalled`): end quietly.
struct Gone;

impl Watcher {
    async fn send(&self, m: pb::AlertChange) -> Result<(), Gone> {
        match self.timers.send(&self.tx, Ok(m)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Gone),
            Err(_) => {
                self.stalled.store(true, Relaxed);
                Err(Gone)
            }
        }
    }

    async fn run(
        &mut self,
        r: &pb::WatchAlertsRequest,
        bounds: LogBounds,
        mut feed: watch::Receiver<u64>,
    ) -> Result<(), Status> {
        let mut pos = if r.after_cursor == 0 || r.snapshot {
            bounds.last
        } else {
            r.after_cursor
        };
        if r.snapshot && self.snapshot(pos).await?.is_err() {
            return Ok(());
        }
        loop {
            let (db, t) = (self.state.db.clone(), self.tenant.clone());
            let page = blocking(move || Ok(db.alert_log_after(&t, pos, WATCH_PAGE)?)).await?;
            if let Some((first, _)) = page.first()
                && *first != pos + 1
            {
                // Retention removed entries this watcher had not read yet.
                let (db, t) = (self.state.db.clone(), self.tenant.clone());
                let bounds = blocking(move || Ok(db.alert_log_bounds(&t)?)).await?;
                check_cursor(pos, bounds)?;
            }
            for (cursor, rec) in &page {
                if self
                    .send(change_pb(self.tenant.as_str(), *cursor, rec))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                pos = *cursor;
            }
            if page.len() == WATCH_PAGE {
                continue;
            }
            tokio::select! {
                e = invalidated(self.guard.as_mut()) => return Err(e.into()),
                changed = feed.changed() => if changed.is_err() { return Ok(()) },
                () = tokio::time::sleep(self.interval) => {
                    let m = marker_pb(Kind::Bookmark, pos, None, self.state.now_ms());
                    if self.send(m).await.is_err() {
                        return Ok(());
                    }
                }
                () = self.tx.closed() => return Ok(()),
                why = self.timers.expired(false) => {
                    self.state.quotas.count_end(why);
                    return Err(limits::ended(why, &self.state.quotas.timeouts));
                }
            }
        }
    }

    /// Sends the tenant's active alerts (at most [`MAX_SNAPSHOT_ALERTS`]) as snapshot changes
    /// at cursor `pos`, newest first.
    async fn snapshot(&self, pos: u64) -> Result<Result<(), Gone>, Status> {
        let filter = AlertFilter {
            status: Some(AlertStatus::Active),
            ..AlertFilter::default()
        };
        let mut after: Option<Vec<u8>> = None;
        let mut sent = 0;
        loop {
            let (db, t, f, a) = (
                self.state.db.clone(),
                self.tenant.clone(),
                filter.clone(),
                after.take(),
            );
            let page =
                blocking(move || Ok(db.list_alerts(&t, &f, a.as_deref(), 500, MAX_ALERT_SCAN)?))
                    .await?;
            let now = self.state.now_ms();
            for a in &page.alerts {
                let alert = Some(alert_pb(self.tenant.as_str(), a));
                if self
                    .send(marker_pb(Kind::Snapshot, pos, alert, now))
                    .await
                    .is_err()
                {
                    return Ok(Err(Gone));
                }
                sent += 1;
                if sent >= MAX_SNAPSHOT_ALERTS {
                    return Ok(Ok(()));
                }
            }
            match page.next_token {
                Some(t) => after = Some(t),
                None => return Ok(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::metering::{ManualClock, MeterPolicy};
    use crate::store::Db;
    use crate::store::alerts::AnalysisCommit;
    use crate::store::memory::MemoryStore;
    use picket_detect::{AlertChange, AlertFacts};
    use tokio_stream::StreamExt;

    fn raise(st: &State, seq: u64) {
        let facts = AlertFacts {
            id: format!("a{seq}"),
            last_seen_ms: seq as i64,
            ..Default::default()
        };
        st.db
            .commit_analysis(&AnalysisCommit {
                first_seq: seq,
                seq,
                tenant: &TenantId::new("acme").unwrap(),
                changes: &[AlertChange::Raised(facts)],
                incidents: &[],
                suppressed: &[],
                billing: &[],
                now_ms: 1,
            })
            .unwrap();
    }

    async fn next(s: &mut ChangeStream) -> Result<pb::AlertChange, Status> {
        tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("a message in time")
            .expect("the stream goes on")
    }

    fn req(after_cursor: u64, snapshot: bool) -> pb::WatchAlertsRequest {
        pb::WatchAlertsRequest {
            after_cursor,
            snapshot,
            bookmark_interval_ms: 100,
        }
    }

    #[tokio::test]
    async fn resumes_strictly_after_its_cursor_then_streams_live_with_bookmarks() {
        let st = Arc::new(State::new(
            Db::new(Arc::new(MemoryStore::new())),
            Limits::default(),
            MeterPolicy::default(),
            Arc::new(ManualClock::new(5)),
        ));
        let t = TenantId::new("acme").unwrap();
        for seq in 1..=3 {
            raise(&st, seq);
        }
        let mut s = start(&st, t.clone(), req(1, false), None).await.unwrap();
        for want in [2, 3] {
            let m = next(&mut s).await.unwrap();
            assert_eq!((m.cursor, m.kind), (want, Kind::Raised as i32));
            assert_eq!(m.alert.unwrap().id, format!("a{want}"));
        }
        raise(&st, 4);
        st.analysis.publish(&t, 4);
        let live = next(&mut s).await.unwrap();
        assert_eq!((live.cursor, live.kind), (4, Kind::Raised as i32));
        let quiet = next(&mut s).await.unwrap();
        assert_eq!((quiet.cursor, quiet.kind), (4, Kind::Bookmark as i32));

        let mut snap = start(&st, t.clone(), req(0, true), None).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..4 {
            let m = next(&mut snap).await.unwrap();
            assert_eq!((m.cursor, m.kind), (4, Kind::Snapshot as i32));
            ids.push(m.alert.unwrap().id);
        }
        assert_eq!(ids, ["a4", "a3", "a2", "a1"]);
        let after = next(&mut snap).await.unwrap();
        assert_eq!((after.cursor, after.kind), (4, Kind::Bookmark as i32));

        let e = start(&st, t.clone(), req(99, false), None)
            .await
            .err()
            .unwrap();
        assert_eq!(e.code(), tonic::Code::OutOfRange);
        let e = start(
            &st,
            t.clone(),
            pb::WatchAlertsRequest {
                bookmark_interval_ms: 5,
                ..req(0, false)
            },
            None,
        )
        .await
        .err()
        .unwrap();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    }
}
