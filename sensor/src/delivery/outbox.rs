//! The bounded queue of unacknowledged batches, backed by the on-disk spool. Only the newest
//! batches stay in memory; older ones are read back from the spool when they are (re)sent, so
//! a long controller outage costs disk (bounded by `spool_max_bytes`), not memory.

use super::spool::{Spool, SpoolMeta, SpoolReader, SpoolRecord};
use crate::aggregate::Sealed;
use crate::sources::FilePosition;
use crate::stats::SensorStats;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Batches kept in memory besides their spool copy.
pub const MAX_RESIDENT_BATCHES: usize = 2;
/// How often a push waiting for room re-checks whether the outbox is closing.
const ROOM_POLL: Duration = Duration::from_millis(200);

type Positions = Arc<BTreeMap<Arc<str>, FilePosition>>;

/// A batch waiting for its acknowledgement.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    requests: u64,
    positions: Positions,
    /// The batch itself while resident; `None` once only the spool holds it.
    sealed: Option<Arc<Sealed>>,
    spooled: bool,
    /// Set aside: the controller will never accept it (released like an acknowledged batch,
    /// counted apart).
    rejected: bool,
}

/// Where a queued batch is held, as seen under the lock (read afterwards).
enum Held {
    Memory(Arc<Sealed>),
    Disk(SpoolReader),
    Nowhere,
}

/// A batch ready to send.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: u64,
    pub sealed: Arc<Sealed>,
}

struct Inner {
    queue: VecDeque<Entry>,
    next_seq: u64,
    spool: Option<Spool>,
}

/// What an acknowledgement released.
#[derive(Debug, Default)]
pub struct Committed {
    /// File positions completed by the newest released batch.
    pub positions: Option<BTreeMap<Arc<str>, FilePosition>>,
    /// Released sequence numbers, to remove from the spool once positions are saved.
    pub seqs: Vec<u64>,
}

/// Unacknowledged batches, oldest first. When full (batches or spool bytes), a batch of a
/// source that can wait waits for room; otherwise the oldest is dropped and counted.
pub struct Outbox {
    inner: Mutex<Inner>,
    /// Signalled when acknowledgements release batches.
    room: Condvar,
    /// Set at shutdown: pushes stop waiting for room.
    closing: AtomicBool,
    max_batches: usize,
    stats: Arc<SensorStats>,
    /// The numbering run of every batch in this outbox.
    pub epoch: u64,
    /// Requests in the batches restored from the spool at start (resent by this run).
    pub restored_requests: u64,
    /// Woken when a batch is pushed.
    pub pushed: Notify,
    /// Woken when the outbox becomes empty.
    pub drained: Notify,
}

impl Outbox {
    /// An outbox continuing `epoch` after `restored` (spooled by an earlier run; their batches
    /// stay on disk until sent).
    pub fn new(
        max_batches: usize,
        stats: Arc<SensorStats>,
        epoch: u64,
        spool: Option<Spool>,
        restored: Vec<SpoolMeta>,
    ) -> Self {
        debug_assert!(max_batches > 0);
        debug_assert!(restored.iter().all(|r| r.epoch == epoch));
        let next_seq = restored.last().map_or(1, |r| r.seq + 1);
        let restored_requests = restored
            .iter()
            .fold(0u64, |n, r| n.saturating_add(r.requests));
        debug_assert!(
            restored.is_empty() || spool.is_some(),
            "restored batches live in the spool"
        );
        let queue = restored
            .into_iter()
            .map(|r| Entry {
                seq: r.seq,
                requests: r.requests,
                positions: Arc::new(
                    r.positions
                        .into_iter()
                        .map(|(k, v)| (Arc::from(k.as_str()), v))
                        .collect(),
                ),
                sealed: None,
                spooled: true,
                rejected: false,
            })
            .collect();
        Self {
            inner: Mutex::new(Inner {
                queue,
                next_seq,
                spool,
            }),
            room: Condvar::new(),
            closing: AtomicBool::new(false),
            max_batches,
            stats,
            epoch,
            restored_requests,
            pushed: Notify::new(),
            drained: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sequence number the next [`Outbox::push`] will assign (the aggregator is the only
    /// producer, so it holds until that push).
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// Whether one more batch would push the oldest out.
    fn is_full(&self, inner: &Inner) -> bool {
        inner.queue.len() >= self.max_batches || inner.spool.as_ref().is_some_and(Spool::is_over)
    }

    /// Stops pushes from waiting for room (shutdown): from now on a full outbox drops its
    /// oldest batch, whatever the source.
    pub fn close(&self) {
        self.closing.store(true, Relaxed);
        self.room.notify_all();
    }

    /// Spools and queues a sealed batch under the next sequence number; returns that number.
    /// A batch of a source that can wait (files, replays) first waits while the outbox is
    /// full, so a fast reader is slowed to the controller's pace instead of losing batches.
    /// Blocks on the spool's fsync (and on room): call it from a blocking context.
    pub fn push(&self, sealed: Sealed) -> u64 {
        self.stats.batches_sealed.fetch_add(1, Relaxed);
        (self.stats.batch_requests.0).observe(sealed.requests as f64);
        let mut inner = self.lock();
        let must_wait = |inner: &Inner| {
            self.is_full(inner) && !inner.queue.is_empty() && !self.closing.load(Relaxed)
        };
        if sealed.can_wait && must_wait(&inner) {
            // Counted as the wait starts, so a stalled reader shows in the metrics.
            self.stats.outbox_waits.fetch_add(1, Relaxed);
            while must_wait(&inner) {
                inner = self
                    .room
                    .wait_timeout(inner, ROOM_POLL)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let writer = inner.spool.as_ref().map(Spool::writer);
        // The fsync happens outside the lock, so delivery (acks, sends, reads of older
        // batches) never waits on the disk behind it. The batch joins the queue only once
        // durable, so it is never sent before it is spooled; the aggregator is the only
        // producer, so batches still join in sequence order.
        drop(inner);
        let written = writer.map(|w| w.write(&SpoolRecord::new(self.epoch, seq, &sealed)));
        let mut inner = self.lock();
        let mut spooled = false;
        match (written, inner.spool.as_mut()) {
            (Some(Ok(size)), Some(spool)) => {
                spool.record_written(seq, size);
                spooled = true;
                self.stats.batches_spooled.fetch_add(1, Relaxed);
            }
            (Some(Err(e)), _) => {
                // Still deliverable from memory; only crash safety is lost for this batch.
                self.stats.spool_errors.fetch_add(1, Relaxed);
                tracing::error!(seq, error = %e, "spool write failed");
            }
            _ => {}
        }
        let positions = Arc::new(sealed.positions.clone());
        let requests = sealed.requests;
        inner.queue.push_back(Entry {
            seq,
            requests,
            positions,
            sealed: Some(Arc::new(sealed)),
            spooled,
            rejected: false,
        });
        self.evict(&mut inner);
        self.page_out(&mut inner);
        self.stats
            .spool_bytes
            .store(inner.spool.as_ref().map_or(0, Spool::total_bytes), Relaxed);
        drop(inner);
        self.pushed.notify_one();
        seq
    }

    /// Drops the oldest batches while over a bound (keeping at least the newest). Not while
    /// closing: the last batches sealed at shutdown go beyond the bound instead, so the spool
    /// keeps everything read (the next run resends it) and a replay or file stopped with the
    /// controller away loses nothing; the excess is bounded by the chunk queue drained then.
    fn evict(&self, inner: &mut Inner) {
        if self.closing.load(Relaxed) {
            return;
        }
        loop {
            let over_spool = inner.spool.as_ref().is_some_and(Spool::is_over);
            if inner.queue.len() <= 1 || (inner.queue.len() <= self.max_batches && !over_spool) {
                return;
            }
            let Some(old) = inner.queue.pop_front() else {
                return;
            };
            self.drop_entry(inner, &old, "outbox full; dropped oldest batch");
        }
    }

    fn drop_entry(&self, inner: &mut Inner, old: &Entry, why: &str) {
        self.stats.batches_dropped.fetch_add(1, Relaxed);
        self.stats.requests_dropped.fetch_add(old.requests, Relaxed);
        if let Some(spool) = inner.spool.as_mut() {
            spool.remove(self.epoch, old.seq);
        }
        tracing::warn!(seq = old.seq, requests = old.requests, "{why}");
    }

    /// Keeps only the newest spooled batches in memory.
    fn page_out(&self, inner: &mut Inner) {
        let resident = inner.queue.iter().filter(|e| e.sealed.is_some()).count();
        let mut excess = resident.saturating_sub(MAX_RESIDENT_BATCHES);
        for e in inner.queue.iter_mut() {
            if excess == 0 {
                break;
            }
            if e.sealed.is_some() && e.spooled {
                e.sealed = None;
                excess -= 1;
            }
        }
    }

    /// Batches with a sequence number above `after`, oldest first, at most `max`; batches
    /// only on disk are read back (an unreadable one is dropped and counted). Reads happen
    /// outside the lock; call it from a blocking context.
    pub fn after(&self, after: u64, max: usize) -> Vec<Pending> {
        let wanted: Vec<(u64, Held)> = {
            let inner = self.lock();
            inner
                .queue
                .iter()
                .filter(|e| e.seq > after)
                .take(max)
                .map(|e| {
                    let found = match (&e.sealed, inner.spool.as_ref()) {
                        (Some(s), _) => Held::Memory(s.clone()),
                        (None, Some(spool)) => Held::Disk(spool.reader(self.epoch, e.seq)),
                        (None, None) => Held::Nowhere,
                    };
                    (e.seq, found)
                })
                .collect()
        };
        let mut out = Vec::with_capacity(wanted.len());
        let mut unreadable = Vec::new();
        for (seq, found) in wanted {
            let sealed = match found {
                Held::Memory(s) => Some(s),
                Held::Disk(reader) => match reader.read() {
                    Ok(rec) => Some(Arc::new(rec.into_sealed())),
                    Err(err) => {
                        unreadable.push((seq, err));
                        None
                    }
                },
                Held::Nowhere => {
                    unreadable.push((seq, std::io::Error::other("not in memory and no spool")));
                    None
                }
            };
            if let Some(sealed) = sealed {
                out.push(Pending { seq, sealed });
            }
        }
        if !unreadable.is_empty() {
            let mut inner = self.lock();
            for (seq, err) in unreadable {
                // Gone meanwhile (acknowledged or pushed out): not an unreadable batch.
                if let Some(i) = inner.queue.iter().position(|e| e.seq == seq)
                    && let Some(old) = inner.queue.remove(i)
                {
                    tracing::error!(seq, error = %err, "spooled batch unreadable");
                    self.drop_entry(&mut inner, &old, "dropped an unreadable spooled batch");
                }
            }
        }
        out
    }

    /// Releases every batch up to `seq` (the controller committed them). The caller saves
    /// the returned positions, then calls [`Outbox::unspool`] with the returned seqs.
    pub fn commit_through(&self, seq: u64) -> Committed {
        let mut inner = self.lock();
        let mut out = Committed::default();
        while inner.queue.front().is_some_and(|p| p.seq <= seq) {
            if let Some(p) = inner.queue.pop_front() {
                if p.rejected {
                    self.stats.batches_rejected.fetch_add(1, Relaxed);
                    self.stats.requests_rejected.fetch_add(p.requests, Relaxed);
                } else {
                    self.stats.batches_acked.fetch_add(1, Relaxed);
                    self.stats.requests_acked.fetch_add(p.requests, Relaxed);
                }
                out.seqs.push(p.seq);
                out.positions = Some((*p.positions).clone());
            }
        }
        drop(inner);
        if !out.seqs.is_empty() {
            self.room.notify_all();
        }
        out
    }

    /// Marks the batch `seq` as never acceptable and moves its spool file into the spool's
    /// `rejected/` folder; [`Outbox::commit_through`] then releases it, counted as rejected.
    /// Disk work: call it from a blocking context.
    pub fn set_aside(&self, seq: u64, reason: &str) {
        let aside = {
            let mut inner = self.lock();
            let inner = &mut *inner;
            let Some(e) = inner.queue.iter_mut().find(|e| e.seq == seq) else {
                return;
            };
            e.rejected = true;
            let requests = e.requests;
            tracing::warn!(seq, requests, %reason, "batch set aside: the controller will never accept it");
            inner
                .spool
                .as_mut()
                .and_then(|spool| spool.detach(self.epoch, seq))
        };
        // The move (renames, fsyncs) happens outside the lock, like every spool write.
        let Some(aside) = aside else {
            tracing::error!(
                seq,
                "a rejected batch held only in memory cannot be kept on disk"
            );
            return;
        };
        match aside.move_with(reason) {
            Ok(0) => {}
            Ok(pruned) => {
                tracing::warn!(pruned, "deleted the oldest set-aside batches (folder full)");
            }
            Err(e) => tracing::error!(seq, error = %e, "could not move a rejected batch aside"),
        }
    }

    /// Deletes released batches from the spool and wakes waiters when nothing is pending.
    pub fn unspool(&self, seqs: &[u64]) {
        let mut inner = self.lock();
        if let Some(spool) = inner.spool.as_mut() {
            for seq in seqs {
                spool.remove(self.epoch, *seq);
            }
        }
        self.stats
            .spool_bytes
            .store(inner.spool.as_ref().map_or(0, Spool::total_bytes), Relaxed);
        let empty = inner.queue.is_empty();
        drop(inner);
        // Removing spool files may bring the spool back under its byte bound.
        self.room.notify_all();
        if empty {
            self.drained.notify_waiters();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batches held in memory (the rest are only in the spool).
    pub fn resident(&self) -> usize {
        self.lock()
            .queue
            .iter()
            .filter(|e| e.sealed.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(requests: u64, offset: u64) -> Sealed {
        let mut s = Sealed {
            requests,
            ..Default::default()
        };
        s.positions
            .insert("f".into(), FilePosition { inode: 1, offset });
        s
    }

    #[test]
    fn commit_returns_newest_positions_and_counts() {
        let stats = Arc::new(SensorStats::default());
        let o = Outbox::new(10, stats.clone(), 5, None, Vec::new());
        assert_eq!(o.push(sealed(3, 10)), 1);
        assert_eq!(o.push(sealed(4, 20)), 2);
        assert_eq!(o.push(sealed(5, 30)), 3);
        assert_eq!(
            o.after(1, 10).iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let c = o.commit_through(2);
        assert_eq!(c.positions.unwrap().get("f").unwrap().offset, 20);
        assert_eq!(c.seqs, vec![1, 2]);
        assert_eq!(o.len(), 1);
        assert_eq!(stats.requests_acked.load(Relaxed), 7);
        assert!(o.commit_through(2).positions.is_none());
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let stats = Arc::new(SensorStats::default());
        let o = Outbox::new(2, stats.clone(), 5, None, Vec::new());
        o.push(sealed(1, 1));
        o.push(sealed(2, 2));
        o.push(sealed(3, 3));
        assert_eq!(
            o.after(0, 10).iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(stats.batches_dropped.load(Relaxed), 1);
        assert_eq!(stats.requests_dropped.load(Relaxed), 1);
    }

    #[test]
    fn spool_bound_evicts_from_disk_and_restores_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(SensorStats::default());
        // Room for three and a half of these batches.
        let probe = tempfile::tempdir().unwrap();
        let (mut one, _) = Spool::open(probe.path(), u64::MAX).unwrap();
        one.write(&super::super::spool::SpoolRecord::new(7, 1, &sealed(10, 0)))
            .unwrap();
        let bound = one.total_bytes() * 7 / 2;
        let (spool, _) = Spool::open(dir.path(), bound).unwrap();
        let o = Outbox::new(100, stats.clone(), 7, Some(spool), Vec::new());
        for i in 0..6 {
            o.push(sealed(10, i));
        }
        let kept = o.len();
        assert!((1..6).contains(&kept), "byte bound must evict, kept {kept}");
        assert_eq!(stats.batches_dropped.load(Relaxed), (6 - kept) as u64);
        assert_eq!(stats.requests_dropped.load(Relaxed), 10 * (6 - kept) as u64);
        let (spool, restored) = Spool::open(dir.path(), bound).unwrap();
        assert_eq!(restored.len(), kept);
        let again = Outbox::new(100, stats, 7, Some(spool), restored);
        assert_eq!(
            again.resident(),
            0,
            "restored batches stay on disk until sent"
        );
        assert_eq!(again.after(0, 100).len(), kept);
        assert_eq!(
            again.push(sealed(1, 99)),
            7,
            "numbering continues after the spooled batches"
        );
    }

    #[test]
    fn only_the_newest_batches_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(SensorStats::default());
        let (spool, _) = Spool::open(dir.path(), 1 << 30).unwrap();
        let o = Outbox::new(10_000, stats, 1, Some(spool), Vec::new());
        for i in 0..(MAX_RESIDENT_BATCHES as u64 + 40) {
            o.push(sealed(i + 1, i));
        }
        assert_eq!(o.resident(), MAX_RESIDENT_BATCHES);
        let all = o.after(0, usize::MAX);
        assert_eq!(all.len(), MAX_RESIDENT_BATCHES + 40);
        assert!(
            all.iter()
                .enumerate()
                .all(|(i, p)| p.sealed.requests == i as u64 + 1),
            "paged-out batches read back intact"
        );
    }
}

#[cfg(test)]
#[path = "outbox_wait_tests.rs"]
mod wait_tests;
