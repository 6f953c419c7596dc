//! Incidents in the store: the record (the correlator's facts beside the operator-owned
//! lifecycle), the merge of correlator changes — written in the analysis transaction with
//! the alert changes that caused them — operator status changes, and listings. Every write
//! of an incident appends a [`ChangeKind::Incident`] entry to the tenant's alert change log
//! under the next cursor, so incident changes travel on `WatchAlerts` with alert changes.
//!
//! Layout (like alerts): `incidents` maps `tenant 0 id` to the incident's last-seen time
//! (sortable i64), the pointer into `incidents_by_time`, which holds the record under
//! `tenant 0 last_seen(descending) id` so listings read newest first without a sort. The
//! correlator's own state is not here: it moves with the engine checkpoint
//! (`analysis_log`).

use super::alerts::{AlertLogRecord, ChangeKind, append_log, link_incident};
use super::db::Db;
pub use super::incident_records::{
    IncidentChangeKind, IncidentLogEntry, IncidentRecord, IncidentState,
};
use super::time_index::{TimeIndex, Window};
use super::{Result, Tree, Txn};
use picket_detect::incident::IncidentChange;
use picket_detect::{AlertStatus, Severity};
use picket_shared::TenantId;
use std::cell::RefCell;

/// Filters of an incident listing; `None`/0 means any. Merged incidents are never listed
/// (their alerts are listed with the incident that absorbed them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    pub min_severity: Option<Severity>,
    pub status: Option<AlertStatus>,
    pub state: Option<IncidentState>,
    /// An actor's IP (as text) or principal, exact.
    pub actor: Option<String>,
    /// A sensor id, exact.
    pub sensor: Option<String>,
    /// Last seen within `[since_ms, until_ms)`; 0 for open ends.
    pub since_ms: i64,
    pub until_ms: i64,
}

impl IncidentFilter {
    /// Whether `rec` passes every filter but the time range (the scan bounds that).
    pub fn matches(&self, rec: &IncidentRecord) -> bool {
        let f = &rec.facts;
        let actor_matches = |want: &str| {
            f.actors.iter().any(|a| {
                a.principal.as_deref() == Some(want)
                    || a.ip.is_some_and(|ip| ip.to_string() == want)
            })
        };
        rec.state != IncidentState::Merged
            && self.min_severity.is_none_or(|m| f.severity >= m)
            && self.status.is_none_or(|s| rec.status == s)
            && self.state.is_none_or(|s| rec.state == s)
            && self.actor.as_deref().is_none_or(actor_matches)
            && self.sensor.as_ref().is_none_or(|s| f.sensors.contains(s))
    }

    /// Texts that must appear in a matching record's raw JSON.
    fn needles(&self) -> Vec<Vec<u8>> {
        [&self.actor, &self.sensor]
            .into_iter()
            .flatten()
            .filter_map(|s| serde_json::to_vec(s).ok())
            .filter(|n| n.len() > 2)
            .collect()
    }
}

/// A page of incidents and the token to continue after, when more may follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentRecord>,
    /// The last key examined (tenant-relative); `None` when the listing is complete.
    pub next_token: Option<Vec<u8>>,
}

/// Most incident records one listing examines (with `limits.max_scan_per_request`).
pub const MAX_INCIDENT_SCAN: usize = 10_000;

/// Where incidents are kept: `incidents` points into `incidents_by_time`.
const INCIDENTS: TimeIndex = TimeIndex {
    ptr: Tree::Incidents,
    by_time: Tree::IncidentsByTime,
    what: "incident",
};

/// Reads an incident inside a transaction.
fn read_incident(txn: &mut dyn Txn, tenant: &TenantId, id: &str) -> Result<Option<IncidentRecord>> {
    INCIDENTS.read(txn, tenant, id)
}

/// Writes an incident and its pointer, moving its index entry when its last-seen time moved.
fn write_incident(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    old_last_seen: Option<i64>,
    rec: &IncidentRecord,
) -> Result<()> {
    let last_seen = rec.facts.last_seen_ms;
    INCIDENTS.write(txn, tenant, &rec.facts.id, (old_last_seen, last_seen), rec)
}

/// Appends an incident entry to the tenant's alert log.
fn log_incident(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    change: IncidentChangeKind,
    rec: &IncidentRecord,
    now_ms: i64,
) -> Result<u64> {
    let entry = AlertLogRecord {
        kind: ChangeKind::Incident,
        at_ms: now_ms,
        alert: None,
        notice: String::new(),
        incident: Some(IncidentLogEntry {
            change,
            incident: rec.clone(),
        }),
    };
    append_log(txn, tenant, &entry)
}

/// Merges one correlator change into the stored incidents (see [`IncidentRecord`] for who
/// owns what) and logs it; returns the log cursor, `None` when nothing was stored (a merge
/// naming an incident never stored).
pub(super) fn apply_incident_change(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    change: &IncidentChange,
    now_ms: i64,
) -> Result<Option<u64>> {
    let (facts, state) = match change {
        IncidentChange::Opened(f) | IncidentChange::Updated(f) => (f, IncidentState::Open),
        IncidentChange::Closed(f) => (f, IncidentState::Closed),
        IncidentChange::Merged { into, absorbed } => {
            let Some(mut rec) = read_incident(txn, tenant, absorbed)? else {
                return Ok(None);
            };
            rec.state = IncidentState::Merged;
            rec.merged_into = into.clone();
            rec.closed_at_ms = now_ms;
            write_incident(txn, tenant, Some(rec.facts.last_seen_ms), &rec)?;
            return log_incident(txn, tenant, IncidentChangeKind::Merged, &rec, now_ms).map(Some);
        }
    };
    let old = read_incident(txn, tenant, &facts.id)?;
    let old_last_seen = old.as_ref().map(|r| r.facts.last_seen_ms);
    // Alerts new to this incident (its own new ones, or those of an incident it absorbed)
    // point at it; those it already listed do already.
    let known = old.as_ref().map(|r| &r.facts.alert_ids);
    let new: Vec<&String> = facts
        .alert_ids
        .iter()
        .filter(|id| known.is_none_or(|k| !k.contains(id)))
        .collect();
    link_incident(txn, tenant, &new, &facts.id)?;
    let closed_at_ms = if state == IncidentState::Closed {
        now_ms
    } else {
        0
    };
    let (kind, rec) = match old {
        Some(prev) => (
            IncidentChangeKind::Updated,
            IncidentRecord {
                facts: facts.clone(),
                state,
                closed_at_ms,
                ..prev
            },
        ),
        None => (
            IncidentChangeKind::Opened,
            IncidentRecord {
                facts: facts.clone(),
                state,
                merged_into: String::new(),
                status: AlertStatus::Active,
                status_by: String::new(),
                status_at_ms: 0,
                status_comment: String::new(),
                opened_at_ms: now_ms,
                closed_at_ms,
            },
        ),
    };
    let kind = if state == IncidentState::Closed {
        IncidentChangeKind::Closed
    } else {
        kind
    };
    write_incident(txn, tenant, old_last_seen, &rec)?;
    log_incident(txn, tenant, kind, &rec, now_ms).map(Some)
}

impl Db {
    /// One incident of a tenant.
    pub fn get_incident(&self, tenant: &TenantId, id: &str) -> Result<Option<IncidentRecord>> {
        INCIDENTS.get(self.kv.as_ref(), tenant, id)
    }

    /// Sets an incident's status as an operator, logging the change. `None` when no such
    /// incident.
    pub fn update_incident_status(
        &self,
        tenant: &TenantId,
        id: &str,
        status: AlertStatus,
        by: &str,
        comment: &str,
        now_ms: i64,
    ) -> Result<Option<(IncidentRecord, u64)>> {
        let out = RefCell::new(None);
        self.kv.transact(&|txn| {
            *out.borrow_mut() = None;
            let Some(mut rec) = read_incident(txn, tenant, id)? else {
                return Ok(());
            };
            rec.status = status;
            rec.status_by = by.to_owned();
            rec.status_at_ms = now_ms;
            rec.status_comment = comment.to_owned();
            write_incident(txn, tenant, Some(rec.facts.last_seen_ms), &rec)?;
            let cursor = log_incident(txn, tenant, IncidentChangeKind::Status, &rec, now_ms)?;
            *out.borrow_mut() = Some((rec, cursor));
            Ok(())
        })?;
        Ok(out.into_inner())
    }

    /// Incidents of a tenant, newest last-seen first, filtered; at most `max_scan` records
    /// are examined per call (a partial page then carries a continuation token). `after` is
    /// a `next_token` of an earlier page with the same filter.
    pub fn list_incidents(
        &self,
        tenant: &TenantId,
        filter: &IncidentFilter,
        after: Option<&[u8]>,
        limit: usize,
        max_scan: usize,
    ) -> Result<IncidentPage> {
        let window = Window {
            since_ms: filter.since_ms,
            until_ms: filter.until_ms,
            after,
            limit,
            max_scan,
        };
        let (incidents, next_token) =
            INCIDENTS.list(self.kv.as_ref(), tenant, window, &filter.needles(), |r| {
                filter.matches(r)
            })?;
        Ok(IncidentPage {
            incidents,
            next_token,
        })
    }

    /// Deletes a tenant's incidents last seen (event time) before `cutoff_ms`, with the
    /// alerts' retention; their change-log entries go with the alert log's. Returns how many.
    pub fn purge_incidents(&self, tenant: &TenantId, cutoff_ms: i64) -> Result<usize> {
        INCIDENTS.purge(self.kv.as_ref(), tenant, cutoff_ms)
    }
}
