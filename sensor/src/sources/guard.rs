//! What protects the network listeners (Envoy ALS, HTTP mirror) before a byte is read: the
//! peer allowlist, the connection cap and a growing backoff on accept errors. Refusals and
//! errors are counted in the listener's [`ListenerStats`] and logged at most every
//! [`LOG_EVERY`].

use crate::stats::ListenerStats;
use picket_shared::net::Cidr;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// First pause after a failed `accept`; it doubles on every further failure.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause after a failed `accept`.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A repeated warning (accept errors, refused peers) is logged at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Most entries of one allowlist or trusted-proxy list.
pub const MAX_CIDRS: usize = 1024;

/// The default allowlist and trusted proxies: loopback only.
pub const LOOPBACK: &[&str] = &["127.0.0.0/8", "::1"];

/// Parses a list of addresses or CIDRs (config key `key`), at most [`MAX_CIDRS`].
pub fn parse_cidrs(
    key: &'static str,
    list: &[String],
) -> Result<Vec<Cidr>, (&'static str, String)> {
    if list.len() > MAX_CIDRS {
        return Err((key, format!("{} entries (at most {MAX_CIDRS})", list.len())));
    }
    list.iter()
        .map(|c| c.parse::<Cidr>().map_err(|e| (key, e)))
        .collect()
}

/// The loopback networks, as config strings.
pub fn loopback() -> Vec<String> {
    LOOPBACK.iter().map(|s| (*s).to_owned()).collect()
}

/// A warning repeated at most every [`LOG_EVERY`], with the number of occurrences in between.
#[derive(Debug, Default)]
pub struct Throttled {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    /// Whether to log now, and how many occurrences were not logged since the last time.
    pub fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// One admitted connection's place under the cap; counted open until dropped.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    stats: Arc<ListenerStats>,
}

impl Admission {
    /// The counters of the listener that admitted the connection.
    pub fn stats(&self) -> &ListenerStats {
        &self.stats
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Relaxed);
    }
}

/// A connection that passed the allowlist and the cap.
pub struct Admitted<S> {
    pub stream: S,
    pub peer: SocketAddr,
    pub admission: Admission,
}

/// The gate in front of one listener.
pub struct Guard {
    allow: Vec<Cidr>,
    permits: Arc<Semaphore>,
    pub stats: Arc<ListenerStats>,
    backoff: Duration,
    accept_log: Throttled,
    refused_log: Throttled,
}

impl Guard {
    /// A gate admitting peers in `allow`, at most `max_connections` at once.
    pub fn new(stats: Arc<ListenerStats>, allow: Vec<Cidr>, max_connections: usize) -> Self {
        Self {
            allow,
            permits: Arc::new(Semaphore::new(max_connections)),
            stats,
            backoff: ACCEPT_BACKOFF_MIN,
            accept_log: Throttled::default(),
            refused_log: Throttled::default(),
        }
    }

    /// Whether a peer address may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|c| c.contains(ip))
    }

    /// Waits for the next connection this listener admits. A peer outside the allowlist, or
    /// one connection too many, is closed at once (nothing read) and counted; a failed
    /// `accept` (out of descriptors, …) is counted and followed by a pause that doubles from
    /// [`ACCEPT_BACKOFF_MIN`] to [`ACCEPT_BACKOFF_MAX`], so the loop never spins.
    pub async fn admit<S, F, Fut>(&mut self, mut accept: F) -> Admitted<S>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::io::Result<(S, SocketAddr)>>,
    {
        loop {
            let (stream, peer) = match accept().await {
                Ok(a) => a,
                Err(e) => {
                    self.stats.accept_errors.fetch_add(1, Relaxed);
                    if let Some(suppressed) = self.accept_log.due() {
                        tracing::warn!(source = %self.stats.source, error = %e, suppressed, pause_ms = self.backoff.as_millis() as u64, "accepting a connection failed; backing off");
                    }
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            self.backoff = ACCEPT_BACKOFF_MIN;
            if !self.allows(peer.ip()) {
                self.stats.not_allowed.fetch_add(1, Relaxed);
                if let Some(suppressed) = self.refused_log.due() {
                    tracing::warn!(source = %self.stats.source, %peer, suppressed, "connection from a peer outside the allowlist refused");
                }
                drop(stream);
                continue;
            }
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                // Over the cap: refuse rather than queue without bound.
                self.stats.over_capacity.fetch_add(1, Relaxed);
                if let Some(suppressed) = self.refused_log.due() {
                    tracing::warn!(source = %self.stats.source, %peer, suppressed, "connection over the cap refused");
                }
                drop(stream);
                continue;
            };
            self.stats.open.fetch_add(1, Relaxed);
            return Admitted {
                stream,
                peer,
                admission: Admission {
                    _permit: permit,
                    stats: self.stats.clone(),
                },
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn guard(allow: &[&str], max: usize) -> Guard {
        let allow = allow.iter().map(|c| c.parse().unwrap()).collect();
        Guard::new(Arc::new(ListenerStats::new("t".into())), allow, max)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allowlist_matches_v4_v6_and_mapped_peers() {
        let g = guard(LOOPBACK, 1);
        assert!(g.allows("127.0.0.1".parse().unwrap()));
        assert!(g.allows("127.9.9.9".parse().unwrap()));
        assert!(g.allows("::1".parse().unwrap()));
        assert!(g.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!g.allows("10.0.0.1".parse().unwrap()));
        assert!(!g.allows("::2".parse().unwrap()));
        assert!(!guard(&[], 1).allows("127.0.0.1".parse().unwrap()));
        assert!(!guard(&[], 1).allows("::1".parse().unwrap()));
        assert_eq!(parse_cidrs("k", &loopback()).unwrap().len(), 2);
    }

    #[test]
    fn bad_or_too_many_cidrs_are_config_errors() {
        assert!(parse_cidrs("k", &["10.0.0.0/33".into()]).is_err());
        assert!(parse_cidrs("k", &["ten".into()]).is_err());
        let many = vec!["10.0.0.1".to_owned(); MAX_CIDRS + 1];
        assert!(parse_cidrs("k", &many).is_err());
    }

    #[tokio::test]
    async fn refused_peers_and_overflow_are_counted_and_skipped() {
        let mut g = guard(&["127.0.0.0/8"], 1);
        let mut peers = vec!["10.0.0.1:1", "127.0.0.1:1"].into_iter();
        let first = g
            .admit(|| {
                let p = peers.next().unwrap();
                async move { Ok(((), addr(p))) }
            })
            .await;
        assert_eq!(first.peer, addr("127.0.0.1:1"));
        assert_eq!(g.stats.not_allowed.load(Relaxed), 1);
        // The cap holder is still open: the next one is over capacity.
        let second = tokio::time::timeout(
            Duration::from_millis(200),
            g.admit(|| {
                let p = peers.next().unwrap_or("127.0.0.1:3");
                async move {
                    tokio::task::yield_now().await;
                    Ok(((), addr(p)))
                }
            }),
        )
        .await;
        assert!(second.is_err(), "admitted over the cap");
        assert!(g.stats.over_capacity.load(Relaxed) >= 1);
        assert_eq!(g.stats.open.load(Relaxed), 1);
        drop(first);
        assert_eq!(g.stats.open.load(Relaxed), 0);
    }

    /// An accept that keeps failing is retried with a growing pause, not in a tight loop.
    #[tokio::test]
    async fn accept_errors_back_off() {
        let mut g = guard(LOOPBACK, 4);
        let attempts = AtomicU64::new(0);
        let run = g.admit(|| {
            attempts.fetch_add(1, Relaxed);
            async { Err::<((), SocketAddr), _>(std::io::Error::other("EMFILE")) }
        });
        let _ = tokio::time::timeout(Duration::from_millis(600), run).await;
        let n = attempts.load(Relaxed);
        // 10 + 20 + 40 + 80 + 160 + 320 ms: at most 7 attempts in 600 ms (spinning: millions).
        assert!((2..=7).contains(&n), "{n} attempts");
        assert_eq!(g.stats.accept_errors.load(Relaxed), n);
        assert!(g.backoff > ACCEPT_BACKOFF_MIN);
    }
}
