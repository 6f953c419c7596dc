//! Upkeep of what ingest makes the store grow: reading a tenant's inventory counts, admitting
//! sensors within the sensor cap, taking the counts of a store written before they existed,
//! and pruning superseded watermarks.
//!
//! ## Watermark pruning
//! A watermark (`tenant 0 sensor 0 epoch`) holds the highest committed seq of one numbering
//! run (epoch) of a sensor: it is what makes a resent batch a duplicate. A sensor continues
//! its newest run while it has spooled batches and starts a new, higher epoch otherwise, so an
//! older epoch matters only to a second process running under the same sensor id. Rule: walk a
//! sensor's epochs upwards and retire each one that is not its newest, that no ingest stream
//! has open right now (a live process keeps its epoch for its whole life, however idle, even
//! when a replay or a second process under its id started a newer one), and whose watermark
//! has neither moved (a batch) nor been touched (a hello with that epoch) for `idle_ms`; stop
//! at the first that stays. Retiring deletes the watermark and
//! raises the sensor's floor (the watermark key of epoch 0) to the epoch, in one
//! transaction; a batch of an epoch at or below the floor is refused ([`Applied::Retired`]:
//! a definite rejection, the sensor sets it aside), so a replay is never billed twice. When a
//! watermark last moved is kept beside it (`watermark_times`, written by the batch
//! transaction); a watermark written before those times were kept gets the time of the first
//! pass that sees it. The watermark values stay the 8-byte seq, so an older controller
//! started on the store still reads them. A pass examines a bounded number of keys and the
//! next one resumes after them (a cursor in `meta`), wrapping around at the end.
//!
//! [`Applied::Retired`]: super::Applied::Retired

use super::bounds::{self, InventoryCounts};
use super::db::Db;
use super::{Result, Tree, keys};
use picket_shared::{SensorId, TenantId};
use std::collections::BTreeMap;

/// How long a superseded epoch's watermark must not have moved before it is retired: 7 days.
pub const WATERMARK_IDLE_MS: i64 = 7 * 86_400_000;

/// Default `inventory.max_epochs_per_sensor`: epochs (watermarks) kept per sensor id.
pub const MAX_EPOCHS_PER_SENSOR: u64 = 256;

/// How long an epoch's watermark must not have moved (nor been touched by a hello) before
/// the epoch cap may retire it: 1 day. A live sensor reconnecting keeps its run.
pub const TRIM_MIN_IDLE_MS: i64 = 86_400_000;

/// Most watermark keys one pruning pass examines per tenant (the rest wait for the next pass).
pub const MAX_WATERMARKS_SCANNED: usize = 100_000;

/// How far ahead of the controller's clock a hello's `stream_epoch` may be: 1 day. A sensor
/// picks its epoch from its clock (milliseconds) when it starts a run, so a larger one is a
/// skewed clock or a forged hello; refused (`INVALID_ARGUMENT`), so no epoch far in the
/// future can ever raise a sensor's retired-epoch floor above the epochs its real process
/// will pick.
pub const MAX_EPOCH_AHEAD_MS: i64 = 86_400_000;

/// Whether a hello's `epoch` is more than [`MAX_EPOCH_AHEAD_MS`] ahead of `now_ms`.
pub fn epoch_too_far_ahead(epoch: u64, now_ms: i64) -> bool {
    let limit = now_ms.saturating_add(MAX_EPOCH_AHEAD_MS).max(0) as u64;
    epoch > limit
}

/// What one watermark pruning pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatermarkPrune {
    /// Watermarks deleted (epochs retired).
    pub retired: usize,
    /// Old watermarks without a time, stamped with the pass's time.
    pub stamped: usize,
}

/// What [`Db::trim_epochs`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpochTrim {
    /// Epochs retired.
    pub retired: usize,
    /// Epochs (watermarks) the sensor holds afterwards.
    pub held: usize,
    /// Whether the new epoch fits under the cap (else its hello is refused).
    pub fits: bool,
}

/// One watermark as pruning reads it: (epoch, key, value).
type WatermarkRow = (u64, Vec<u8>, Vec<u8>);

/// The pruning rule's inputs (module documentation).
#[derive(Clone, Copy)]
pub(super) struct Rule<'a> {
    pub(super) now_ms: i64,
    pub(super) idle_ms: i64,
    pub(super) streaming: &'a dyn Fn(&SensorId, u64) -> bool,
    /// The newest epochs of each sensor that always stay (pruning: 1, the newest).
    pub(super) keep: usize,
}

impl Db {
    /// A tenant's inventory counts (zero when it has none).
    pub fn inventory_counts(&self, tenant: &TenantId) -> Result<InventoryCounts> {
        bounds::read_counts(self.kv.get(Tree::Inventory, &bounds::counts_key(tenant))?)
    }

    /// How many endpoints of `host` count against `inventory.max_endpoints_per_host`.
    pub fn host_endpoint_count(&self, tenant: &TenantId, host: &str) -> Result<u64> {
        Ok(self
            .kv
            .get(Tree::Inventory, &bounds::host_count_key(tenant, host))?
            .map_or(0, |raw| bounds::watermark_seq(&raw)))
    }

    /// Whether `sensor` may stream for `tenant`: a known sensor always; a new one while the
    /// tenant holds fewer than `inventory.max_sensors_per_tenant` sensors, and its first record
    /// is then written and counted in the same transaction.
    pub fn admit_sensor(&self, tenant: &TenantId, sensor: &SensorId, now_ms: i64) -> Result<bool> {
        let key = keys::sensor(tenant, sensor);
        let ck = bounds::counts_key(tenant);
        let cap = self.caps.max_sensors_per_tenant;
        let admitted = std::cell::Cell::new(false);
        self.kv.transact(&|txn| {
            admitted.set(false);
            if txn.get(Tree::Sensors, &key)?.is_some() {
                admitted.set(true);
                return Ok(());
            }
            let mut counts = bounds::read_counts(txn.get(Tree::Inventory, &ck)?)?;
            if counts.sensors >= cap {
                return Ok(());
            }
            counts.sensors = counts.sensors.saturating_add(1);
            let rec = super::SensorRecord {
                sensor_id: sensor.to_string(),
                first_seen_ms: now_ms,
                last_seen_ms: now_ms,
                ..Default::default()
            };
            txn.put(Tree::Sensors, &key, &super::records::encode(&rec))?;
            txn.put(Tree::Inventory, &ck, &super::records::encode(&counts))?;
            admitted.set(true);
            Ok(())
        })?;
        Ok(admitted.get())
    }

    /// Deletes `sensor`'s record and takes it off the tenant's sensor count, in one
    /// transaction; its watermarks stay (a resent batch is still a duplicate). Returns the
    /// tenant's sensor count after, `None` when the sensor has no record.
    pub fn delete_sensor(&self, tenant: &TenantId, sensor: &SensorId) -> Result<Option<u64>> {
        let key = keys::sensor(tenant, sensor);
        let ck = bounds::counts_key(tenant);
        let left = std::cell::Cell::new(None);
        self.kv.transact(&|txn| {
            left.set(None);
            if txn.get(Tree::Sensors, &key)?.is_none() {
                return Ok(());
            }
            let mut counts = bounds::read_counts(txn.get(Tree::Inventory, &ck)?)?;
            counts.sensors = counts.sensors.saturating_sub(1);
            txn.delete(Tree::Sensors, &key)?;
            txn.put(Tree::Inventory, &ck, &super::records::encode(&counts))?;
            left.set(Some(counts.sensors));
            Ok(())
        })?;
        Ok(left.get())
    }

    /// Takes the inventory counts of a store written before they existed (once; later calls
    /// return at once). Call before ingest starts. Returns how many endpoints were counted.
    pub fn ensure_inventory_counts(&self) -> Result<u64> {
        if self
            .kv
            .get(Tree::Inventory, bounds::COUNTED_MARKER)?
            .is_some()
        {
            return Ok(0);
        }
        const PAGE: usize = 1024;
        // tenant → (endpoints, host → endpoints)
        let mut tally: BTreeMap<Vec<u8>, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
        let mut after: Option<Vec<u8>> = None;
        let mut total = 0u64;
        loop {
            let rows = self.kv.scan(Tree::Endpoints, b"", after.as_deref(), PAGE)?;
            let done = rows.len() < PAGE;
            for (k, _) in rows {
                if let Some(cut) = k.iter().position(|b| *b == keys::SEP)
                    && let Some(key) = keys::parse_endpoint_suffix(&k[cut + 1..])
                    && !bounds::is_overflow(&key)
                {
                    let t = tally.entry(k[..=cut].to_vec()).or_default();
                    t.0 += 1;
                    *t.1.entry(key.host).or_default() += 1;
                    total += 1;
                }
                after = Some(k);
            }
            if done {
                break;
            }
        }
        // tenant → sensors
        let mut sensors: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self.kv.scan(Tree::Sensors, b"", after.as_deref(), PAGE)?;
            let done = rows.len() < PAGE;
            for (k, _) in rows {
                if let Some(cut) = k.iter().position(|b| *b == keys::SEP) {
                    *sensors.entry(k[..=cut].to_vec()).or_default() += 1;
                    tally.entry(k[..=cut].to_vec()).or_default();
                }
                after = Some(k);
            }
            if done {
                break;
            }
        }
        let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for (prefix, (endpoints, hosts)) in tally {
            let mut counts: InventoryCounts = match self.kv.get(Tree::Inventory, &prefix)? {
                Some(raw) => super::records::decode(Tree::Inventory, &raw)?,
                None => InventoryCounts::default(),
            };
            counts.endpoints = endpoints;
            counts.hosts = hosts.len() as u64;
            counts.sensors = sensors.get(&prefix).copied().unwrap_or(0);
            writes.push((prefix.clone(), Some(super::records::encode(&counts))));
            for (host, n) in hosts {
                let mut k = prefix.clone();
                k.extend_from_slice(host.as_bytes());
                writes.push((k, Some(n.to_be_bytes().to_vec())));
            }
        }
        writes.push((bounds::COUNTED_MARKER.to_vec(), Some(vec![1])));
        self.kv.apply(Tree::Inventory, &writes)?;
        Ok(total)
    }

    /// A sensor's retired-epoch floor: batches of epochs at or below it are refused (0: none).
    pub fn retired_epoch_floor(&self, tenant: &TenantId, sensor: &SensorId) -> Result<u64> {
        Ok(self
            .kv
            .get(Tree::Watermarks, &bounds::floor_key(tenant, sensor))?
            .map_or(0, |raw| bounds::watermark_seq(&raw)))
    }

    /// Restarts the idle time of `sensor`'s `epoch` at `now_ms` (a hello with it), when the
    /// epoch has a watermark.
    pub fn touch_watermark(
        &self,
        tenant: &TenantId,
        sensor: &SensorId,
        epoch: u64,
        now_ms: i64,
    ) -> Result<()> {
        let key = keys::watermark(tenant, sensor, epoch);
        self.kv.transact(&|txn| {
            if txn.get(Tree::Watermarks, &key)?.is_some() {
                txn.put(Tree::WatermarkTimes, &key, &bounds::moved_value(now_ms))?;
            }
            Ok(())
        })
    }

    /// Retires a tenant's superseded watermarks idle for `idle_ms` at `now_ms` (the rule is in
    /// the module documentation); `streaming(sensor, epoch)` says whether an ingest stream has
    /// that epoch open right now. Examines at most [`MAX_WATERMARKS_SCANNED`] keys, resuming
    /// where the previous pass stopped.
    pub fn prune_watermarks(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        idle_ms: i64,
        streaming: &dyn Fn(&SensorId, u64) -> bool,
    ) -> Result<WatermarkPrune> {
        let rule = Rule {
            now_ms,
            idle_ms,
            streaming,
            keep: 1,
        };
        self.prune_watermarks_within(tenant, &rule, MAX_WATERMARKS_SCANNED)
    }

    /// Makes room for `new_epoch` of `sensor` under `inventory.max_epochs_per_sensor`. The
    /// sensor holds its epochs with a watermark plus the epochs of its open ingest streams
    /// (`open`) that have none yet (each will have one after its first batch); when those and
    /// the new one exceed `max_epochs`, retires the sensor's oldest epochs, never one at or
    /// above `new_epoch`, stopping at the first one a stream has open or that moved (a batch)
    /// or was touched (a hello) within [`TRIM_MIN_IDLE_MS`] of `now_ms`: the floor only
    /// rises, so no epoch above one that stays can go. An epoch at or below the floor is not
    /// new (its batches are refused) and always fits. Called at the hello of an epoch without
    /// a watermark; when the new epoch still does not fit, the hello is refused (the sensor
    /// keeps its batches spooled and retries, and continues that run when it restarts). This
    /// bounds what a sensor id (a stolen token looping "hello with a new epoch, one batch")
    /// adds to the watermark trees, without retiring the run of a live sensor that is
    /// reconnecting: a real sensor starts a new epoch only when it restarts with an empty
    /// spool, and the ones retired were left behind a day or more ago.
    pub fn trim_epochs(
        &self,
        tenant: &TenantId,
        sensor: &SensorId,
        new_epoch: u64,
        open: &[u64],
        max_epochs: u64,
        now_ms: i64,
    ) -> Result<EpochTrim> {
        let mut prefix = keys::sensor(tenant, sensor);
        prefix.push(keys::SEP);
        let rows: Vec<WatermarkRow> = self
            .kv
            .scan(Tree::Watermarks, &prefix, None, MAX_WATERMARKS_SCANNED)?
            .into_iter()
            .filter(|(k, _)| k.len() == prefix.len() + 8)
            .map(|(k, v)| (bounds::watermark_seq(&k[prefix.len()..]), k, v))
            .collect();
        let floor = rows
            .iter()
            .find(|(e, _, _)| *e == bounds::FLOOR_EPOCH)
            .map_or(0, |(_, _, v)| bounds::watermark_seq(v));
        let held = rows
            .iter()
            .filter(|(e, _, _)| *e != bounds::FLOOR_EPOCH)
            .count();
        // Open streams of new epochs: above the floor, without a watermark yet.
        let pending = open
            .iter()
            .filter(|e| **e != new_epoch && **e > floor)
            .filter(|e| !rows.iter().any(|(w, _, _)| w == *e))
            .count();
        let max_epochs = usize::try_from(max_epochs).unwrap_or(usize::MAX).max(1);
        // Epochs to retire so that the held, the pending and the new one fit.
        let excess = (held + pending + 1).saturating_sub(max_epochs);
        if excess == 0 || new_epoch <= floor {
            return Ok(EpochTrim {
                retired: 0,
                held,
                fits: true,
            });
        }
        // Only epochs below the new one may go: the floor must stay below it.
        let below: Vec<WatermarkRow> = rows
            .into_iter()
            .filter(|(e, _, _)| *e < new_epoch)
            .collect();
        let candidates = below
            .iter()
            .filter(|(e, _, _)| *e != bounds::FLOOR_EPOCH)
            .count();
        let streaming = |_: &SensorId, e: u64| open.contains(&e);
        let rule = Rule {
            now_ms,
            idle_ms: TRIM_MIN_IDLE_MS,
            streaming: &streaming,
            keep: candidates.saturating_sub(excess),
        };
        let mut out = WatermarkPrune::default();
        self.retire(tenant, sensor.as_str(), &below, &rule, false, &mut out)?;
        Ok(EpochTrim {
            retired: out.retired,
            held: held.saturating_sub(out.retired),
            fits: out.retired >= excess,
        })
    }

    /// [`Db::prune_watermarks`] examining at most `max_scanned` watermark keys. A pass starts
    /// after the key the previous pass stopped at (kept in `meta`, `tenant 0
    /// watermarks.prune_cursor`) and starts over from the tenant's first key once it reaches
    /// the last, so every key is judged within a bounded number of passes however many there
    /// are. A sensor whose epochs the bound cuts is judged on the part seen (none of it is the
    /// newest: the scan saw one more of its keys); the next pass continues inside it when all
    /// of that part was retired, after it otherwise (the walk stopped at an epoch that stays).
    pub(super) fn prune_watermarks_within(
        &self,
        tenant: &TenantId,
        rule: &Rule<'_>,
        max_scanned: usize,
    ) -> Result<WatermarkPrune> {
        const PAGE: usize = 1024;
        let max_scanned = max_scanned.max(1);
        let prefix = keys::tenant_prefix(tenant);
        let cursor_key = keys::meta_watermark_cursor(tenant);
        let mut after: Option<Vec<u8>> = self
            .kv
            .get(Tree::Meta, &cursor_key)?
            .filter(|c| c.starts_with(&prefix));
        // One key more than the bound: it says whether the last sensor's epochs go on.
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let exhausted = loop {
            let want = (max_scanned + 1 - rows.len()).min(PAGE);
            let page = self
                .kv
                .scan(Tree::Watermarks, &prefix, after.as_deref(), want)?;
            let end = page.len() < want;
            after = page.last().map(|(k, _)| k.clone()).or(after);
            rows.extend(page);
            if end {
                break true;
            }
            if rows.len() > max_scanned {
                break false;
            }
        };
        let extra = if exhausted { None } else { rows.pop() };
        let sensor_of = |k: &[u8]| -> Option<Vec<u8>> {
            let suffix = k.get(prefix.len()..)?;
            let split = suffix.len().checked_sub(9)?;
            (suffix[split] == keys::SEP).then(|| suffix[..split].to_vec())
        };
        // Consecutive keys of one sensor: (sensor, [(epoch, key, value)]).
        let mut groups: Vec<(Vec<u8>, Vec<WatermarkRow>)> = Vec::new();
        let mut last_key: Option<Vec<u8>> = None;
        for (k, v) in rows {
            last_key = Some(k.clone());
            let Some(sensor) = sensor_of(&k) else {
                continue;
            };
            let epoch = bounds::watermark_seq(&k[k.len() - 8..]);
            match groups.last_mut() {
                Some((s, g)) if *s == sensor => g.push((epoch, k, v)),
                _ => groups.push((sensor, vec![(epoch, k, v)])),
            }
        }
        let continues = extra
            .as_ref()
            .and_then(|(k, _)| sensor_of(k))
            .zip(groups.last())
            .is_some_and(|(next, (last, _))| next == *last);
        let mut out = WatermarkPrune::default();
        let n = groups.len();
        let mut resume = last_key;
        for (i, (sensor, group)) in groups.iter().enumerate() {
            let cut = continues && i + 1 == n;
            let all = self.retire(
                tenant,
                &String::from_utf8_lossy(sensor),
                group,
                rule,
                cut,
                &mut out,
            )?;
            if cut
                && !all
                && let Some((_, key, _)) = group.last()
            {
                // Skip the rest of this sensor's epochs: the walk stopped at one that stays.
                let mut skip = key[..key.len() - 8].to_vec();
                skip.extend_from_slice(&[0xFF; 8]);
                resume = Some(skip);
            }
        }
        match resume.filter(|_| !exhausted) {
            Some(c) => self.kv.put(Tree::Meta, &cursor_key, &c)?,
            None => self.kv.delete(Tree::Meta, &cursor_key)?,
        }
        Ok(out)
    }

    /// Applies the pruning rule to one sensor's watermarks (ascending epochs; the floor entry,
    /// epoch 0, first when present).
    fn retire(
        &self,
        tenant: &TenantId,
        sensor: &str,
        rows: &[WatermarkRow],
        rule: &Rule<'_>,
        cut: bool,
        out: &mut WatermarkPrune,
    ) -> Result<bool> {
        let Rule {
            now_ms,
            idle_ms,
            streaming,
            keep,
        } = *rule;
        let Ok(sensor) = SensorId::new(sensor) else {
            return Ok(false);
        };
        let epochs: Vec<&WatermarkRow> = rows
            .iter()
            .filter(|(e, _, _)| *e != bounds::FLOOR_EPOCH)
            .collect();
        // A group the scan bound cut has a newer epoch beyond it: all of it is older.
        let older: &[&WatermarkRow] = if cut {
            &epochs
        } else if epochs.is_empty() {
            return Ok(false);
        } else {
            &epochs[..epochs.len().saturating_sub(keep)]
        };
        let mut retire = Vec::new();
        let mut stamp = Vec::new();
        // Retires from the oldest up to the first epoch that stays; stamps every epoch without
        // a time on the way and after it, so each gets one on its first pass.
        let mut retiring = true;
        for row in older {
            let moved = self.kv.get(Tree::WatermarkTimes, &row.1)?;
            let moved = moved.as_deref().and_then(bounds::read_moved);
            if moved.is_none() {
                stamp.push(*row);
            }
            if !retiring {
                continue;
            }
            match moved {
                Some(m) if m <= now_ms.saturating_sub(idle_ms) && !streaming(&sensor, row.0) => {
                    retire.push((*row, m))
                }
                _ => retiring = false,
            }
        }
        if retire.is_empty() && stamp.is_empty() {
            return Ok(older.is_empty());
        }
        let floor_key = bounds::floor_key(tenant, &sensor);
        let done = std::cell::Cell::new((0, 0));
        self.kv.transact(&|txn| {
            done.set((0, 0));
            let mut floor = txn
                .get(Tree::Watermarks, &floor_key)?
                .map_or(0, |raw| bounds::watermark_seq(&raw));
            let mut retired = 0;
            for ((epoch, key, value), moved) in &retire {
                // A batch committed (or a hello touched it) since the scan: it stays.
                if txn.get(Tree::Watermarks, key)?.as_deref() != Some(value.as_slice())
                    || txn
                        .get(Tree::WatermarkTimes, key)?
                        .as_deref()
                        .and_then(bounds::read_moved)
                        != Some(*moved)
                {
                    break;
                }
                txn.delete(Tree::Watermarks, key)?;
                txn.delete(Tree::WatermarkTimes, key)?;
                floor = floor.max(*epoch);
                retired += 1;
            }
            if retired > 0 {
                txn.put(Tree::Watermarks, &floor_key, &floor.to_be_bytes())?;
            }
            let mut stamped = 0;
            for (_, key, _) in &stamp {
                if txn.get(Tree::WatermarkTimes, key)?.is_none() {
                    txn.put(Tree::WatermarkTimes, key, &bounds::moved_value(now_ms))?;
                    stamped += 1;
                }
            }
            done.set((retired, stamped));
            Ok(())
        })?;
        let (retired, stamped) = done.get();
        out.retired += retired;
        out.stamped += stamped;
        Ok(retired == older.len())
    }
}
