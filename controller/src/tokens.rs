//! Token lifecycle at run time: when each token was last used (kept in memory, written to the
//! store at most once a minute per token, never per call) and the end of open streams whose
//! token was revoked, rotated out or expired ([`TokenGuard`]).
//!
//! A revocation or rotation bumps a generation number every open stream watches; each stream
//! then re-checks its own credentials against the store ([`crate::auth::recheck`]). Expiry
//! needs no broadcast: a stream sleeps until its credentials' deadline. A periodic re-check
//! ([`RECHECK_INTERVAL`]) backs both up.

use crate::auth::{AuthContext, recheck};
use crate::error::{Error, Result};
use crate::metering::Clock;
use crate::store::Db;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::watch;

/// How often an open stream re-checks its token even without a revocation broadcast.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(5);
/// Least time between two store writes of one token's last-used time, in ms.
pub const LAST_USED_PERSIST_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, Default)]
struct Use {
    last_ms: i64,
    /// The last-used time last written to the store.
    persisted_ms: i64,
    /// When (clock time) it was written; `None`: never in this process.
    written_at_ms: Option<i64>,
}

/// Last-used times and the revocation broadcast, shared by the auth layer, the admin
/// service and every open stream.
pub struct TokenLife {
    clock: Arc<dyn Clock>,
    /// Token id → use. Only tokens that authenticated a call get an entry, so its size is
    /// bounded by the tokens in the store.
    used: Mutex<HashMap<String, Use>>,
    changes: watch::Sender<u64>,
    /// Orders token changes against ingest commits: a commit re-checks its token and
    /// commits under a read guard, a revocation or rotation writes under the write guard, so
    /// once a revocation has returned no batch of that token commits.
    fence: RwLock<()>,
}

impl TokenLife {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            used: Mutex::new(HashMap::new()),
            changes: watch::channel(0).0,
            fence: RwLock::new(()),
        }
    }

    /// Held by an ingest commit from its token re-check to its flush.
    pub fn commit_fence(&self) -> RwLockReadGuard<'_, ()> {
        self.fence.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Held by a revocation or rotation while it writes the token: waits for commits in
    /// flight.
    pub fn change_fence(&self) -> RwLockWriteGuard<'_, ()> {
        self.fence.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Notes that token `id` authenticated a call at `now_ms` (memory only).
    pub fn touch(&self, id: &str, now_ms: i64) {
        let mut m = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get_mut(id) {
            Some(u) => u.last_ms = u.last_ms.max(now_ms),
            None => {
                m.insert(
                    id.to_owned(),
                    Use {
                        last_ms: now_ms,
                        persisted_ms: 0,
                        written_at_ms: None,
                    },
                );
            }
        }
    }

    /// When `id` was last used: the newer of memory and store (0: never).
    pub fn last_used_ms(&self, db: &Db, id: &str) -> Result<i64> {
        let mem = self
            .used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .map_or(0, |u| u.last_ms);
        Ok(mem.max(db.token_used_ms(id)?))
    }

    /// Writes last-used times that changed and were last written at least
    /// [`LAST_USED_PERSIST_MS`] ago (all changed ones with `force`, at shutdown); returns how
    /// many were written.
    pub fn persist(&self, db: &Db, force: bool) -> Result<usize> {
        let now = self.now_ms();
        let due: Vec<(String, i64)> = {
            let m = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            m.iter()
                .filter(|(_, u)| u.last_ms > u.persisted_ms)
                .filter(|(_, u)| {
                    force
                        || u.written_at_ms
                            .is_none_or(|w| now.saturating_sub(w) >= LAST_USED_PERSIST_MS)
                })
                .map(|(id, u)| (id.clone(), u.last_ms))
                .collect()
        };
        if due.is_empty() {
            return Ok(0);
        }
        db.put_token_uses(&due)?;
        let mut m = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, ms) in &due {
            if let Some(u) = m.get_mut(id) {
                u.persisted_ms = u.persisted_ms.max(*ms);
                u.written_at_ms = Some(now);
            }
        }
        Ok(due.len())
    }

    /// Announces that a token was revoked or rotated: open streams re-check theirs.
    pub fn changed(&self) {
        self.changes.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// A guard over an open stream's credentials.
    pub fn guard(self: &Arc<Self>, db: Db, ctx: AuthContext) -> TokenGuard {
        TokenGuard {
            life: self.clone(),
            db,
            changes: self.changes.subscribe(),
            valid_until_ms: ctx.valid_until_ms,
            ctx,
            dirty: false,
        }
    }
}

/// Watches one open stream's credentials: [`TokenGuard::check`] before work the caller is
/// billed for, [`TokenGuard::invalidated`] in the stream's `select!` to end an idle stream.
pub struct TokenGuard {
    life: Arc<TokenLife>,
    db: Db,
    ctx: AuthContext,
    changes: watch::Receiver<u64>,
    valid_until_ms: i64,
    /// A change was announced and not re-checked yet (kept across cancelled waits).
    dirty: bool,
}

impl TokenGuard {
    fn expired_by_clock(&self) -> bool {
        self.valid_until_ms != 0 && self.life.now_ms() >= self.valid_until_ms
    }

    async fn recheck(&mut self) -> Result<()> {
        let (db, ctx, now) = (self.db.clone(), self.ctx.clone(), self.life.now_ms());
        let until = tokio::task::spawn_blocking(move || recheck(&db, &ctx, now))
            .await
            .map_err(|e| Error::Internal(format!("token check task failed: {e}")))??;
        self.valid_until_ms = until;
        self.dirty = false;
        Ok(())
    }

    /// Fails with `UNAUTHENTICATED` when the credentials no longer work: cheap unless a
    /// revocation or rotation was announced since the last check or the deadline passed.
    pub async fn check(&mut self) -> Result<()> {
        if self.changes.has_changed().unwrap_or(false) {
            self.changes.mark_unchanged();
            self.dirty = true;
        }
        if self.dirty || self.expired_by_clock() {
            self.recheck().await?;
        }
        Ok(())
    }

    /// Resolves with the reason once the credentials stop working. Cancel-safe: a stream
    /// calls it anew on every turn of its loop.
    pub async fn invalidated(&mut self) -> Error {
        loop {
            if !self.dirty {
                let wait = match self.valid_until_ms {
                    0 => RECHECK_INTERVAL,
                    until => {
                        let left = until.saturating_sub(self.life.now_ms()).max(0) as u64;
                        RECHECK_INTERVAL.min(Duration::from_millis(left))
                    }
                };
                tokio::select! {
                    changed = self.changes.changed() => {
                        if changed.is_err() {
                            // The state is gone (shutdown): fall back to the periodic check.
                            tokio::time::sleep(RECHECK_INTERVAL).await;
                        }
                    }
                    () = tokio::time::sleep(wait) => {}
                }
                self.dirty = true;
            }
            match self.recheck().await {
                Ok(()) => {}
                Err(e @ Error::Unauthenticated(_)) => return e,
                // A store hiccup is not a reason to end the stream; try again later.
                Err(e) => {
                    tracing::warn!(error = %e, "re-checking a stream's token failed");
                    tokio::time::sleep(RECHECK_INTERVAL).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{mint, verify};
    use crate::metering::ManualClock;
    use crate::store::memory::MemoryStore;
    use picket_shared::{Role, TenantId};

    fn setup() -> (Db, Arc<ManualClock>, Arc<TokenLife>) {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let clock = Arc::new(ManualClock::new(1_000));
        let life = Arc::new(TokenLife::new(clock.clone()));
        (db, clock, life)
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        let (db, clock, life) = setup();
        life.touch("a", 1_000);
        assert_eq!(life.persist(&db, false).unwrap(), 1);
        assert_eq!(db.token_used_ms("a").unwrap(), 1_000);
        life.touch("a", 2_000);
        clock.set(30_000);
        assert_eq!(life.persist(&db, false).unwrap(), 0, "written 29 s ago");
        assert_eq!(
            life.last_used_ms(&db, "a").unwrap(),
            2_000,
            "memory is newer"
        );
        clock.set(1_000 + LAST_USED_PERSIST_MS);
        assert_eq!(life.persist(&db, false).unwrap(), 1);
        assert_eq!(db.token_used_ms("a").unwrap(), 2_000);
        assert_eq!(life.persist(&db, true).unwrap(), 0, "nothing changed");
        life.touch("a", 70_000);
        assert_eq!(life.persist(&db, true).unwrap(), 1, "forced at shutdown");
    }

    #[tokio::test]
    async fn a_revocation_ends_a_guarded_stream() {
        let (db, _clock, life) = setup();
        let m = mint(
            TenantId::new("acme").unwrap(),
            Role::Sensor,
            String::new(),
            false,
            0,
            0,
        )
        .unwrap();
        db.put_token(&m.record).unwrap();
        let ctx = verify(&db, Some(&format!("Bearer {}", m.bearer)), 1_000).unwrap();
        let mut guard = life.guard(db.clone(), ctx);
        guard.check().await.unwrap();
        let mut rec = m.record.clone();
        rec.revoked_ms = 5;
        db.put_token(&rec).unwrap();
        life.changed();
        let err = tokio::time::timeout(Duration::from_secs(2), guard.invalidated())
            .await
            .expect("ended on the broadcast, well before the periodic check");
        assert!(err.to_string().contains("revoked"), "{err}");
        assert!(guard.check().await.is_err());
    }

    #[tokio::test]
    async fn expiry_is_noticed_by_the_clock() {
        let (db, clock, life) = setup();
        let m = mint(
            TenantId::new("acme").unwrap(),
            Role::Sensor,
            String::new(),
            false,
            0,
            2,
        )
        .unwrap();
        db.put_token(&m.record).unwrap();
        let ctx = verify(&db, Some(&format!("Bearer {}", m.bearer)), 1_000).unwrap();
        let mut guard = life.guard(db, ctx);
        guard.check().await.unwrap();
        clock.set(2_000);
        let err = guard.check().await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
    }
}
