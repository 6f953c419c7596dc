//! Folding endpoints learned before a spec into the spec's templates: after an import, every
//! inventory endpoint whose learned or concrete path is a call of a documented operation
//! under another template (`/users/123`, `/users/{id}` for `/users/{userId}`) is merged into
//! the operation's endpoint key — summaries add up, sensors join — in one store transaction.
//! Idempotent: a merged endpoint is keyed by the spec's template, so a second run finds
//! nothing to move.

use super::TenantSpecs;
use crate::error::Result;
use crate::inventory::{EndpointFilter, list_endpoints};
use crate::store::Db;
use picket_openapi::Class;
use picket_shared::{EndpointKey, TenantId};

/// Most endpoints one merge moves (the transaction's size bound); the rest stay and are
/// still classified right by the matcher.
pub const MAX_MERGED_ENDPOINTS: usize = 10_000;

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Endpoints folded into a spec template.
    pub merged: usize,
    /// Endpoints examined.
    pub scanned: usize,
}

/// The moves a merge would make: `(learned key, spec key)`, examining at most `max_scan`.
pub fn planned_moves(
    db: &Db,
    tenant: &TenantId,
    specs: &TenantSpecs,
    max_scan: usize,
) -> Result<(Vec<(EndpointKey, EndpointKey)>, usize)> {
    let mut moves = Vec::new();
    let mut cursor: Option<String> = None;
    let mut scanned = 0;
    loop {
        let page = list_endpoints(
            db,
            tenant,
            &EndpointFilter::default(),
            1_024,
            cursor.as_deref(),
            1_024,
        )?;
        for (key, _) in &page.items {
            scanned += 1;
            let Some(status) = specs.classify(key) else {
                return Ok((moves, scanned));
            };
            let documented = matches!(status.class, Class::Documented | Class::Zombie);
            if documented && !status.template.is_empty() && status.template != key.template {
                let to = EndpointKey {
                    template: status.template,
                    ..key.clone()
                };
                moves.push((key.clone(), to));
                if moves.len() >= MAX_MERGED_ENDPOINTS {
                    return Ok((moves, scanned));
                }
            }
        }
        match page.next_cursor {
            Some(c) if scanned < max_scan => cursor = Some(c),
            _ => return Ok((moves, scanned)),
        }
    }
}

/// Merges the tenant's learned endpoints into its specs' templates.
pub fn merge_learned(
    db: &Db,
    tenant: &TenantId,
    specs: &TenantSpecs,
    max_scan: usize,
) -> Result<Merged> {
    let (moves, scanned) = planned_moves(db, tenant, specs, max_scan)?;
    let merged = db.move_endpoints(tenant, &moves)?;
    Ok(Merged { merged, scanned })
}
