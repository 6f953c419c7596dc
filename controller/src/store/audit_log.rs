//! The audit log: one entry per administrative or operator action, newest first.
//!
//! Key: `time(descending i64) seq(descending be64)`, one global tree (admin actions are few;
//! the installation admin reads across tenants), so a forward scan reads newest first and
//! retention deletes from the end. `seq` comes from the `meta` counter `audit.seq`, bumped in
//! the entry's transaction, so entries of the same millisecond never collide, even across
//! restarts. The entry holds its tenant; listings filter by it.

use super::records::{decode, encode};
use super::{Db, Result, Tree, keys};
use picket_shared::TenantId;
use serde::{Deserialize, Serialize};

/// `meta` key: the newest audit sequence number (be64).
pub const META_AUDIT_SEQ: &[u8] = b"audit.seq";
/// Most entries one purge call deletes per store write.
const PURGE_PAGE: usize = 1024;

/// One recorded action. Never holds a secret: token secrets are not passed in, and
/// free-text fields are whatever the actor typed (descriptions, comments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub time_ms: i64,
    /// The tenant the action was on (a token's, a tenant created, the caller's).
    pub tenant: TenantId,
    /// The id of the token that acted (never its secret).
    pub actor_token_id: String,
    /// Dotted name: `token.create`, `alert.status`, …
    pub action: String,
    /// What was acted on: a token id, an alert id, an API name, …
    pub target: String,
    /// What changed, as `key=value` pairs.
    pub detail: String,
}

/// Which entries a listing returns; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this tenant's entries (`None`: every tenant).
    pub tenant: Option<TenantId>,
    /// Entries at or after this time (0: any).
    pub since_ms: i64,
    /// Entries before this time (0: any).
    pub until_ms: i64,
    /// An action (`token.create`), or a prefix ending in `.` (`token.`).
    pub action: String,
}

impl AuditFilter {
    fn matches(&self, e: &AuditEntry) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == e.tenant)
            && (self.action.is_empty()
                || e.action == self.action
                || (self.action.ends_with('.') && e.action.starts_with(&self.action)))
    }
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The key to continue after, when there may be more.
    pub next: Option<Vec<u8>>,
}

fn key(time_ms: i64, seq: u64) -> Vec<u8> {
    let mut k = keys::descending_i64(time_ms).to_vec();
    k.extend_from_slice(&(!seq).to_be_bytes());
    k
}

impl Db {
    /// Appends an audit entry (durable at the next flush).
    pub fn audit(&self, entry: &AuditEntry) -> Result<()> {
        let value = encode(entry);
        self.kv.transact(&|txn| {
            let seq = txn
                .get(Tree::Meta, META_AUDIT_SEQ)?
                .and_then(|raw| raw.try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0)
                + 1;
            txn.put(Tree::Meta, META_AUDIT_SEQ, &seq.to_be_bytes())?;
            txn.put(Tree::Audit, &key(entry.time_ms, seq), &value)
        })
    }

    /// Entries matching `filter`, newest first, at most `limit`, examining at most
    /// `max_scan` entries (then the page ends early with a continuation key).
    pub fn list_audit(
        &self,
        filter: &AuditFilter,
        after: Option<&[u8]>,
        limit: usize,
        max_scan: usize,
    ) -> Result<AuditPage> {
        // Entries before `until_ms` start after every key of time `until_ms`.
        let start = (filter.until_ms != 0).then(|| key(filter.until_ms, 0));
        let mut cursor: Option<Vec<u8>> = match (after, start) {
            (Some(a), Some(s)) => Some(a.to_vec().max(s)),
            (Some(a), None) => Some(a.to_vec()),
            (None, s) => s,
        };
        let mut page = AuditPage::default();
        let mut scanned = 0;
        loop {
            let rows = self
                .kv
                .scan(Tree::Audit, b"", cursor.as_deref(), PURGE_PAGE)?;
            let done = rows.len() < PURGE_PAGE;
            for (k, v) in rows {
                let e: AuditEntry = decode(Tree::Audit, &v)?;
                if filter.since_ms != 0 && e.time_ms < filter.since_ms {
                    return Ok(page);
                }
                scanned += 1;
                if filter.matches(&e) {
                    page.entries.push(e);
                }
                if page.entries.len() >= limit || scanned >= max_scan {
                    page.next = Some(k);
                    return Ok(page);
                }
                cursor = Some(k);
            }
            if done {
                return Ok(page);
            }
        }
    }

    /// Deletes entries older than `cutoff_ms`; returns how many.
    pub fn purge_audit(&self, cutoff_ms: i64) -> Result<usize> {
        // Every key of a time before `cutoff_ms` sorts after the last key of `cutoff_ms`.
        let after = key(cutoff_ms, 0);
        let mut purged = 0;
        loop {
            let rows = self.kv.scan(Tree::Audit, b"", Some(&after), PURGE_PAGE)?;
            if rows.is_empty() {
                return Ok(purged);
            }
            purged += rows.len();
            let writes: Vec<_> = rows.into_iter().map(|(k, _)| (k, None)).collect();
            self.kv.apply(Tree::Audit, &writes)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn entry(t: &str, ms: i64, action: &str) -> AuditEntry {
        AuditEntry {
            time_ms: ms,
            tenant: TenantId::new(t).unwrap(),
            actor_token_id: "0123456789abcdef".into(),
            action: action.into(),
            target: "x".into(),
            detail: String::new(),
        }
    }

    fn times(p: &AuditPage) -> Vec<i64> {
        p.entries.iter().map(|e| e.time_ms).collect()
    }

    #[test]
    fn lists_newest_first_filters_pages_and_purges() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        for (t, ms, a) in [
            ("acme", 10, "token.create"),
            ("beta", 20, "token.revoke"),
            ("acme", 20, "plan.set"),
            ("acme", 30, "token.rotate"),
        ] {
            db.audit(&entry(t, ms, a)).unwrap();
        }
        let all = db
            .list_audit(&AuditFilter::default(), None, 10, 100)
            .unwrap();
        assert_eq!(times(&all), [30, 20, 20, 10]);
        assert_eq!(all.entries[1].action, "plan.set", "same ms: newest first");
        let acme = AuditFilter {
            tenant: Some(TenantId::new("acme").unwrap()),
            action: "token.".into(),
            ..Default::default()
        };
        let first = db.list_audit(&acme, None, 1, 100).unwrap();
        assert_eq!(times(&first), [30]);
        let rest = db
            .list_audit(&acme, first.next.as_deref(), 10, 100)
            .unwrap();
        assert_eq!(times(&rest), [10]);
        let window = AuditFilter {
            since_ms: 20,
            until_ms: 30,
            ..Default::default()
        };
        assert_eq!(
            times(&db.list_audit(&window, None, 10, 100).unwrap()),
            [20, 20]
        );
        let capped = db.list_audit(&acme, None, 10, 2).unwrap();
        assert_eq!(times(&capped), [30]);
        assert!(capped.next.is_some(), "scan cap ends the page early");
        assert_eq!(db.purge_audit(20).unwrap(), 1);
        let left = db
            .list_audit(&AuditFilter::default(), None, 10, 100)
            .unwrap();
        assert_eq!(times(&left), [30, 20, 20]);
    }
}
