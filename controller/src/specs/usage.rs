//! Which documented operations the inventory has traffic for: the "unused" side of the
//! matching (documented, never seen).

use super::TenantSpecs;
use crate::error::Result;
use crate::store::Db;
use picket_shared::TenantId;

/// Inventory records read per store scan.
const SCAN_CHUNK: usize = 512;

/// Traffic matched to one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationUse {
    pub calls: u64,
    pub last_seen_ms: i64,
}

/// Per operation of one spec: its traffic, `None` when unused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub operations: Vec<Option<OperationUse>>,
    /// False when the inventory held more than `max_scan` endpoints: `None` may then be
    /// traffic not examined.
    pub complete: bool,
}

/// Matches the tenant's inventory (at most `max_scan` endpoints) to the operations of spec
/// `index` of `specs`.
pub fn usage(
    db: &Db,
    tenant: &TenantId,
    specs: &TenantSpecs,
    index: usize,
    max_scan: usize,
) -> Result<Usage> {
    let ops = match specs.specs.get(index).map(|s| &s.parsed) {
        Some(Ok(spec)) => spec.operations.len(),
        _ => 0,
    };
    let mut out = Usage {
        operations: vec![None; ops],
        complete: true,
    };
    let mut after = None;
    let mut scanned = 0;
    loop {
        let rows = db.endpoints(tenant, None, after.as_ref(), SCAN_CHUNK)?;
        let exhausted = rows.len() < SCAN_CHUNK;
        for (key, rec) in rows {
            if scanned == max_scan {
                out.complete = false;
                return Ok(out);
            }
            scanned += 1;
            if let Some((si, oi)) = specs.operation_of(&key)
                && si == index
                && let Some(slot) = out.operations.get_mut(oi)
            {
                let u = slot.get_or_insert_default();
                u.calls += rec.summary.requests;
                u.last_seen_ms = u.last_seen_ms.max(rec.summary.last_seen_ms);
            }
            after = Some(key);
        }
        if exhausted {
            return Ok(out);
        }
    }
}
