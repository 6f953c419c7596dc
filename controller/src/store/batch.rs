//! Applying a sensor batch (endpoints, sensor record, notable events, watermark and metered
//! usage in one transaction) and reading the notable events it stored.

use super::analysis_log::{BillingNotice, LogEntryRef};
use super::bounds;
use super::db::Db;
use super::keys;
use super::records::{EndpointRecord, NotableRecord, SensorRecord, decode, encode};
use super::{Result, Tree};
use crate::metering::MeterPolicy;
use crate::metering::usage::MeterOutcome;
use picket_shared::{BatchSummary, EndpointKey, SensorId, TenantId};
use std::borrow::Cow;
use std::cell::RefCell;

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
    /// The batch's epoch was retired (its watermark pruned, see `growth`): nothing changed,
    /// and resending cannot change that; the sensor is told with a definite rejection.
    Retired,
}

/// The part of a committed batch that goes on to threat analysis: the endpoint summaries
/// metering lets through and, when it lets any through (or, for a batch without summaries,
/// when the tenant is not capped), the batch's actor summaries and notable events. A capped
/// tenant's batch thus hands nothing on ("no new alerts until the cap lifts"), except the
/// budget thresholds it crossed, which travel on the alert stream as billing notices.
fn analysis_entry<'a>(
    tenant: &'a TenantId,
    sensor: &'a SensorId,
    batch: &'a BatchSummary,
    now_ms: i64,
    metering: &MeterOutcome,
) -> LogEntryRef<'a> {
    let endpoints: Vec<_> = batch
        .endpoints
        .iter()
        .zip(&metering.analyze)
        .filter(|(_, a)| **a)
        .map(|(e, _)| e)
        .collect();
    let analyzed = if batch.endpoints.is_empty() {
        !metering.paused_after
    } else {
        !endpoints.is_empty()
    };
    // Notable events of APIs not onboarded are not analyzed either (they stay stored).
    let notables: Vec<_> = if analyzed {
        batch
            .notables
            .iter()
            .filter(|n| !metering.unprotected_hosts.contains(&n.endpoint.host))
            .collect()
    } else {
        Vec::new()
    };
    let cycle_start_ms = crate::metering::Cycle::containing(now_ms).start_ms;
    LogEntryRef {
        tenant: tenant.as_str(),
        sensor: sensor.as_str(),
        arrival_ms: now_ms,
        window_ms: batch.window_ms,
        endpoints,
        actors: if analyzed { &batch.actors } else { &[] },
        notables,
        billing: metering
            .crossed_pct
            .iter()
            .map(|pct| BillingNotice {
                cycle_start_ms,
                threshold_pct: *pct,
            })
            .collect(),
    }
}

impl Db {
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
        self.apply_batch_counting(tenant, sensor, batch, now_ms, policy, 0)
    }

    /// [`Db::apply_batch`], adding `fields_dropped` (what validation dropped from the batch)
    /// to the sensor record in the same transaction.
    pub fn apply_batch_counting(
        &self,
        tenant: &TenantId,
        sensor: &SensorId,
        batch: &BatchSummary,
        now_ms: i64,
        policy: &MeterPolicy,
        fields_dropped: u64,
    ) -> Result<Applied> {
        let wm_key = keys::watermark(tenant, sensor, batch.stream_epoch);
        let floor_key = bounds::floor_key(tenant, sensor);
        let sensor_key = keys::sensor(tenant, sensor);
        let endpoint_keys: Vec<Vec<u8>> = batch
            .endpoints
            .iter()
            .map(|(k, _)| keys::endpoint(tenant, k))
            .collect();
        let outcome = RefCell::new(Applied::Duplicate);
        self.kv.transact(&|txn| {
            *outcome.borrow_mut() = Applied::Duplicate;
            let floor = txn
                .get(Tree::Watermarks, &floor_key)?
                .map_or(0, |raw| bounds::watermark_seq(&raw));
            if batch.stream_epoch <= floor {
                *outcome.borrow_mut() = Applied::Retired;
                return Ok(());
            }
            let committed = txn
                .get(Tree::Watermarks, &wm_key)?
                .map_or(0, |raw| bounds::watermark_seq(&raw));
            if batch.seq <= committed {
                return Ok(());
            }
            // New endpoints beyond the inventory caps fold into overflow endpoints; the
            // folded batch is what is stored, metered and analyzed (same requests), each
            // summary billed and analyzed by the state of the host the sensor named.
            let mut fold = bounds::Fold::new(tenant, self.caps);
            let mut folded: Vec<(usize, EndpointKey)> = Vec::new();
            for (i, ((key, summary), raw_key)) in
                batch.endpoints.iter().zip(&endpoint_keys).enumerate()
            {
                let (mut rec, store_key): (EndpointRecord, Cow<'_, [u8]>) =
                    match txn.get(Tree::Endpoints, raw_key)? {
                        Some(raw) => (decode(Tree::Endpoints, &raw)?, Cow::Borrowed(raw_key)),
                        None => match fold.place(txn, key, summary.requests)? {
                            None => (EndpointRecord::default(), Cow::Borrowed(raw_key)),
                            Some(target) => {
                                let k = keys::endpoint(tenant, &target);
                                folded.push((i, target));
                                let rec = match txn.get(Tree::Endpoints, &k)? {
                                    Some(raw) => decode(Tree::Endpoints, &raw)?,
                                    None => EndpointRecord::default(),
                                };
                                (rec, Cow::Owned(k))
                            }
                        },
                    };
                let over = rec.absorb(summary, sensor.as_str(), batch.window_ms);
                fold.keys_overflowed(txn, over)?;
                txn.put(Tree::Endpoints, &store_key, &encode(&rec))?;
            }
            let stored: Cow<'_, BatchSummary> = if folded.is_empty() {
                Cow::Borrowed(batch)
            } else {
                let mut b = batch.clone();
                for (i, target) in &folded {
                    b.endpoints[*i].0 = target.clone();
                }
                Cow::Owned(b)
            };
            let sent = batch;
            let batch = stored.as_ref();
            let mut srec: SensorRecord = match txn.get(Tree::Sensors, &sensor_key)? {
                Some(raw) => decode(Tree::Sensors, &raw)?,
                None => {
                    fold.sensor_created(txn)?;
                    SensorRecord {
                        sensor_id: sensor.to_string(),
                        first_seen_ms: now_ms,
                        ..Default::default()
                    }
                }
            };
            srec.last_seen_ms = now_ms;
            srec.stream_epoch = batch.stream_epoch;
            srec.committed_seq = batch.seq;
            srec.counters = batch.counters.clone();
            srec.requests_committed = srec.requests_committed.saturating_add(batch.requests());
            srec.fields_dropped = srec.fields_dropped.saturating_add(fields_dropped);
            txn.put(Tree::Sensors, &sensor_key, &encode(&srec))?;
            fold.save(txn)?;
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
            txn.put(Tree::WatermarkTimes, &wm_key, &bounds::moved_value(now_ms))?;
            let metering = super::billing::meter_in_txn(txn, tenant, batch, sent, now_ms, policy)?;
            let entry = analysis_entry(tenant, sensor, batch, now_ms, &metering);
            if !entry.is_empty() {
                super::analysis_log::append_in_txn(txn, &entry)?;
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::tests::{batch, policy};
    use crate::store::memory::MemoryStore;
    use picket_shared::EndpointKey;
    use std::sync::Arc;

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
}
