//! Load limits on callers, as domain logic (no tonic types): a per-token token bucket for
//! query RPCs ([`RateLimiter`]), caps on concurrent streams per tenant and in all
//! ([`StreamCaps`], whose [`StreamSlot`] gives its place back on drop however the stream
//! ends), and the timers that end idle, stalled or too-old streams ([`StreamTimers`]).
//! The gRPC edge (`grpc::auth_layer`, `grpc::limits`) turns refusals into statuses.
//!
//! Every map here is bounded: buckets by [`MAX_RATE_BUCKETS`] (full buckets are dropped first:
//! forgetting a full bucket changes nothing), per-tenant counters by [`MAX_COUNTED_TENANTS`].

use picket_shared::TenantId;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most token buckets kept (one per token id that made a query call).
pub const MAX_RATE_BUCKETS: usize = 65_536;
/// Most tenants with their own refusal counters; refusals of further tenants are counted in
/// the totals only.
pub const MAX_COUNTED_TENANTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-token token buckets: `rate` calls per second on average, bursts of `burst`.
pub struct RateLimiter {
    /// The configured rate, for messages.
    pub rps: u32,
    rate: f64,
    burst: f64,
    max_buckets: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Buckets dropped at the cap before they had refilled (their token got a fresh burst).
    pub evicted: AtomicU64,
    /// Calls refused, per tenant.
    pub limited: TenantCounts,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32, max_buckets: usize) -> Self {
        debug_assert!(rate_per_sec > 0 && burst > 0 && max_buckets > 0);
        Self {
            rps: rate_per_sec,
            rate: f64::from(rate_per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            max_buckets: max_buckets.max(1),
            buckets: Mutex::new(HashMap::new()),
            evicted: AtomicU64::new(0),
            limited: TenantCounts::default(),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + secs * self.rate).min(self.burst)
    }

    /// Takes one call from `token_id`'s bucket at `now`; when it is empty, how long until it
    /// holds one again (and the refusal is counted for `tenant`).
    pub fn check(&self, token_id: &str, tenant: &TenantId, now: Instant) -> Result<(), Duration> {
        let mut m = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !m.contains_key(token_id) && m.len() >= self.max_buckets {
            self.make_room(&mut m, now);
        }
        let b = m.entry(token_id.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(*b, now);
        if tokens >= 1.0 {
            *b = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            return Ok(());
        }
        *b = Bucket { tokens, at: now };
        drop(m);
        self.limited.add(tenant);
        Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
    }

    /// Drops every full bucket; if none is full, the least recently used one (counted).
    fn make_room(&self, m: &mut HashMap<String, Bucket>, now: Instant) {
        let before = m.len();
        m.retain(|_, b| self.refilled(*b, now) < self.burst);
        if m.len() < before {
            return;
        }
        let oldest = m.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            m.remove(&k);
            self.evicted.fetch_add(1, Relaxed);
        }
    }

    /// Buckets kept now.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The whole seconds a client should wait, at least 1 (what `retry-after` says).
pub fn retry_secs(wait: Duration) -> u64 {
    let s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    s.max(1)
}

/// A counter per tenant (at most [`MAX_COUNTED_TENANTS`] of them) and a total.
#[derive(Default)]
pub struct TenantCounts {
    per_tenant: Mutex<HashMap<TenantId, u64>>,
    pub total: AtomicU64,
}

impl TenantCounts {
    pub fn add(&self, tenant: &TenantId) {
        self.total.fetch_add(1, Relaxed);
        let mut m = self
            .per_tenant
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(tenant) {
            *n += 1;
        } else if m.len() < MAX_COUNTED_TENANTS {
            m.insert(tenant.clone(), 1);
        }
    }

    /// `(tenant, count)` pairs, for the metrics.
    pub fn snapshot(&self) -> Vec<(TenantId, u64)> {
        let m = self
            .per_tenant
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        m.iter().map(|(t, n)| (t.clone(), *n)).collect()
    }
}

/// What a stream is, for the open-stream gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A sensor's ingest stream.
    Ingest,
    /// A `WatchAlerts` stream.
    Watch,
}

/// Why a stream was refused at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    /// The tenant holds `limits.max_streams_per_tenant` open streams.
    Tenant(usize),
    /// The controller holds `limits.max_streams_total` open streams.
    Total(usize),
}

impl std::fmt::Display for StreamRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamRefusal::Tenant(n) => write!(
                f,
                "the tenant has {n} open streams, the limit (limits.max_streams_per_tenant)"
            ),
            StreamRefusal::Total(n) => write!(
                f,
                "the controller has {n} open streams, the limit (limits.max_streams_total)"
            ),
        }
    }
}

#[derive(Default)]
struct Open {
    total: usize,
    ingest: usize,
    watch: usize,
    per_tenant: HashMap<TenantId, usize>,
}

/// Concurrent streams (ingest and watch together) per tenant and in all.
pub struct StreamCaps {
    per_tenant: usize,
    total: usize,
    open: Mutex<Open>,
    /// Streams refused at open (any cap, the watch cap of `alerts_watch` included), per tenant.
    pub refused: TenantCounts,
}

impl StreamCaps {
    pub fn new(per_tenant: usize, total: usize) -> Self {
        Self {
            per_tenant,
            total,
            open: Mutex::new(Open::default()),
            refused: TenantCounts::default(),
        }
    }

    /// Takes a slot for a new stream of `tenant`; the slot is given back when dropped.
    pub fn acquire(
        self: &Arc<Self>,
        tenant: &TenantId,
        kind: StreamKind,
    ) -> Result<StreamSlot, StreamRefusal> {
        let mut o = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let refusal = if o.total >= self.total {
            Some(StreamRefusal::Total(o.total))
        } else {
            match o.per_tenant.get(tenant) {
                Some(&n) if n >= self.per_tenant => Some(StreamRefusal::Tenant(n)),
                _ => None,
            }
        };
        if let Some(r) = refusal {
            drop(o);
            self.refused.add(tenant);
            return Err(r);
        }
        o.total += 1;
        match kind {
            StreamKind::Ingest => o.ingest += 1,
            StreamKind::Watch => o.watch += 1,
        }
        *o.per_tenant.entry(tenant.clone()).or_default() += 1;
        Ok(StreamSlot {
            caps: self.clone(),
            tenant: tenant.clone(),
            kind,
        })
    }

    /// Open streams: `(ingest, watch)`.
    pub fn open(&self) -> (usize, usize) {
        let o = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        (o.ingest, o.watch)
    }

    /// Open streams of one tenant.
    pub fn open_of(&self, tenant: &TenantId) -> usize {
        let o = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        o.per_tenant.get(tenant).copied().unwrap_or(0)
    }
}

/// One open stream's place under the caps, held by the task that serves the stream: it is
/// given back when the task ends, whatever the reason (client gone, error, revoked token,
/// timeout, panic).
pub struct StreamSlot {
    caps: Arc<StreamCaps>,
    tenant: TenantId,
    kind: StreamKind,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut o = self
            .caps
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        o.total = o.total.saturating_sub(1);
        match self.kind {
            StreamKind::Ingest => o.ingest = o.ingest.saturating_sub(1),
            StreamKind::Watch => o.watch = o.watch.saturating_sub(1),
        }
        if let Some(n) = o.per_tenant.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                o.per_tenant.remove(&self.tenant);
            }
        }
    }
}

/// Why a stream was ended by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// No message from the sensor for `limits.stream_idle_timeout_secs`.
    Idle,
    /// The client read nothing for `limits.stream_stall_timeout_secs` (send queue full).
    Stalled,
    /// The stream was open for `limits.stream_max_lifetime_secs`.
    Lifetime,
}

impl StreamEnd {
    pub const ALL: [StreamEnd; 3] = [StreamEnd::Idle, StreamEnd::Stalled, StreamEnd::Lifetime];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamEnd::Idle => "idle_timeout",
            StreamEnd::Stalled => "stall_timeout",
            StreamEnd::Lifetime => "max_lifetime",
        }
    }

    /// The config key that set the limit.
    pub fn key(self) -> &'static str {
        match self {
            StreamEnd::Idle => "limits.stream_idle_timeout_secs",
            StreamEnd::Stalled => "limits.stream_stall_timeout_secs",
            StreamEnd::Lifetime => "limits.stream_max_lifetime_secs",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The stream timeouts in force (`None`: off).
#[derive(Debug, Clone, Copy)]
pub struct StreamTimeouts {
    pub idle: Option<Duration>,
    pub stall: Option<Duration>,
    pub lifetime: Option<Duration>,
}

/// One stream's timers: when it opened and when it last heard from its client.
#[derive(Debug, Clone, Copy)]
pub struct StreamTimers {
    t: StreamTimeouts,
    opened: tokio::time::Instant,
    heard: tokio::time::Instant,
}

impl StreamTimers {
    pub fn start(t: StreamTimeouts) -> Self {
        let now = tokio::time::Instant::now();
        Self {
            t,
            opened: now,
            heard: now,
        }
    }

    /// The client sent a message: the idle timer starts over.
    pub fn heard(&mut self) {
        self.heard = tokio::time::Instant::now();
    }

    /// Resolves when the stream has been idle (if `idle` counts for this stream) or open for
    /// too long. Cancel-safe: build it anew on every turn of a `select!` loop.
    pub async fn expired(&self, idle: bool) -> StreamEnd {
        let idle_at = self
            .t
            .idle
            .filter(|_| idle)
            .map(|d| (self.heard + d, StreamEnd::Idle));
        let life_at = self
            .t
            .lifetime
            .map(|d| (self.opened + d, StreamEnd::Lifetime));
        let next = match (idle_at, life_at) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        match next {
            Some((at, why)) => {
                tokio::time::sleep_until(at).await;
                why
            }
            None => std::future::pending().await,
        }
    }

    /// Sends `m` on `tx`, giving up after the stall timeout: `Ok(false)` when the receiver
    /// is gone, `Err(Stalled)` when it did not make room in time.
    pub async fn send<T>(
        &self,
        tx: &tokio::sync::mpsc::Sender<T>,
        m: T,
    ) -> Result<bool, StreamEnd> {
        match self.t.stall {
            None => Ok(tx.send(m).await.is_ok()),
            Some(d) => match tokio::time::timeout(d, tx.send(m)).await {
                Ok(sent) => Ok(sent.is_ok()),
                Err(_) => Err(StreamEnd::Stalled),
            },
        }
    }
}

/// The limits on callers, shared by the auth layer and every stream.
pub struct Quotas {
    pub rate: RateLimiter,
    pub streams: Arc<StreamCaps>,
    pub timeouts: StreamTimeouts,
    /// Streams ended by each [`StreamEnd`].
    ended: [AtomicU64; 3],
}

impl Quotas {
    /// `rps`/`burst`: each token's query rate; `per_tenant`/`total`: the stream caps.
    pub fn new(
        (rps, burst): (u32, u32),
        (per_tenant, total): (usize, usize),
        timeouts: StreamTimeouts,
    ) -> Self {
        Self {
            rate: RateLimiter::new(rps, burst, MAX_RATE_BUCKETS),
            streams: Arc::new(StreamCaps::new(per_tenant, total)),
            timeouts,
            ended: Default::default(),
        }
    }

    /// Timers for a stream opening now.
    pub fn timers(&self) -> StreamTimers {
        StreamTimers::start(self.timeouts)
    }

    /// Counts a stream ended by a limit.
    pub fn count_end(&self, why: StreamEnd) {
        self.ended[why.index()].fetch_add(1, Relaxed);
    }

    /// Streams ended by `why` so far.
    pub fn ended(&self, why: StreamEnd) -> u64 {
        self.ended[why.index()].load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    #[test]
    fn a_bucket_allows_its_burst_then_the_rate_and_says_when() {
        let rl = RateLimiter::new(2, 3, 100);
        let (acme, now) = (t("acme"), Instant::now());
        for _ in 0..3 {
            rl.check("a", &acme, now).unwrap();
        }
        let wait = rl.check("a", &acme, now).unwrap_err();
        assert!(
            wait <= Duration::from_millis(500) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert_eq!(retry_secs(wait), 1);
        // Another token of the same tenant has its own bucket.
        rl.check("b", &acme, now).unwrap();
        // Half a second refills one call at 2/s.
        let later = now + Duration::from_millis(500);
        rl.check("a", &acme, later).unwrap();
        assert!(rl.check("a", &acme, later).is_err());
        assert_eq!(rl.limited.total.load(Relaxed), 2);
        assert_eq!(rl.limited.snapshot(), vec![(acme, 2)]);
    }

    #[test]
    fn buckets_are_capped_full_ones_go_first_then_the_oldest() {
        let rl = RateLimiter::new(1, 2, 3);
        let (x, now) = (t("x"), Instant::now());
        for id in ["a", "b", "c"] {
            rl.check(id, &x, now).unwrap();
        }
        // Two seconds later all three are full again: dropping them is lossless.
        let later = now + Duration::from_secs(2);
        rl.check("d", &x, later).unwrap();
        assert_eq!((rl.len(), rl.evicted.load(Relaxed)), (1, 0));
        for id in ["e", "f"] {
            rl.check(id, &x, later).unwrap();
        }
        rl.check("g", &x, later).unwrap();
        assert_eq!((rl.len(), rl.evicted.load(Relaxed)), (3, 1));
    }

    #[test]
    fn stream_slots_cap_per_tenant_and_in_all_and_come_back_on_drop() {
        let caps = Arc::new(StreamCaps::new(2, 3));
        let (a, b, c) = (t("a"), t("b"), t("c"));
        let a1 = caps.acquire(&a, StreamKind::Ingest).unwrap();
        let _a2 = caps.acquire(&a, StreamKind::Watch).unwrap();
        assert_eq!(
            caps.acquire(&a, StreamKind::Ingest).err(),
            Some(StreamRefusal::Tenant(2))
        );
        let _b1 = caps.acquire(&b, StreamKind::Ingest).unwrap();
        assert_eq!(
            caps.acquire(&c, StreamKind::Watch).err(),
            Some(StreamRefusal::Total(3))
        );
        assert_eq!(caps.open(), (2, 1));
        drop(a1);
        assert_eq!(caps.open_of(&a), 1);
        let _c1 = caps.acquire(&c, StreamKind::Watch).unwrap();
        assert_eq!(caps.refused.total.load(Relaxed), 2);
    }

    #[tokio::test]
    async fn timers_end_idle_and_old_streams_and_stalled_sends() {
        let ms = Duration::from_millis;
        let q = StreamTimeouts {
            idle: Some(ms(300)),
            stall: Some(ms(100)),
            lifetime: Some(ms(900)),
        };
        let mut timers = StreamTimers::start(q);
        let started = tokio::time::Instant::now();
        tokio::time::sleep(ms(100)).await;
        timers.heard();
        // Idle comes first (only lower bounds: the machine may be slow, never early).
        assert_eq!(timers.expired(true).await, StreamEnd::Idle);
        assert!(started.elapsed() >= ms(400));
        assert_eq!(timers.expired(false).await, StreamEnd::Lifetime);
        assert!(started.elapsed() >= ms(900));
        let off = StreamTimers::start(StreamTimeouts {
            idle: None,
            stall: None,
            lifetime: None,
        });
        assert!(
            tokio::time::timeout(ms(200), off.expired(true))
                .await
                .is_err(),
            "no timeout configured: never expires"
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        assert_eq!(timers.send(&tx, 1).await, Ok(true));
        assert_eq!(timers.send(&tx, 2).await, Err(StreamEnd::Stalled));
        rx.recv().await.unwrap();
        drop(rx);
        assert_eq!(timers.send(&tx, 3).await, Ok(false));
    }
}
