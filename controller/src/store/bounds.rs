//! Bounds on what ingest makes the store grow. The inventory caps (endpoints per tenant and
//! per host, hosts per tenant) with the fold of what lies beyond them into overflow
//! endpoints, the per-tenant counts the caps are checked against (`inventory` tree, written
//! in the batch transaction, so concurrent batches never count twice), and the watermark
//! formats: the retired-epoch floor, and when a watermark last moved (`watermark_times`),
//! which watermark pruning reads.
//!
//! A leaf of `store`: the batch transaction and `growth` use it.

use super::keys;
use super::records::{decode, encode};
use super::{Result, Tree, Txn};
use picket_shared::{EndpointKey, SensorId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Host of the overflow endpoint that takes the summaries of new hosts beyond
/// `inventory.max_hosts_per_tenant`.
pub const OVERFLOW_HOST: &str = "overflow.picket";
/// Method of every overflow endpoint: not a valid method on the wire, so no sensor-sent key
/// ever collides with one.
pub const OVERFLOW_METHOD: &str = "*";
/// Path template of every overflow endpoint.
pub const OVERFLOW_TEMPLATE: &str = "/{overflow}";

/// The overflow endpoint of `host`.
pub fn overflow_endpoint(host: &str) -> EndpointKey {
    EndpointKey {
        host: host.to_owned(),
        method: OVERFLOW_METHOD.to_owned(),
        template: OVERFLOW_TEMPLATE.to_owned(),
    }
}

/// Whether `key` is an overflow endpoint (those are not counted against the caps).
pub fn is_overflow(key: &EndpointKey) -> bool {
    key.method == OVERFLOW_METHOD
}

/// The caps on a tenant's inventory (config `[inventory]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventoryCaps {
    pub max_endpoints_per_tenant: u64,
    pub max_endpoints_per_host: u64,
    pub max_hosts_per_tenant: u64,
    /// Most sensor ids per tenant: a new one beyond it is refused at hello.
    pub max_sensors_per_tenant: u64,
}

impl Default for InventoryCaps {
    fn default() -> Self {
        Self {
            max_endpoints_per_tenant: 100_000,
            max_endpoints_per_host: 5_000,
            max_hosts_per_tenant: 1_000,
            max_sensors_per_tenant: 10_000,
        }
    }
}

/// A tenant's inventory counts: what the caps are checked against, and what they folded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InventoryCounts {
    /// Endpoints with their own record (overflow endpoints not included).
    pub endpoints: u64,
    /// Hosts counted against `max_hosts_per_tenant` (the overflow host not included).
    pub hosts: u64,
    /// Endpoint summaries stored in an overflow endpoint instead of their own.
    pub folded_summaries: u64,
    /// Requests of those summaries (metered and billed like any other).
    pub folded_requests: u64,
    /// Map keys and set members the lifetime records left out at their caps.
    pub keys_overflowed: u64,
    /// Sensor records (counted against `max_sensors_per_tenant`).
    pub sensors: u64,
}

/// `inventory` key of a tenant's counts: `tenant 0`.
pub(super) fn counts_key(tenant: &TenantId) -> Vec<u8> {
    keys::tenant_prefix(tenant)
}

/// `inventory` key of a host's endpoint count (be64): `tenant 0 host`.
pub(super) fn host_count_key(tenant: &TenantId, host: &str) -> Vec<u8> {
    keys::api(tenant, host)
}

/// `inventory` key set once the counts of a store written before they existed were taken
/// (tenant keys hold a 0 byte, so it never collides with one).
pub(super) const COUNTED_MARKER: &[u8] = b"counted";

pub(super) fn read_counts(raw: Option<Vec<u8>>) -> Result<InventoryCounts> {
    raw.map_or_else(
        || Ok(InventoryCounts::default()),
        |r| decode(Tree::Inventory, &r),
    )
}

fn be64(raw: &[u8]) -> u64 {
    raw.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// The inventory side of one batch transaction attempt: counts read once, updated in memory
/// and written back by [`Fold::save`] in the same transaction.
pub(super) struct Fold<'a> {
    tenant: &'a TenantId,
    caps: InventoryCaps,
    counts: Option<InventoryCounts>,
    /// Host → its endpoint count, `None` when the host is not counted (new).
    hosts: BTreeMap<String, Option<u64>>,
    changed_hosts: Vec<String>,
    changed: bool,
}

impl<'a> Fold<'a> {
    pub(super) fn new(tenant: &'a TenantId, caps: InventoryCaps) -> Self {
        Self {
            tenant,
            caps,
            counts: None,
            hosts: BTreeMap::new(),
            changed_hosts: Vec::new(),
            changed: false,
        }
    }

    fn load(&mut self, txn: &mut dyn Txn, host: &str) -> Result<Option<u64>> {
        if self.counts.is_none() {
            let raw = txn.get(Tree::Inventory, &counts_key(self.tenant))?;
            self.counts = Some(read_counts(raw)?);
        }
        if let Some(n) = self.hosts.get(host) {
            return Ok(*n);
        }
        let n = txn
            .get(Tree::Inventory, &host_count_key(self.tenant, host))?
            .map(|raw| be64(&raw));
        self.hosts.insert(host.to_owned(), n);
        Ok(n)
    }

    /// Where the summary of `key`, which has no record yet, is stored: `None` for its own
    /// key (now counted), or the overflow endpoint it folds into.
    pub(super) fn place(
        &mut self,
        txn: &mut dyn Txn,
        key: &EndpointKey,
        requests: u64,
    ) -> Result<Option<EndpointKey>> {
        let host_count = self.load(txn, &key.host)?;
        let caps = self.caps;
        let hosts_full = host_count.is_none()
            && self
                .counts
                .as_ref()
                .is_some_and(|c| c.hosts >= caps.max_hosts_per_tenant);
        // A host with an API record (onboarded or offboarded by an operator, possibly ahead of
        // its traffic) is never folded as a host: it is counted even beyond the host cap.
        let fold_host = hosts_full
            && txn
                .get(Tree::Apis, &keys::api(self.tenant, &key.host))?
                .is_none();
        let counts = self.counts.get_or_insert_with(Default::default);
        let target = match host_count {
            None if fold_host => Some(overflow_endpoint(OVERFLOW_HOST)),
            _ if counts.endpoints >= caps.max_endpoints_per_tenant
                || host_count.unwrap_or(0) >= caps.max_endpoints_per_host =>
            {
                if host_count.is_none() {
                    counts.hosts = counts.hosts.saturating_add(1);
                    self.hosts.insert(key.host.clone(), Some(0));
                    self.changed_hosts.push(key.host.clone());
                }
                Some(overflow_endpoint(&key.host))
            }
            _ => {
                if host_count.is_none() {
                    counts.hosts = counts.hosts.saturating_add(1);
                }
                counts.endpoints = counts.endpoints.saturating_add(1);
                let n = host_count.unwrap_or(0).saturating_add(1);
                self.hosts.insert(key.host.clone(), Some(n));
                self.changed_hosts.push(key.host.clone());
                None
            }
        };
        if target.is_some() {
            counts.folded_summaries = counts.folded_summaries.saturating_add(1);
            counts.folded_requests = counts.folded_requests.saturating_add(requests);
        }
        self.changed = true;
        Ok(target)
    }

    /// Counts map keys and set members a record left out at its caps.
    pub(super) fn keys_overflowed(&mut self, txn: &mut dyn Txn, n: u64) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        if self.counts.is_none() {
            let raw = txn.get(Tree::Inventory, &counts_key(self.tenant))?;
            self.counts = Some(read_counts(raw)?);
        }
        let counts = self.counts.get_or_insert_with(Default::default);
        counts.keys_overflowed = counts.keys_overflowed.saturating_add(n);
        self.changed = true;
        Ok(())
    }

    /// Counts a sensor record the batch creates (a sensor that streamed without a hello
    /// admitted by [`crate::store::Db::admit_sensor`] first; not refused here).
    pub(super) fn sensor_created(&mut self, txn: &mut dyn Txn) -> Result<()> {
        if self.counts.is_none() {
            let raw = txn.get(Tree::Inventory, &counts_key(self.tenant))?;
            self.counts = Some(read_counts(raw)?);
        }
        let counts = self.counts.get_or_insert_with(Default::default);
        counts.sensors = counts.sensors.saturating_add(1);
        self.changed = true;
        Ok(())
    }

    /// Writes what changed back, in the transaction.
    pub(super) fn save(self, txn: &mut dyn Txn) -> Result<()> {
        if !self.changed {
            return Ok(());
        }
        if let Some(c) = &self.counts {
            txn.put(Tree::Inventory, &counts_key(self.tenant), &encode(c))?;
        }
        for host in &self.changed_hosts {
            if let Some(Some(n)) = self.hosts.get(host) {
                txn.put(
                    Tree::Inventory,
                    &host_count_key(self.tenant, host),
                    &n.to_be_bytes(),
                )?;
            }
        }
        Ok(())
    }
}

/// Adjusts the counts for endpoint moves (`move_endpoints`): `removed` keys lost their record,
/// `added` keys gained one. Overflow keys are not counted.
pub(super) fn recount_in_txn(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    removed: &[&EndpointKey],
    added: &[&EndpointKey],
) -> Result<()> {
    if removed.is_empty() && added.is_empty() {
        return Ok(());
    }
    let ck = counts_key(tenant);
    let mut counts = read_counts(txn.get(Tree::Inventory, &ck)?)?;
    let mut hosts: BTreeMap<&str, u64> = BTreeMap::new();
    for (keys, add) in [(removed, false), (added, true)] {
        for key in keys.iter().filter(|k| !is_overflow(k)) {
            let n = match hosts.get(key.host.as_str()) {
                Some(n) => *n,
                None => txn
                    .get(Tree::Inventory, &host_count_key(tenant, &key.host))?
                    .map_or(0, |raw| be64(&raw)),
            };
            let (n, total) = if add {
                (n.saturating_add(1), counts.endpoints.saturating_add(1))
            } else {
                (n.saturating_sub(1), counts.endpoints.saturating_sub(1))
            };
            counts.endpoints = total;
            hosts.insert(key.host.as_str(), n);
        }
    }
    for (host, n) in hosts {
        txn.put(
            Tree::Inventory,
            &host_count_key(tenant, host),
            &n.to_be_bytes(),
        )?;
    }
    txn.put(Tree::Inventory, &ck, &encode(&counts))
}

// --- watermarks --------------------------------------------------------------------------

/// The epoch whose watermark key holds a sensor's retired-epoch floor: epochs at or below
/// the floor were pruned, and their batches are refused. Epoch 0 is never valid on the wire.
pub const FLOOR_EPOCH: u64 = 0;

/// `watermarks` key of a sensor's retired-epoch floor.
pub(super) fn floor_key(tenant: &TenantId, sensor: &SensorId) -> Vec<u8> {
    keys::watermark(tenant, sensor, FLOOR_EPOCH)
}

/// The committed seq of a watermark value (be64; 0 when malformed).
pub(super) fn watermark_seq(raw: &[u8]) -> u64 {
    if raw.len() == 8 { be64(raw) } else { 0 }
}

/// A `watermark_times` value: when the watermark last moved.
pub(super) fn moved_value(ms: i64) -> [u8; 8] {
    keys::sortable_i64(ms)
}

/// Reads a `watermark_times` value.
pub(super) fn read_moved(raw: &[u8]) -> Option<i64> {
    keys::read_sortable_i64(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_values_read_back() {
        assert_eq!(watermark_seq(&42u64.to_be_bytes()), 42);
        assert_eq!(watermark_seq(&[]), 0);
        assert_eq!(read_moved(&moved_value(-7)), Some(-7));
    }

    #[test]
    fn overflow_keys_cannot_come_from_the_wire() {
        let k = overflow_endpoint("api");
        assert!(is_overflow(&k));
        assert!(!picket_shared::limits::valid_method(&k.method));
        assert!(picket_shared::limits::valid_template(&k.template));
        assert!(picket_shared::limits::valid_host(OVERFLOW_HOST));
    }
}
