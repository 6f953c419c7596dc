//! Records kept newest-first by last-seen time (alerts, incidents): a pointer tree maps
//! `tenant 0 id` to the record's last-seen time (sortable i64), and a by-time tree holds the
//! record under `tenant 0 last_seen(descending) id`, so listings read newest first without a
//! sort and retention deletes from the old end. One implementation of reading, writing,
//! listing and purging serves every such pair of trees.

use super::records::{decode, encode};
use super::{Result, Store, StoreError, Tree, Txn, keys};
use picket_shared::TenantId;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Most records one scan page reads from the store.
const SCAN_PAGE: usize = 512;

/// A pointer tree and its by-time tree.
#[derive(Debug, Clone, Copy)]
pub(super) struct TimeIndex {
    pub ptr: Tree,
    pub by_time: Tree,
    /// What the records are, for error messages (`alert`).
    pub what: &'static str,
}

/// Where a newest-first listing starts and stops, and how much it may examine.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window<'a> {
    /// Only records last seen at or after this (0: any).
    pub since_ms: i64,
    /// Only records last seen before this (0: any).
    pub until_ms: i64,
    /// A continuation token of an earlier page with the same filter.
    pub after: Option<&'a [u8]>,
    pub limit: usize,
    pub max_scan: usize,
}

impl TimeIndex {
    fn corrupt(&self, detail: &str) -> StoreError {
        StoreError::Corrupt {
            tree: self.ptr.name(),
            detail: format!("{} {detail}", self.what),
        }
    }

    /// A record inside a transaction, if stored.
    pub fn read<T: DeserializeOwned>(
        &self,
        txn: &mut dyn Txn,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<T>> {
        let Some(ptr) = txn.get(self.ptr, &keys::by_id(tenant, id))? else {
            return Ok(None);
        };
        let last_seen = keys::read_sortable_i64(&ptr).ok_or_else(|| self.corrupt("pointer"))?;
        match txn.get(self.by_time, &keys::alert_by_time(tenant, last_seen, id))? {
            Some(raw) => Ok(Some(decode(self.by_time, &raw)?)),
            None => Err(self.corrupt("pointer names no record")),
        }
    }

    /// A record outside a transaction, if stored.
    pub fn get<T: DeserializeOwned>(
        &self,
        kv: &dyn Store,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<T>> {
        let Some(ptr) = kv.get(self.ptr, &keys::by_id(tenant, id))? else {
            return Ok(None);
        };
        let last_seen = keys::read_sortable_i64(&ptr).ok_or_else(|| self.corrupt("pointer"))?;
        kv.get(self.by_time, &keys::alert_by_time(tenant, last_seen, id))?
            .map(|raw| decode(self.by_time, &raw))
            .transpose()
    }

    /// Writes a record and its pointer, moving its by-time entry when its last-seen time
    /// changed.
    pub fn write<T: Serialize>(
        &self,
        txn: &mut dyn Txn,
        tenant: &TenantId,
        id: &str,
        (old_last_seen, last_seen): (Option<i64>, i64),
        rec: &T,
    ) -> Result<()> {
        if let Some(old) = old_last_seen
            && old != last_seen
        {
            txn.delete(self.by_time, &keys::alert_by_time(tenant, old, id))?;
        }
        txn.put(
            self.by_time,
            &keys::alert_by_time(tenant, last_seen, id),
            &encode(rec),
        )?;
        txn.put(
            self.ptr,
            &keys::by_id(tenant, id),
            &keys::sortable_i64(last_seen),
        )
    }

    /// Records newest first within `w`, those whose raw bytes hold every needle (a cheap
    /// pre-filter: no decoding otherwise) and that `keep` accepts. Returns them and the
    /// token to continue after, when more may follow (`max_scan` examined, or `limit` found).
    pub fn list<T: DeserializeOwned>(
        &self,
        kv: &dyn Store,
        tenant: &TenantId,
        w: Window<'_>,
        needles: &[Vec<u8>],
        mut keep: impl FnMut(&T) -> bool,
    ) -> Result<(Vec<T>, Option<Vec<u8>>)> {
        let prefix = keys::tenant_prefix(tenant);
        let mut cursor: Option<Vec<u8>> = w.after.map(|s| [prefix.as_slice(), s].concat());
        if w.until_ms > 0 {
            let from = keys::alerts_older_than(tenant, w.until_ms);
            if cursor.as_ref().is_none_or(|c| *c < from) {
                cursor = Some(from);
            }
        }
        let mut found = Vec::new();
        let mut scanned = 0;
        loop {
            let rows = kv.scan(self.by_time, &prefix, cursor.as_deref(), SCAN_PAGE)?;
            let exhausted = rows.len() < SCAN_PAGE;
            for (k, v) in rows {
                let last_seen = keys::read_descending_i64(&k[prefix.len()..]).unwrap_or(0);
                if w.since_ms > 0 && last_seen < w.since_ms {
                    return Ok((found, None));
                }
                scanned += 1;
                let token = k[prefix.len()..].to_vec();
                cursor = Some(k);
                if needles.iter().all(|n| contains(&v, n)) {
                    let rec: T = decode(self.by_time, &v)?;
                    if keep(&rec) {
                        found.push(rec);
                    }
                }
                if found.len() >= w.limit || scanned >= w.max_scan {
                    return Ok((found, Some(token)));
                }
            }
            if exhausted {
                return Ok((found, None));
            }
        }
    }

    /// Deletes a tenant's records last seen before `cutoff_ms`, one transaction per page;
    /// returns how many went. A pointer goes only if it still names the deleted record (a
    /// concurrent write may have moved the record to a newer time meanwhile).
    pub fn purge(&self, kv: &dyn Store, tenant: &TenantId, cutoff_ms: i64) -> Result<usize> {
        let prefix = keys::tenant_prefix(tenant);
        let old_from = keys::alerts_older_than(tenant, cutoff_ms);
        let mut gone = 0;
        loop {
            let rows = kv.scan(self.by_time, &prefix, Some(&old_from), SCAN_PAGE)?;
            if rows.is_empty() {
                return Ok(gone);
            }
            kv.transact(&|txn| {
                for (k, _) in &rows {
                    let suffix = &k[prefix.len()..];
                    let id = std::str::from_utf8(suffix.get(8..).unwrap_or_default()).unwrap_or("");
                    let last_seen = keys::read_descending_i64(suffix).map(keys::sortable_i64);
                    txn.delete(self.by_time, k)?;
                    let ptr_key = keys::by_id(tenant, id);
                    if txn.get(self.ptr, &ptr_key)?.as_deref() == last_seen.as_ref().map(|b| &b[..])
                    {
                        txn.delete(self.ptr, &ptr_key)?;
                    }
                }
                Ok(())
            })?;
            gone += rows.len();
        }
    }
}

/// Whether `needle` occurs in `haystack`: a byte search for its first byte, then a compare
/// (several times faster than comparing every window; this runs once per scanned record).
pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(p) = haystack[from..].iter().position(|b| *b == first) {
        let at = from + p + 1;
        if haystack.get(at..at + rest.len()) == Some(rest) {
            return true;
        }
        from = at;
    }
    false
}
