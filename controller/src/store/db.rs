//! The typed, tenant-scoped database every other module uses.

use super::keys;
use super::records::{EndpointRecord, SensorRecord, TenantRecord, TokenRecord, decode, encode};
use super::{Result, Store, Tree};
use picket_shared::{EndpointKey, SensorId, TenantId};
use std::cell::Cell;
use std::sync::Arc;

/// Typed access to a [`Store`].
#[derive(Clone)]
pub struct Db {
    pub(super) kv: Arc<dyn Store>,
    /// The inventory caps ingest folds new endpoints by.
    pub(super) caps: super::bounds::InventoryCaps,
}

impl Db {
    pub fn new(kv: Arc<dyn Store>) -> Self {
        Self {
            kv,
            caps: Default::default(),
        }
    }

    /// Sets the inventory caps (config `[inventory]`).
    pub fn with_inventory_caps(mut self, caps: super::bounds::InventoryCaps) -> Self {
        self.caps = caps;
        self
    }

    pub fn flush(&self) -> Result<()> {
        self.kv.flush()
    }

    // --- tenants -------------------------------------------------------------------------

    /// Creates a tenant; returns false when it already existed.
    pub fn create_tenant(&self, rec: &TenantRecord) -> Result<bool> {
        let created = Cell::new(false);
        let key = rec.name.as_str().as_bytes();
        let value = encode(rec);
        self.kv.transact(&|txn| {
            created.set(false);
            if txn.get(Tree::Tenants, key)?.is_none() {
                txn.put(Tree::Tenants, key, &value)?;
                created.set(true);
            }
            Ok(())
        })?;
        Ok(created.get())
    }

    pub fn get_tenant(&self, name: &TenantId) -> Result<Option<TenantRecord>> {
        self.kv
            .get(Tree::Tenants, name.as_str().as_bytes())?
            .map(|raw| decode(Tree::Tenants, &raw))
            .transpose()
    }

    pub fn list_tenants(&self) -> Result<Vec<TenantRecord>> {
        self.scan_all(Tree::Tenants, b"")
    }

    // --- tokens --------------------------------------------------------------------------

    pub fn put_token(&self, rec: &TokenRecord) -> Result<()> {
        self.kv.put(Tree::Tokens, rec.id.as_bytes(), &encode(rec))
    }

    pub fn get_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.kv
            .get(Tree::Tokens, id.as_bytes())?
            .map(|raw| decode(Tree::Tokens, &raw))
            .transpose()
    }

    pub fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        self.scan_all(Tree::Tokens, b"")
    }

    /// Records when tokens were last used (`(id, ms)` pairs), in one atomic write.
    pub fn put_token_uses(&self, uses: &[(String, i64)]) -> Result<()> {
        let writes: Vec<_> = uses
            .iter()
            .map(|(id, ms)| {
                (
                    id.as_bytes().to_vec(),
                    Some(keys::sortable_i64(*ms).to_vec()),
                )
            })
            .collect();
        self.kv.apply(Tree::TokenUse, &writes)
    }

    /// When a token was last used, as last recorded (0: never).
    pub fn token_used_ms(&self, id: &str) -> Result<i64> {
        Ok(self
            .kv
            .get(Tree::TokenUse, id.as_bytes())?
            .and_then(|raw| keys::read_sortable_i64(&raw))
            .unwrap_or(0))
    }

    // --- sensors -------------------------------------------------------------------------

    pub fn put_sensor(&self, tenant: &TenantId, rec: &SensorRecord) -> Result<()> {
        let id =
            SensorId::new(&rec.sensor_id).map_err(|e| super::StoreError::Backend(e.to_string()))?;
        self.kv
            .put(Tree::Sensors, &keys::sensor(tenant, &id), &encode(rec))
    }

    pub fn get_sensor(&self, tenant: &TenantId, id: &SensorId) -> Result<Option<SensorRecord>> {
        self.kv
            .get(Tree::Sensors, &keys::sensor(tenant, id))?
            .map(|raw| decode(Tree::Sensors, &raw))
            .transpose()
    }

    pub fn list_sensors(&self, tenant: &TenantId) -> Result<Vec<SensorRecord>> {
        self.scan_all(Tree::Sensors, &keys::tenant_prefix(tenant))
    }

    // --- ingest --------------------------------------------------------------------------

    /// Highest committed `seq` of a sensor's epoch (0 when none).
    pub fn committed_seq(&self, tenant: &TenantId, sensor: &SensorId, epoch: u64) -> Result<u64> {
        Ok(self
            .kv
            .get(Tree::Watermarks, &keys::watermark(tenant, sensor, epoch))?
            .map_or(0, |raw| super::bounds::watermark_seq(&raw)))
    }

    /// Deletes a tenant's records of a tree keyed `tenant 0 sortable_i64 …` whose number is
    /// below `limit`. Returns how many went.
    pub(super) fn delete_before(&self, tree: Tree, tenant: &TenantId, limit: i64) -> Result<usize> {
        let prefix = keys::tenant_prefix(tenant);
        let mut removed = 0;
        loop {
            let rows = self.kv.scan(tree, &prefix, None, 512)?;
            let old: Vec<Vec<u8>> = rows
                .into_iter()
                .map(|(k, _)| k)
                .take_while(|k| {
                    keys::read_sortable_i64(&k[prefix.len()..]).is_some_and(|v| v < limit)
                })
                .collect();
            if old.is_empty() {
                return Ok(removed);
            }
            for k in &old {
                self.kv.delete(tree, k)?;
            }
            removed += old.len();
        }
    }

    // --- inventory -----------------------------------------------------------------------

    /// Endpoints of a tenant (optionally of one host) after `after`, in key order.
    pub fn endpoints(
        &self,
        tenant: &TenantId,
        host: Option<&str>,
        after: Option<&EndpointKey>,
        limit: usize,
    ) -> Result<Vec<(EndpointKey, EndpointRecord)>> {
        let tenant_prefix = keys::tenant_prefix(tenant);
        let prefix = match host {
            Some(h) => keys::host_prefix(tenant, h),
            None => tenant_prefix.clone(),
        };
        let after = after.map(|k| keys::endpoint(tenant, k));
        let rows = self
            .kv
            .scan(Tree::Endpoints, &prefix, after.as_deref(), limit)?;
        rows.into_iter()
            .map(|(k, v)| {
                let key =
                    keys::parse_endpoint_suffix(&k[tenant_prefix.len()..]).ok_or_else(|| {
                        super::StoreError::Corrupt {
                            tree: "endpoints",
                            detail: "malformed key".into(),
                        }
                    })?;
                Ok((key, decode(Tree::Endpoints, &v)?))
            })
            .collect()
    }

    pub fn get_endpoint(
        &self,
        tenant: &TenantId,
        key: &EndpointKey,
    ) -> Result<Option<EndpointRecord>> {
        self.kv
            .get(Tree::Endpoints, &keys::endpoint(tenant, key))?
            .map(|raw| decode(Tree::Endpoints, &raw))
            .transpose()
    }

    /// Moves endpoint records to other keys in one transaction, folding each into the record
    /// already at its destination; returns how many moved (sources already gone are skipped,
    /// so a repeated move changes nothing).
    pub fn move_endpoints(
        &self,
        tenant: &TenantId,
        moves: &[(EndpointKey, EndpointKey)],
    ) -> Result<usize> {
        let moved = std::cell::Cell::new(0);
        self.kv.transact(&|txn| {
            moved.set(0);
            let (mut removed, mut added) = (Vec::new(), Vec::new());
            for (from, to) in moves {
                let (from_key, to_key) = (keys::endpoint(tenant, from), keys::endpoint(tenant, to));
                if from_key == to_key {
                    continue;
                }
                let Some(raw) = txn.get(Tree::Endpoints, &from_key)? else {
                    continue;
                };
                let source: EndpointRecord = decode(Tree::Endpoints, &raw)?;
                removed.push(from);
                let mut dest: EndpointRecord = match txn.get(Tree::Endpoints, &to_key)? {
                    Some(raw) => decode(Tree::Endpoints, &raw)?,
                    None => {
                        added.push(to);
                        EndpointRecord::default()
                    }
                };
                dest.fold(&source);
                txn.put(Tree::Endpoints, &to_key, &encode(&dest))?;
                txn.delete(Tree::Endpoints, &from_key)?;
                moved.set(moved.get() + 1);
            }
            super::bounds::recount_in_txn(txn, tenant, &removed, &added)
        })?;
        Ok(moved.get())
    }

    pub(super) fn scan_all<T: for<'de> serde::Deserialize<'de>>(
        &self,
        tree: Tree,
        prefix: &[u8],
    ) -> Result<Vec<T>> {
        const PAGE: usize = 1024;
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self.kv.scan(tree, prefix, after.as_deref(), PAGE)?;
            let done = rows.len() < PAGE;
            for (k, v) in rows {
                out.push(decode(tree, &v)?);
                after = Some(k);
            }
            if done {
                return Ok(out);
            }
        }
    }
}

pub(super) fn read_u64(raw: &[u8]) -> u64 {
    raw.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metering::MeterPolicy;
    use crate::store::Applied;
    use crate::store::memory::MemoryStore;
    use crate::store::sled_store::SledStore;
    use picket_shared::{BatchSummary, EndpointSummary};

    pub(crate) fn batch(epoch: u64, seq: u64, template: &str, requests: u64) -> BatchSummary {
        BatchSummary {
            stream_epoch: epoch,
            seq,
            endpoints: vec![(
                EndpointKey {
                    host: "api".into(),
                    method: "GET".into(),
                    template: template.into(),
                },
                EndpointSummary {
                    requests,
                    first_seen_ms: 1,
                    last_seen_ms: 2,
                    ..Default::default()
                },
            )],
            ..Default::default()
        }
    }

    pub(crate) fn policy() -> MeterPolicy {
        MeterPolicy::default()
    }

    fn exercise(db: &Db) {
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let s = SensorId::new("s1").unwrap();
        assert!(matches!(
            db.apply_batch(&a, &s, &batch(7, 1, "/x", 3), 10, &policy())
                .unwrap(),
            Applied::Committed { requests: 3, .. }
        ));
        assert_eq!(
            db.apply_batch(&a, &s, &batch(7, 1, "/x", 3), 11, &policy())
                .unwrap(),
            Applied::Duplicate
        );
        assert!(matches!(
            db.apply_batch(&a, &s, &batch(7, 2, "/x", 2), 12, &policy())
                .unwrap(),
            Applied::Committed { requests: 2, .. }
        ));
        assert!(matches!(
            db.apply_batch(&a, &s, &batch(8, 1, "/y", 1), 13, &policy())
                .unwrap(),
            Applied::Committed { requests: 1, .. }
        ));
        assert_eq!(db.committed_seq(&a, &s, 7).unwrap(), 2);
        let eps = db.endpoints(&a, None, None, 100).unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].1.summary.requests, 5);
        assert!(eps[0].1.sensors.contains("s1"));
        assert!(
            db.endpoints(&b, None, None, 100).unwrap().is_empty(),
            "tenant isolation"
        );
        let page = db.endpoints(&a, Some("api"), Some(&eps[0].0), 100).unwrap();
        assert_eq!(page.len(), 1);
        let sensor = db.get_sensor(&a, &s).unwrap().unwrap();
        assert_eq!((sensor.requests_committed, sensor.committed_seq), (6, 1));
        assert!(
            db.create_tenant(&TenantRecord {
                name: a.clone(),
                created_ms: 1
            })
            .unwrap()
        );
        assert!(
            !db.create_tenant(&TenantRecord {
                name: a.clone(),
                created_ms: 2
            })
            .unwrap()
        );
        assert_eq!(db.list_tenants().unwrap().len(), 1);
    }

    #[test]
    fn memory_store_semantics() {
        exercise(&Db::new(Arc::new(MemoryStore::new())));
    }

    #[test]
    fn sled_store_semantics_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::new(Arc::new(SledStore::open(dir.path()).unwrap()));
            exercise(&db);
            db.flush().unwrap();
        }
        // sled's background flusher may hold the directory lock a moment after the drop.
        let reopened = (0..100).find_map(|_| {
            SledStore::open(dir.path())
                .inspect_err(|_| std::thread::sleep(std::time::Duration::from_millis(50)))
                .ok()
        });
        let db = Db::new(Arc::new(reopened.unwrap()));
        let a = TenantId::new("a").unwrap();
        assert_eq!(db.endpoints(&a, None, None, 100).unwrap().len(), 2);
        assert_eq!(
            db.committed_seq(&a, &SensorId::new("s1").unwrap(), 7)
                .unwrap(),
            2
        );
    }
}
