//! Reading alerts: filtered newest-first listings with bounded scans, the alert change log
//! (what `WatchAlerts` streams), and retention.
//!
//! Listing walks `alerts_by_time` from the newest alert (or from `until_ms`, a direct seek)
//! and stops at `since_ms`, so the time range costs nothing. Other filters are checked per
//! record; a record whose raw bytes lack a filter's text is skipped without decoding it. At
//! most `max_scan` records are examined per call: a selective filter over many alerts returns
//! a partial (possibly empty) page with a continuation token rather than scanning on.

use super::alerts::{ALERTS, AlertLogRecord, AlertRecord};
use super::db::{Db, read_u64};
use super::records::decode;
use super::time_index::Window;
use super::{Result, Tree, keys};
use picket_detect::{AlertStatus, AlertType, Severity};
use picket_shared::TenantId;

/// Most alert records one listing examines (with `limits.max_scan_per_request`, whichever is
/// lower): bounds a selective filter's latency over a large store.
pub const MAX_ALERT_SCAN: usize = 10_000;

/// Most records one scan page reads from the store.
const SCAN_PAGE: usize = 512;

/// Filters of an alert listing; `None`/0 means any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub min_severity: Option<Severity>,
    pub status: Option<AlertStatus>,
    pub kind: Option<AlertType>,
    pub host: Option<String>,
    pub method: Option<String>,
    pub template: Option<String>,
    /// An actor's IP (as text) or principal, exact, on the main actor or any listed actor.
    pub actor: Option<String>,
    /// Last seen within `[since_ms, until_ms)`; 0 for open ends.
    pub since_ms: i64,
    pub until_ms: i64,
}

impl AlertFilter {
    /// Whether `rec` passes every filter but the time range (the scan bounds that).
    pub fn matches(&self, rec: &AlertRecord) -> bool {
        let f = &rec.facts;
        let actor_matches = |want: &str| {
            std::iter::once(&f.actor).chain(&f.actors).any(|a| {
                a.principal.as_deref() == Some(want)
                    || a.ip.is_some_and(|ip| ip.to_string() == want)
            })
        };
        self.min_severity
            .is_none_or(|m| f.severity.is_some_and(|s| s >= m))
            && self.status.is_none_or(|s| rec.status == s)
            && self.kind.is_none_or(|k| f.kind == Some(k))
            && self.host.as_ref().is_none_or(|h| *h == f.host)
            && self.method.as_ref().is_none_or(|m| *m == f.method)
            && self.template.as_ref().is_none_or(|t| *t == f.template)
            && self.actor.as_deref().is_none_or(actor_matches)
    }

    /// Texts that must appear in a matching record's raw JSON (each as JSON would escape it).
    fn needles(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = [&self.host, &self.method, &self.template, &self.actor]
            .into_iter()
            .flatten()
            .filter_map(|s| serde_json::to_vec(s).ok())
            .map(|quoted| quoted[1..quoted.len().saturating_sub(1)].to_vec())
            .filter(|n| !n.is_empty())
            .collect();
        // Enum fields as serde_json writes them (no spaces); a string value holding the same
        // text would be escaped, so these only ever match the fields themselves.
        if let Some(k) = self.kind {
            out.push(format!("\"kind\":\"{}\"", k.id()).into_bytes());
        }
        if let Some(s) = self.status {
            out.push(format!("\"status\":\"{}\"", s.as_str()).into_bytes());
        }
        out
    }
}

/// A page of alerts and the token to continue after, when more may follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<AlertRecord>,
    /// The last key examined (tenant-relative): pass it back as `after` to continue; `None`
    /// when the listing is complete.
    pub next_token: Option<Vec<u8>>,
}

/// The alert-log range of a tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogBounds {
    /// The newest cursor retention removed (0: none); the oldest kept is one more.
    pub purged: u64,
    /// The newest cursor (0: none yet).
    pub last: u64,
}

impl Db {
    /// Alerts of a tenant, newest last-seen first, filtered; see the module notes for the scan
    /// budget. `after` is a `next_token` of an earlier page with the same filter.
    pub fn list_alerts(
        &self,
        tenant: &TenantId,
        filter: &AlertFilter,
        after: Option<&[u8]>,
        limit: usize,
        max_scan: usize,
    ) -> Result<AlertPage> {
        let window = Window {
            since_ms: filter.since_ms,
            until_ms: filter.until_ms,
            after,
            limit,
            max_scan,
        };
        let (alerts, next_token) =
            ALERTS.list(self.kv.as_ref(), tenant, window, &filter.needles(), |r| {
                filter.matches(r)
            })?;
        Ok(AlertPage { alerts, next_token })
    }

    /// Changes of a tenant's alert log strictly after `after`, in cursor order, at most `limit`.
    pub fn alert_log_after(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, AlertLogRecord)>> {
        let prefix = keys::tenant_prefix(tenant);
        let start = keys::alert_log(tenant, after);
        self.kv
            .scan(Tree::AlertLog, &prefix, Some(&start), limit)?
            .into_iter()
            .map(|(k, v)| Ok((read_u64(&k[prefix.len()..]), decode(Tree::AlertLog, &v)?)))
            .collect()
    }

    /// The tenant's alert-log range.
    pub fn alert_log_bounds(&self, tenant: &TenantId) -> Result<LogBounds> {
        let read = |key: Vec<u8>| -> Result<u64> {
            Ok(self.kv.get(Tree::Meta, &key)?.map_or(0, |r| read_u64(&r)))
        };
        Ok(LogBounds {
            purged: read(keys::meta_alert_log_purged(tenant))?,
            last: read(keys::meta_alert_log_last(tenant))?,
        })
    }

    /// Deletes a tenant's alerts last seen before `cutoff_ms` and its alert-log entries
    /// committed before it, recording the newest purged cursor. Returns (alerts, log entries)
    /// removed.
    pub fn purge_alerts(&self, tenant: &TenantId, cutoff_ms: i64) -> Result<(usize, usize)> {
        let alerts = ALERTS.purge(self.kv.as_ref(), tenant, cutoff_ms)?;
        Ok((alerts, self.purge_alert_log(tenant, cutoff_ms)?))
    }

    fn purge_alert_log(&self, tenant: &TenantId, cutoff_ms: i64) -> Result<usize> {
        let mut removed = 0;
        loop {
            let rows = self.alert_log_after(tenant, 0, SCAN_PAGE)?;
            let old: Vec<u64> = rows
                .iter()
                .take_while(|(_, r)| r.at_ms < cutoff_ms)
                .map(|(c, _)| *c)
                .collect();
            let Some(&newest) = old.last() else {
                return Ok(removed);
            };
            self.kv.transact(&|txn| {
                for c in &old {
                    txn.delete(Tree::AlertLog, &keys::alert_log(tenant, *c))?;
                }
                txn.put(
                    Tree::Meta,
                    &keys::meta_alert_log_purged(tenant),
                    &newest.to_be_bytes(),
                )
            })?;
            removed += old.len();
            if old.len() < rows.len() {
                return Ok(removed);
            }
        }
    }
}
