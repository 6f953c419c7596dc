//! Reading posture back: filtered, ordered findings and the report `GetPosture` answers.

use super::finding::{FindingRecord, FindingStatus, Kind, Severity};
use super::score::{api_score, tenant_score};
use crate::store::findings::PostureSnapshot;
use std::collections::BTreeMap;

/// A findings filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub api: Option<String>,
    pub kind: Option<Kind>,
    pub min_severity: Option<Severity>,
    pub status: Option<FindingStatus>,
}

impl FindingFilter {
    pub fn matches(&self, r: &FindingRecord) -> bool {
        self.api.as_ref().is_none_or(|a| *a == r.finding.host)
            && self.kind.is_none_or(|k| k == r.finding.kind)
            && self.min_severity.is_none_or(|s| r.finding.severity >= s)
            && self.status.is_none_or(|s| s == r.status)
    }
}

/// The findings `filter` keeps, most severe first (then API, endpoint, method, kind), so
/// pages of a listing and the report's top findings agree.
pub fn select(records: Vec<FindingRecord>, filter: &FindingFilter) -> Vec<FindingRecord> {
    let mut out: Vec<FindingRecord> = records.into_iter().filter(|r| filter.matches(r)).collect();
    out.sort_by(|a, b| {
        let (x, y) = (&a.finding, &b.finding);
        y.severity
            .cmp(&x.severity)
            .then_with(|| x.host.cmp(&y.host))
            .then_with(|| x.endpoint.cmp(&y.endpoint))
            .then_with(|| x.method.cmp(&y.method))
            .then_with(|| x.kind.cmp(&y.kind))
    });
    out
}

/// One API's line of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiPosture {
    pub api: String,
    pub score: u32,
    pub state: String,
    pub requests: u64,
    pub open_findings: u64,
}

/// The posture of a tenant (or of one API).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub score: u32,
    pub apis: Vec<ApiPosture>,
    pub by_severity: BTreeMap<&'static str, u64>,
    pub by_kind: BTreeMap<&'static str, u64>,
    pub top: Vec<FindingRecord>,
    pub evaluated_ms: i64,
    pub resolved: u64,
}

/// Builds the report from the stored findings and the last evaluation's snapshot; `api`
/// narrows it to one API (whose score becomes the report's).
pub fn report(
    records: Vec<FindingRecord>,
    snapshot: &PostureSnapshot,
    api: Option<&str>,
    top: usize,
) -> Report {
    let scope = FindingFilter {
        api: api.map(str::to_owned),
        ..Default::default()
    };
    let records = select(records, &scope);
    let (open, resolved): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.status == FindingStatus::Open);
    let mut out = Report {
        evaluated_ms: snapshot.evaluated_ms,
        resolved: resolved.len() as u64,
        ..Default::default()
    };
    let mut per_api: BTreeMap<String, Vec<&FindingRecord>> = BTreeMap::new();
    for r in &open {
        *out.by_severity
            .entry(r.finding.severity.as_str())
            .or_default() += 1;
        *out.by_kind.entry(r.finding.kind.as_str()).or_default() += 1;
        per_api.entry(r.finding.host.clone()).or_default().push(r);
    }
    let mut weights = BTreeMap::new();
    let mut hosts: Vec<&String> = snapshot.apis.keys().collect();
    hosts.extend(per_api.keys().filter(|h| !snapshot.apis.contains_key(*h)));
    for host in hosts {
        if api.is_some_and(|a| a != host) {
            continue;
        }
        let mine = per_api.get(host).map(Vec::as_slice).unwrap_or_default();
        let snap = snapshot.apis.get(host).cloned().unwrap_or_default();
        let score = api_score(mine.iter().map(|r| &r.finding), snap.endpoints);
        weights.insert(host.clone(), (score, snap.requests));
        out.apis.push(ApiPosture {
            api: host.clone(),
            score,
            state: snap.state,
            requests: snap.requests,
            open_findings: mine.len() as u64,
        });
    }
    out.score = tenant_score(&weights);
    out.top = open.into_iter().take(top).collect();
    out
}
