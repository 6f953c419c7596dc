//! The bounded queue of unacknowledged batches.

use crate::aggregate::Sealed;
use crate::sources::FilePosition;
use crate::stats::SensorStats;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// A batch waiting for its acknowledgement.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: u64,
    pub sealed: Arc<Sealed>,
}

struct Inner {
    queue: VecDeque<Pending>,
    next_seq: u64,
}

/// Unacknowledged batches, oldest first. When full, the oldest is dropped and counted.
pub struct Outbox {
    inner: Mutex<Inner>,
    max_batches: usize,
    stats: Arc<SensorStats>,
    /// Woken when a batch is pushed.
    pub pushed: Notify,
    /// Woken when the outbox becomes empty.
    pub drained: Notify,
}

impl Outbox {
    pub fn new(max_batches: usize, stats: Arc<SensorStats>) -> Self {
        debug_assert!(max_batches > 0);
        Self {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                next_seq: 1,
            }),
            max_batches,
            stats,
            pushed: Notify::new(),
            drained: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a sealed batch under the next sequence number and returns that number.
    pub fn push(&self, sealed: Sealed) -> u64 {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        while inner.queue.len() >= self.max_batches {
            if let Some(old) = inner.queue.pop_front() {
                self.stats.batches_dropped.fetch_add(1, Relaxed);
                self.stats
                    .requests_dropped
                    .fetch_add(old.sealed.requests, Relaxed);
                tracing::warn!(
                    seq = old.seq,
                    requests = old.sealed.requests,
                    "outbox full; dropped oldest batch"
                );
            }
        }
        inner.queue.push_back(Pending {
            seq,
            sealed: Arc::new(sealed),
        });
        drop(inner);
        self.pushed.notify_one();
        seq
    }

    /// Batches with a sequence number above `after`, oldest first, at most `max`.
    pub fn after(&self, after: u64, max: usize) -> Vec<Pending> {
        self.lock()
            .queue
            .iter()
            .filter(|p| p.seq > after)
            .take(max)
            .cloned()
            .collect()
    }

    /// Forgets every batch up to `seq` (the controller committed them) and returns the file
    /// positions the newest of them completes.
    pub fn commit_through(&self, seq: u64) -> Option<BTreeMap<Arc<str>, FilePosition>> {
        let mut inner = self.lock();
        let mut newest = None;
        while inner.queue.front().is_some_and(|p| p.seq <= seq) {
            if let Some(p) = inner.queue.pop_front() {
                self.stats.batches_acked.fetch_add(1, Relaxed);
                self.stats
                    .requests_acked
                    .fetch_add(p.sealed.requests, Relaxed);
                newest = Some(p);
            }
        }
        let empty = inner.queue.is_empty();
        drop(inner);
        if empty {
            self.drained.notify_waiters();
        }
        newest.map(|p| p.sealed.positions.clone())
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let o = Outbox::new(10, stats.clone());
        assert_eq!(o.push(sealed(3, 10)), 1);
        assert_eq!(o.push(sealed(4, 20)), 2);
        assert_eq!(o.push(sealed(5, 30)), 3);
        assert_eq!(
            o.after(1, 10).iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let pos = o.commit_through(2).unwrap();
        assert_eq!(pos.get("f").unwrap().offset, 20);
        assert_eq!(o.len(), 1);
        assert_eq!(stats.requests_acked.load(Relaxed), 7);
        assert!(o.commit_through(2).is_none());
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let stats = Arc::new(SensorStats::default());
        let o = Outbox::new(2, stats.clone());
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
}
