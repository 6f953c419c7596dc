//! Alerts in the store: the record (engine facts beside the operator-owned lifecycle), the
//! merge of engine changes, operator status changes, and the tenant's alert change log —
//! every write of an alert appends its change to the log in the same transaction, under the
//! tenant's next cursor.
//!
//! Layout: `alerts` maps `tenant 0 id` to the alert's last-seen time (sortable i64), the
//! pointer into `alerts_by_time`, which holds the record under `tenant 0 last_seen(descending)
//! id` so listings read newest first without a sort. `alert_log` holds the changes under
//! `tenant 0 cursor(be64)`; `meta` keeps each tenant's newest cursor and the newest cursor
//! retention removed.

use super::analysis_log::BillingNotice;
use super::db::{Db, read_u64};
use super::incident_records::IncidentLogEntry;
use super::records::{decode, encode};
use super::time_index::TimeIndex;
use super::{Result, Tree, Txn, keys};
use picket_detect::incident::IncidentChange;
use picket_detect::{AlertChange, AlertFacts, AlertStatus};
use picket_shared::TenantId;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// An alert as stored: the engine's facts and the operator's lifecycle.
///
/// Ownership: the engine owns `facts` (an engine change replaces them whole); operators own
/// `status`, `status_by`, `status_at_ms` and `status_comment`, which no engine change ever
/// touches. An engine update of an acknowledged, resolved or dismissed alert therefore keeps
/// that status (the facts grow; the operator's decision stands until an operator reopens it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertRecord {
    pub facts: AlertFacts,
    pub status: AlertStatus,
    pub status_by: String,
    pub status_at_ms: i64,
    pub status_comment: String,
    /// Controller clock when the alert was first stored.
    pub raised_at_ms: i64,
    /// The incident the alert belongs to (empty until the correlator places it). Set in the
    /// analysis transaction from the correlator's changes; an incident that absorbs another
    /// takes its alerts over.
    pub incident_id: String,
}

impl Default for AlertRecord {
    fn default() -> Self {
        AlertRecord {
            facts: AlertFacts::default(),
            status: AlertStatus::Active,
            status_by: String::new(),
            status_at_ms: 0,
            status_comment: String::new(),
            raised_at_ms: 0,
            incident_id: String::new(),
        }
    }
}

/// What an alert-log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Raised,
    Updated,
    Status,
    Billing,
    /// An incident change (`incident` says which).
    Incident,
}

/// One entry of a tenant's alert change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertLogRecord {
    pub kind: ChangeKind,
    /// Controller clock at commit.
    pub at_ms: i64,
    /// The alert as of the change; `None` for billing notices and incident changes.
    pub alert: Option<AlertRecord>,
    pub notice: String,
    /// The incident change, for [`ChangeKind::Incident`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentLogEntry>,
}

/// What consecutive analyzed log entries of one tenant write, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisCommit<'a> {
    /// The analysis-log entries consumed: `first_seq..=seq`, consecutive, one tenant's.
    pub first_seq: u64,
    pub seq: u64,
    pub tenant: &'a TenantId,
    pub changes: &'a [AlertChange],
    /// What the tenant's incident correlator made of `changes`, each with how many of
    /// `changes` precede it on the alert log (an entry's incident changes follow its own
    /// alert changes, however entries are grouped).
    pub incidents: &'a [(usize, IncidentChange)],
    /// (rule id, alert id) pairs: each adds one hit to its rule.
    pub suppressed: &'a [(String, String)],
    pub billing: &'a [BillingNotice],
    pub now_ms: i64,
}

/// Takes the tenant's next alert-log cursor and appends `rec` under it.
pub(super) fn append_log(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    rec: &AlertLogRecord,
) -> Result<u64> {
    let key = keys::meta_alert_log_last(tenant);
    let cursor = txn.get(Tree::Meta, &key)?.map_or(0, |raw| read_u64(&raw)) + 1;
    txn.put(Tree::Meta, &key, &cursor.to_be_bytes())?;
    txn.put(
        Tree::AlertLog,
        &keys::alert_log(tenant, cursor),
        &encode(rec),
    )?;
    Ok(cursor)
}

/// Where alerts are kept: `alerts` points into `alerts_by_time`.
pub(super) const ALERTS: TimeIndex = TimeIndex {
    ptr: Tree::Alerts,
    by_time: Tree::AlertsByTime,
    what: "alert",
};

/// Reads an alert inside a transaction: its record, if stored.
fn read_alert(txn: &mut dyn Txn, tenant: &TenantId, id: &str) -> Result<Option<AlertRecord>> {
    ALERTS.read(txn, tenant, id)
}

/// Writes an alert and its pointer, moving its index entry when its last-seen time changed.
fn write_alert(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    old_last_seen: Option<i64>,
    rec: &AlertRecord,
) -> Result<()> {
    let last_seen = rec.facts.last_seen_ms;
    ALERTS.write(txn, tenant, &rec.facts.id, (old_last_seen, last_seen), rec)
}

/// Merges one engine change into the stored alert (see [`AlertRecord`] for who owns what)
/// and logs it. A `Raised` of an alert already stored, or an `Updated` of one no longer
/// stored (retention removed it), is stored as what it now is: an update, or a new alert.
/// `incident` is the incident the same transaction places the alert in, if any.
pub(super) fn apply_change(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    change: &AlertChange,
    incident: Option<&str>,
    now_ms: i64,
) -> Result<u64> {
    let facts = change.facts();
    let old = read_alert(txn, tenant, &facts.id)?;
    let old_last_seen = old.as_ref().map(|r| r.facts.last_seen_ms);
    let (kind, rec) = match old {
        Some(prev) => (
            ChangeKind::Updated,
            AlertRecord {
                facts: facts.clone(),
                ..prev
            },
        ),
        None => (
            ChangeKind::Raised,
            AlertRecord {
                facts: facts.clone(),
                raised_at_ms: now_ms,
                ..AlertRecord::default()
            },
        ),
    };
    let mut rec = rec;
    if let Some(id) = incident {
        id.clone_into(&mut rec.incident_id);
    }
    write_alert(txn, tenant, old_last_seen, &rec)?;
    let entry = AlertLogRecord {
        kind,
        at_ms: now_ms,
        alert: Some(rec),
        notice: String::new(),
        incident: None,
    };
    append_log(txn, tenant, &entry)
}

/// Points the stored alerts `ids` at `incident` (no log entry: the incident change that
/// lists them is logged). Alerts no longer stored are skipped.
pub(super) fn link_incident(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    ids: &[&String],
    incident: &str,
) -> Result<()> {
    for id in ids {
        let Some(mut rec) = read_alert(txn, tenant, id)? else {
            continue;
        };
        if rec.incident_id != incident {
            incident.clone_into(&mut rec.incident_id);
            let last_seen = rec.facts.last_seen_ms;
            write_alert(txn, tenant, Some(last_seen), &rec)?;
        }
    }
    Ok(())
}

/// The text of a billing notice on the alert stream.
pub fn billing_notice_text(n: &BillingNotice) -> String {
    format!(
        "billing: {}% of the plan's included calls used in the cycle starting {} (unix ms)",
        n.threshold_pct, n.cycle_start_ms
    )
}

/// Adds one hit to a suppression rule, if it still exists.
pub(super) fn add_hit(txn: &mut dyn Txn, tenant: &TenantId, rule: &str) -> Result<()> {
    let key = keys::by_id(tenant, rule);
    if let Some(raw) = txn.get(Tree::Suppressions, &key)? {
        let mut rec: super::suppressions::SuppressionRecord = decode(Tree::Suppressions, &raw)?;
        rec.hits = rec.hits.saturating_add(1);
        txn.put(Tree::Suppressions, &key, &encode(&rec))?;
    }
    Ok(())
}

/// Result of storing one analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Stored; the tenant's newest cursor is now this (`None`: the entry changed no alert).
    Stored(Option<u64>),
    /// The entry had been analyzed and stored before; nothing changed.
    AlreadyDone,
}

impl Db {
    /// Sets an alert's status as an operator, logging the change. `None` when no such alert.
    pub fn update_alert_status(
        &self,
        tenant: &TenantId,
        id: &str,
        status: AlertStatus,
        by: &str,
        comment: &str,
        now_ms: i64,
    ) -> Result<Option<(AlertRecord, u64)>> {
        let out = RefCell::new(None);
        self.kv.transact(&|txn| {
            *out.borrow_mut() = None;
            let Some(mut rec) = read_alert(txn, tenant, id)? else {
                return Ok(());
            };
            rec.status = status;
            rec.status_by = by.to_owned();
            rec.status_at_ms = now_ms;
            rec.status_comment = comment.to_owned();
            write_alert(txn, tenant, Some(rec.facts.last_seen_ms), &rec)?;
            let entry = AlertLogRecord {
                kind: ChangeKind::Status,
                at_ms: now_ms,
                alert: Some(rec.clone()),
                notice: String::new(),
                incident: None,
            };
            let cursor = append_log(txn, tenant, &entry)?;
            *out.borrow_mut() = Some((rec, cursor));
            Ok(())
        })?;
        Ok(out.into_inner())
    }

    /// One alert of a tenant.
    pub fn get_alert(&self, tenant: &TenantId, id: &str) -> Result<Option<AlertRecord>> {
        ALERTS.get(self.kv.as_ref(), tenant, id)
    }
}
