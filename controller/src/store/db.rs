//! The typed, tenant-scoped database every other module uses.

use super::keys;
use super::records::{
    EndpointRecord, NotableRecord, SensorRecord, TenantRecord, TokenRecord, decode, encode,
};
use super::{Result, Store, Tree};
use crate::metering::MeterPolicy;
use crate::metering::usage::MeterOutcome;
use picket_shared::{BatchSummary, EndpointKey, SensorId, TenantId};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// Outcome of applying a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The batch changed the store; its watermark is now `seq`. `metering` says which
    /// summaries go on to threat analysis and which budget thresholds were crossed.
    Committed {
        requests: u64,
        metering: MeterOutcome,
    },
    /// The batch was at or below the watermark: a replay, nothing changed.
    Duplicate,
}

/// Typed access to a [`Store`].
#[derive(Clone)]
pub struct Db {
    pub(super) kv: Arc<dyn Store>,
}

impl Db {
    pub fn new(kv: Arc<dyn Store>) -> Self {
        Self { kv }
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
            .map_or(0, |raw| read_u64(&raw)))
    }

    /// Applies a batch atomically with its watermark: endpoints, the sensor record and the
    /// watermark change together or not at all; a batch at or below the watermark changes
    /// nothing. Not yet durable: call [`Db::flush`] before acknowledging.
    pub fn apply_batch(
        &self,
        tenant: &TenantId,
        sensor: &SensorId,
        batch: &BatchSummary,
        now_ms: i64,
        policy: &MeterPolicy,
    ) -> Result<Applied> {
        let wm_key = keys::watermark(tenant, sensor, batch.stream_epoch);
        let sensor_key = keys::sensor(tenant, sensor);
        let endpoint_keys: Vec<Vec<u8>> = batch
            .endpoints
            .iter()
            .map(|(k, _)| keys::endpoint(tenant, k))
            .collect();
        let outcome = RefCell::new(Applied::Duplicate);
        self.kv.transact(&|txn| {
            *outcome.borrow_mut() = Applied::Duplicate;
            let committed = txn
                .get(Tree::Watermarks, &wm_key)?
                .map_or(0, |raw| read_u64(&raw));
            if batch.seq <= committed {
                return Ok(());
            }
            for ((_, summary), key) in batch.endpoints.iter().zip(&endpoint_keys) {
                let mut rec: EndpointRecord = match txn.get(Tree::Endpoints, key)? {
                    Some(raw) => decode(Tree::Endpoints, &raw)?,
                    None => EndpointRecord::default(),
                };
                rec.absorb(summary, sensor.as_str());
                txn.put(Tree::Endpoints, key, &encode(&rec))?;
            }
            let mut srec: SensorRecord = match txn.get(Tree::Sensors, &sensor_key)? {
                Some(raw) => decode(Tree::Sensors, &raw)?,
                None => SensorRecord {
                    sensor_id: sensor.to_string(),
                    first_seen_ms: now_ms,
                    ..Default::default()
                },
            };
            srec.last_seen_ms = now_ms;
            srec.stream_epoch = batch.stream_epoch;
            srec.committed_seq = batch.seq;
            srec.counters = batch.counters.clone();
            srec.requests_committed = srec.requests_committed.saturating_add(batch.requests());
            txn.put(Tree::Sensors, &sensor_key, &encode(&srec))?;
            for (i, event) in batch.notables.iter().enumerate() {
                let key = keys::notable(
                    tenant,
                    event.ts_ms,
                    sensor,
                    batch.stream_epoch,
                    batch.seq,
                    i as u32,
                );
                let rec = NotableRecord {
                    sensor_id: sensor.to_string(),
                    event: event.clone(),
                };
                txn.put(Tree::Notables, &key, &encode(&rec))?;
            }
            txn.put(Tree::Watermarks, &wm_key, &batch.seq.to_be_bytes())?;
            let metering = super::billing::meter_in_txn(txn, tenant, batch, now_ms, policy)?;
            *outcome.borrow_mut() = Applied::Committed {
                requests: batch.requests(),
                metering,
            };
            Ok(())
        })?;
        Ok(outcome.into_inner())
    }

    // --- notable events ------------------------------------------------------------------

    /// Notable events of a tenant from `since_ms` on (event time), oldest first, after the
    /// stored key `after`; at most `limit`, examining at most `max_scan` records. Returns the
    /// matching records and the key to continue from when more may follow.
    pub fn notables(
        &self,
        tenant: &TenantId,
        since_ms: i64,
        after: Option<&[u8]>,
        limit: usize,
        max_scan: usize,
        keep: &dyn Fn(&NotableRecord) -> bool,
    ) -> Result<(Vec<NotableRecord>, Option<Vec<u8>>)> {
        let prefix = keys::tenant_prefix(tenant);
        let start = keys::notables_from(tenant, since_ms);
        // Keys before `start` sort below it: begin the scan just before it.
        let mut cursor: Option<Vec<u8>> = match after {
            Some(a) if a >= start.as_slice() => Some(a.to_vec()),
            _ => {
                let mut before = start.clone();
                before.pop();
                Some(before).filter(|b| b.len() >= prefix.len())
            }
        };
        let mut out = Vec::new();
        let mut scanned = 0;
        loop {
            let page = (limit - out.len()).clamp(1, 1024);
            let rows = self
                .kv
                .scan(Tree::Notables, &prefix, cursor.as_deref(), page)?;
            let exhausted = rows.len() < page;
            for (k, v) in rows {
                scanned += 1;
                cursor = Some(k.clone());
                if k.as_slice() < start.as_slice() {
                    continue;
                }
                let rec: NotableRecord = decode(Tree::Notables, &v)?;
                if keep(&rec) {
                    out.push(rec);
                    if out.len() >= limit {
                        return Ok((out, cursor));
                    }
                }
                if scanned >= max_scan {
                    return Ok((out, cursor));
                }
            }
            if exhausted {
                return Ok((out, None));
            }
        }
    }

    /// Deletes a tenant's notable events older than `keep_from_ms` (event time).
    pub fn prune_notables(&self, tenant: &TenantId, keep_from_ms: i64) -> Result<usize> {
        self.delete_before(Tree::Notables, tenant, keep_from_ms)
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

fn read_u64(raw: &[u8]) -> u64 {
    raw.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::sled_store::SledStore;
    use picket_shared::EndpointSummary;

    fn batch(epoch: u64, seq: u64, template: &str, requests: u64) -> BatchSummary {
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

    fn policy() -> MeterPolicy {
        MeterPolicy::default()
    }

    fn notable(
        ts_ms: i64,
        host: &str,
        kind: picket_shared::NotableKind,
    ) -> picket_shared::NotableEvent {
        picket_shared::NotableEvent {
            ts_ms,
            endpoint: EndpointKey {
                host: host.into(),
                method: "GET".into(),
                template: "/x".into(),
            },
            kinds: vec![kind],
            labels: vec!["query:sqli.tautology".into()],
            client_ip: None,
            principal: None,
            status: 200,
        }
    }

    #[test]
    fn notables_are_stored_once_listed_in_time_order_and_pruned() {
        use picket_shared::NotableKind::{Injection, SuspiciousAgent};
        let db = Db::new(Arc::new(MemoryStore::default()));
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        let s = SensorId::new("s1").unwrap();
        let mut first = batch(1, 1, "/x", 1);
        first.notables = vec![
            notable(3_000, "api", Injection),
            notable(1_000, "api", SuspiciousAgent),
        ];
        let mut second = batch(1, 2, "/x", 1);
        second.notables = vec![notable(2_000, "other", Injection)];
        for bt in [&first, &first, &second, &first] {
            db.apply_batch(&a, &s, bt, 10, &policy()).unwrap();
        }
        let all = |since, keep: &dyn Fn(&NotableRecord) -> bool| {
            db.notables(&a, since, None, 100, 1_000, keep).unwrap().0
        };
        let times: Vec<i64> = all(0, &|_| true).iter().map(|n| n.event.ts_ms).collect();
        assert_eq!(
            times,
            [1_000, 2_000, 3_000],
            "replays add nothing; event-time order"
        );
        assert_eq!(all(2_000, &|_| true).len(), 2);
        assert_eq!(all(0, &|n| n.event.kinds.contains(&Injection)).len(), 2);
        assert!(
            db.notables(&b, 0, None, 100, 1_000, &|_| true)
                .unwrap()
                .0
                .is_empty()
        );
        // Pages continue after the cursor.
        let (page, next) = db.notables(&a, 0, None, 2, 1_000, &|_| true).unwrap();
        assert_eq!(page.len(), 2);
        let (rest, _) = db
            .notables(&a, 0, next.as_deref(), 2, 1_000, &|_| true)
            .unwrap();
        assert_eq!(
            rest.iter().map(|n| n.event.ts_ms).collect::<Vec<_>>(),
            [3_000]
        );
        assert_eq!(db.prune_notables(&a, 2_500).unwrap(), 2);
        assert_eq!(all(0, &|_| true).len(), 1);
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
