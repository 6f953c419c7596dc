//! Posture findings in the store (`findings` tree, `tenant 0 finding id`) and the tenant's
//! last evaluation (`meta tenant 0 posture.snapshot`).
//!
//! Only the posture task writes findings, one tenant at a time, so a reconciliation reads the
//! tenant's records, decides, and writes the changes in one atomic batch of the tree.

use super::db::Db;
use super::records::{decode, encode};
use super::{Result, Tree, keys};
use crate::posture::{Finding, FindingRecord, FindingStatus};
use picket_shared::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What the last evaluation of a tenant saw of its APIs (for the scores).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureSnapshot {
    pub evaluated_ms: i64,
    /// Per API (host).
    pub apis: BTreeMap<String, ApiSnapshot>,
}

/// One API as the last evaluation saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiSnapshot {
    /// Lifetime requests of its endpoints.
    pub requests: u64,
    /// Onboarding state name (empty without a record).
    pub state: String,
    /// Endpoints scored: those known to exist (some answer other than 400, 404, 405 or 501)
    /// and those with a finding.
    pub endpoints: u64,
}

/// What a reconciliation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub open: usize,
    pub opened: usize,
    pub resolved: usize,
    pub purged: usize,
    /// New findings not stored: the tenant's cap was reached.
    pub dropped: usize,
}

fn snapshot_key(tenant: &TenantId) -> Vec<u8> {
    let mut k = keys::tenant_prefix(tenant);
    k.extend_from_slice(b"posture.snapshot");
    k
}

impl Db {
    /// The tenant's stored findings, at most `limit`, in id order.
    pub fn findings(&self, tenant: &TenantId, limit: usize) -> Result<Vec<FindingRecord>> {
        let prefix = keys::tenant_prefix(tenant);
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        while out.len() < limit {
            let page = (limit - out.len()).min(1024);
            let rows = self
                .kv
                .scan(Tree::Findings, &prefix, after.as_deref(), page)?;
            let done = rows.len() < page;
            for (k, v) in rows {
                out.push(decode(Tree::Findings, &v)?);
                after = Some(k);
            }
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// The tenant's last evaluation, if any.
    pub fn posture_snapshot(&self, tenant: &TenantId) -> Result<Option<PostureSnapshot>> {
        self.kv
            .get(Tree::Meta, &snapshot_key(tenant))?
            .map(|raw| decode(Tree::Meta, &raw))
            .transpose()
    }

    /// Folds one evaluation's findings (`current`: what holds now) into the stored ones:
    /// existing findings are updated (first seen kept, a resolved one reopens), new ones are
    /// added while the tenant has fewer than `cap` records (most severe first), stored open
    /// findings absent from `current` resolve, and resolved ones older than `retention_ms`
    /// (or the oldest, when room is needed) are purged. Writes the snapshot too.
    pub fn reconcile_findings(
        &self,
        tenant: &TenantId,
        mut current: Vec<Finding>,
        snapshot: &PostureSnapshot,
        retention_ms: i64,
        cap: usize,
    ) -> Result<Reconciled> {
        let now = snapshot.evaluated_ms;
        let mut stored: HashMap<String, FindingRecord> = self
            .findings(tenant, cap.saturating_mul(2))?
            .into_iter()
            .map(|r| (r.finding.id.clone(), r))
            .collect();
        let mut out = Reconciled::default();
        let mut next: BTreeMap<String, FindingRecord> = BTreeMap::new();
        current.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
        current.dedup_by(|a, b| a.id == b.id);
        let mut fresh = Vec::new();
        for f in current {
            match stored.remove(&f.id) {
                Some(mut rec) => {
                    if rec.status == FindingStatus::Resolved {
                        out.opened += 1;
                    }
                    rec.finding = f;
                    rec.status = FindingStatus::Open;
                    rec.last_seen_ms = now;
                    rec.resolved_ms = 0;
                    next.insert(rec.finding.id.clone(), rec);
                }
                None => fresh.push(f),
            }
        }
        // Open findings that no longer hold resolve; resolved ones past retention go.
        let mut resolved: Vec<FindingRecord> = Vec::new();
        for (_, mut rec) in stored {
            if rec.status == FindingStatus::Open {
                rec.status = FindingStatus::Resolved;
                rec.resolved_ms = now;
                out.resolved += 1;
            }
            if rec.resolved_ms < now.saturating_sub(retention_ms) {
                out.purged += 1;
            } else {
                resolved.push(rec);
            }
        }
        // Newest resolved first: the oldest give way to new findings when the cap is reached.
        resolved.sort_by_key(|r| std::cmp::Reverse(r.resolved_ms));
        for f in fresh {
            if next.len() + resolved.len() >= cap {
                if resolved.pop().is_some() {
                    out.purged += 1;
                } else {
                    out.dropped += 1;
                    continue;
                }
            }
            out.opened += 1;
            let rec = FindingRecord {
                finding: f,
                status: FindingStatus::Open,
                first_seen_ms: now,
                last_seen_ms: now,
                resolved_ms: 0,
            };
            next.insert(rec.finding.id.clone(), rec);
        }
        out.open = next.len();
        for rec in resolved {
            next.insert(rec.finding.id.clone(), rec);
        }
        self.write_findings(tenant, &next, snapshot)?;
        Ok(out)
    }

    /// Replaces the tenant's findings with `next` (deleting the others) in one atomic batch.
    fn write_findings(
        &self,
        tenant: &TenantId,
        next: &BTreeMap<String, FindingRecord>,
        snapshot: &PostureSnapshot,
    ) -> Result<()> {
        let prefix = keys::tenant_prefix(tenant);
        let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self
                .kv
                .scan(Tree::Findings, &prefix, after.as_deref(), 1024)?;
            let done = rows.len() < 1024;
            for (k, _) in rows {
                let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                if !next.contains_key(&id) {
                    writes.push((k.clone(), None));
                }
                after = Some(k);
            }
            if done {
                break;
            }
        }
        for (id, rec) in next {
            writes.push((keys::by_id(tenant, id), Some(encode(rec))));
        }
        self.kv.apply(Tree::Findings, &writes)?;
        self.kv
            .put(Tree::Meta, &snapshot_key(tenant), &encode(snapshot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::Kind;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn f(kind: Kind, endpoint: &str) -> Finding {
        Finding::new("t", kind, "h", "GET", endpoint)
    }

    fn snap(ms: i64) -> PostureSnapshot {
        PostureSnapshot {
            evaluated_ms: ms,
            ..Default::default()
        }
    }

    #[test]
    fn findings_update_resolve_reopen_and_purge() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("t").unwrap();
        let a = f(Kind::Shadow, "/a");
        let b = f(Kind::Plaintext, "/b");
        let r = db
            .reconcile_findings(&t, vec![a.clone(), b.clone()], &snap(10), 100, 10)
            .unwrap();
        assert_eq!((r.open, r.opened), (2, 2));
        // Same findings again: updated, not duplicated; first seen kept.
        let r = db
            .reconcile_findings(&t, vec![a.clone(), b.clone()], &snap(20), 100, 10)
            .unwrap();
        assert_eq!((r.open, r.opened, r.resolved), (2, 0, 0));
        let all = db.findings(&t, 100).unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            all.iter()
                .all(|r| (r.first_seen_ms, r.last_seen_ms) == (10, 20))
        );
        // `b` no longer holds: resolved, kept.
        let r = db
            .reconcile_findings(&t, vec![a.clone()], &snap(30), 100, 10)
            .unwrap();
        assert_eq!((r.open, r.resolved, r.purged), (1, 1, 0));
        let rb = db
            .findings(&t, 100)
            .unwrap()
            .into_iter()
            .find(|r| r.finding.id == b.id)
            .unwrap();
        assert_eq!((rb.status, rb.resolved_ms), (FindingStatus::Resolved, 30));
        // It comes back: reopened under the same id.
        let r = db
            .reconcile_findings(&t, vec![a.clone(), b.clone()], &snap(40), 100, 10)
            .unwrap();
        assert_eq!((r.open, r.opened), (2, 1));
        // Resolved past retention: purged.
        db.reconcile_findings(&t, vec![], &snap(50), 100, 10)
            .unwrap();
        assert_eq!(db.findings(&t, 100).unwrap().len(), 2);
        let r = db
            .reconcile_findings(&t, vec![], &snap(151), 100, 10)
            .unwrap();
        assert_eq!(r.purged, 2);
        assert!(db.findings(&t, 100).unwrap().is_empty());
        assert_eq!(db.posture_snapshot(&t).unwrap().unwrap().evaluated_ms, 151);
    }

    #[test]
    fn the_cap_keeps_the_most_severe_and_counts_the_rest() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("t").unwrap();
        let current = vec![
            f(Kind::Inactive, "/1"),
            f(Kind::Zombie, "/2"),
            f(Kind::Drift, "/3"),
        ];
        let r = db
            .reconcile_findings(&t, current, &snap(1), 1_000, 2)
            .unwrap();
        assert_eq!((r.open, r.dropped), (2, 1));
        let kinds: Vec<Kind> = db
            .findings(&t, 10)
            .unwrap()
            .iter()
            .map(|r| r.finding.kind)
            .collect();
        assert!(
            kinds.contains(&Kind::Zombie) && kinds.contains(&Kind::Drift),
            "{kinds:?}"
        );
    }
}
