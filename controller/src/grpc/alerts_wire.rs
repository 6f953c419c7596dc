//! Wire ⇄ domain conversion for `picket.v1.Alerts` (the alert record, changes, filters,
//! suppression rules, incidents). Kept apart from `convert` (ingest and inventory) so each service's
//! conversions live in one place.

use crate::error::{Error, Result};
use crate::store::alert_query::AlertFilter;
use crate::store::alerts::{AlertLogRecord, AlertRecord, ChangeKind};
use crate::store::incidents::{
    IncidentChangeKind, IncidentFilter, IncidentLogEntry, IncidentRecord, IncidentState,
};
use crate::store::suppressions::SuppressionRecord;
use picket_detect::incident::IncidentKey;
use picket_detect::{Actor, AlertStatus, AlertType, Severity, Suppression};
use picket_proto::v1 as pb;

/// What the catalogue says about an alert type, as the wire carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueWire {
    pub title: String,
    pub tactic: String,
    pub technique: String,
    pub remediation: String,
    pub defender_alert: String,
}

/// The catalogue entry of an alert type (`picket_detect::catalogue`), as the wire carries it.
pub fn catalogue(kind: Option<AlertType>) -> CatalogueWire {
    let Some(kind) = kind else {
        return CatalogueWire::default();
    };
    let e = picket_detect::catalogue::entry(kind);
    CatalogueWire {
        title: e.title.to_owned(),
        tactic: e.tactic.to_owned(),
        technique: e.technique.to_owned(),
        remediation: e.remediation.to_owned(),
        defender_alert: e.defender.to_owned(),
    }
}

/// A severity on the wire (`None`: unspecified).
pub fn severity_pb(s: Option<Severity>) -> pb::Severity {
    match s {
        None => pb::Severity::Unspecified,
        Some(Severity::Informational) => pb::Severity::Informational,
        Some(Severity::Low) => pb::Severity::Low,
        Some(Severity::Medium) => pb::Severity::Medium,
        Some(Severity::High) => pb::Severity::High,
    }
}

fn severity_from_pb(v: i32) -> Result<Option<Severity>> {
    match pb::Severity::try_from(v) {
        Ok(pb::Severity::Unspecified) => Ok(None),
        Ok(pb::Severity::Informational) => Ok(Some(Severity::Informational)),
        Ok(pb::Severity::Low) => Ok(Some(Severity::Low)),
        Ok(pb::Severity::Medium) => Ok(Some(Severity::Medium)),
        Ok(pb::Severity::High) => Ok(Some(Severity::High)),
        Err(_) => Err(Error::invalid(format!("severity {v} is not a known value"))),
    }
}

/// A status on the wire.
pub fn status_pb(s: AlertStatus) -> pb::AlertStatus {
    match s {
        AlertStatus::Active => pb::AlertStatus::Active,
        AlertStatus::Acknowledged => pb::AlertStatus::Acknowledged,
        AlertStatus::Resolved => pb::AlertStatus::Resolved,
        AlertStatus::Dismissed => pb::AlertStatus::Dismissed,
    }
}

/// A status from the wire; unspecified is `None`.
pub fn status_from_pb(v: i32) -> Result<Option<AlertStatus>> {
    match pb::AlertStatus::try_from(v) {
        Ok(pb::AlertStatus::Unspecified) => Ok(None),
        Ok(pb::AlertStatus::Active) => Ok(Some(AlertStatus::Active)),
        Ok(pb::AlertStatus::Acknowledged) => Ok(Some(AlertStatus::Acknowledged)),
        Ok(pb::AlertStatus::Resolved) => Ok(Some(AlertStatus::Resolved)),
        Ok(pb::AlertStatus::Dismissed) => Ok(Some(AlertStatus::Dismissed)),
        Err(_) => Err(Error::invalid(format!("status {v} is not a known value"))),
    }
}

fn actor_pb(a: &Actor) -> pb::Actor {
    pb::Actor {
        ip: a.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        principal: a.principal.clone().unwrap_or_default(),
        user_agent: a.user_agent.clone().unwrap_or_default(),
    }
}

/// An alert as the wire shows it.
pub fn alert_pb(tenant: &str, r: &AlertRecord) -> pb::Alert {
    let f = &r.facts;
    let cat = catalogue(f.kind);
    pb::Alert {
        id: f.id.clone(),
        tenant: tenant.to_owned(),
        r#type: f.kind.map(|k| k.id().to_owned()).unwrap_or_default(),
        title: cat.title,
        severity: severity_pb(f.severity) as i32,
        status: status_pb(r.status) as i32,
        mitre_tactic: cat.tactic,
        mitre_technique: cat.technique,
        host: f.host.clone(),
        method: f.method.clone(),
        template: f.template.clone(),
        actor: Some(actor_pb(&f.actor)),
        actors: f.actors.iter().map(actor_pb).collect(),
        sensors: f.sensors.iter().cloned().collect(),
        count: f.count,
        first_seen_ms: f.first_seen_ms,
        last_seen_ms: f.last_seen_ms,
        figures: f
            .figures
            .iter()
            .map(|x| pb::Figure {
                name: x.name.clone(),
                observed: x.observed,
                baseline: x.baseline,
                unit: x.unit.clone(),
            })
            .collect(),
        evidence: f.evidence.clone(),
        remediation: cat.remediation,
        defender_alert: cat.defender_alert,
        status_by: r.status_by.clone(),
        status_at_ms: r.status_at_ms,
        status_comment: r.status_comment.clone(),
        raised_at_ms: r.raised_at_ms,
        incident_id: r.incident_id.clone(),
    }
}

/// One alert-log entry as a stream message.
pub fn change_pb(tenant: &str, cursor: u64, rec: &AlertLogRecord) -> pb::AlertChange {
    use pb::alert_change::Kind;
    let kind = match rec.kind {
        ChangeKind::Raised => Kind::Raised,
        ChangeKind::Updated => Kind::Updated,
        ChangeKind::Status => Kind::Status,
        ChangeKind::Billing => Kind::Billing,
        ChangeKind::Incident => Kind::Incident,
    };
    pb::AlertChange {
        kind: kind as i32,
        cursor,
        alert: rec.alert.as_ref().map(|a| alert_pb(tenant, a)),
        notice: rec.notice.clone(),
        at_ms: rec.at_ms,
        incident: rec.incident.as_ref().map(|e| incident_change_pb(tenant, e)),
    }
}

/// A snapshot or bookmark message.
pub fn marker_pb(
    kind: pb::alert_change::Kind,
    cursor: u64,
    alert: Option<pb::Alert>,
    at_ms: i64,
) -> pb::AlertChange {
    pb::AlertChange {
        kind: kind as i32,
        cursor,
        alert,
        notice: String::new(),
        at_ms,
        incident: None,
    }
}

fn non_empty(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

fn kind_from(id: &str) -> Result<Option<AlertType>> {
    if id.is_empty() {
        return Ok(None);
    }
    AlertType::parse(id)
        .map(Some)
        .ok_or_else(|| Error::invalid(format!("type {id:?} is not an alert type id")))
}

/// The filters of a listing request.
pub fn filter_from_pb(r: &pb::ListAlertsRequest) -> Result<AlertFilter> {
    if r.since_ms < 0 || r.until_ms < 0 {
        return Err(Error::invalid("since_ms and until_ms must not be negative"));
    }
    if r.since_ms > 0 && r.until_ms > 0 && r.since_ms >= r.until_ms {
        return Err(Error::invalid(format!(
            "since_ms {} must be before until_ms {}",
            r.since_ms, r.until_ms
        )));
    }
    Ok(AlertFilter {
        min_severity: severity_from_pb(r.min_severity)?,
        status: status_from_pb(r.status)?,
        kind: kind_from(&r.r#type)?,
        host: non_empty(r.host.to_ascii_lowercase()),
        method: non_empty(r.method.to_ascii_uppercase()),
        template: non_empty(r.template.clone()),
        actor: non_empty(r.actor.clone()),
        since_ms: r.since_ms,
        until_ms: r.until_ms,
    })
}

/// A rule as an operator asks for it (id and creation fields are the server's).
pub fn suppression_from_pb(r: pb::Suppression) -> Result<Suppression> {
    if r.expires_ms < 0 {
        return Err(Error::invalid("expires_ms must not be negative"));
    }
    Ok(Suppression {
        id: String::new(),
        cidr: non_empty(r.cidr),
        principal: non_empty(r.principal),
        host: non_empty(r.host.to_ascii_lowercase()),
        method: non_empty(r.method.to_ascii_uppercase()),
        template: non_empty(r.template),
        kind: kind_from(&r.r#type)?,
        expires_ms: Some(r.expires_ms).filter(|e| *e > 0),
        comment: r.comment,
        created_by: String::new(),
        created_ms: 0,
    })
}

/// A stored rule on the wire, with its hits.
pub fn suppression_pb(rec: &SuppressionRecord) -> pb::Suppression {
    let r = &rec.rule;
    pb::Suppression {
        id: r.id.clone(),
        cidr: r.cidr.clone().unwrap_or_default(),
        principal: r.principal.clone().unwrap_or_default(),
        host: r.host.clone().unwrap_or_default(),
        method: r.method.clone().unwrap_or_default(),
        template: r.template.clone().unwrap_or_default(),
        r#type: r.kind.map(|k| k.id().to_owned()).unwrap_or_default(),
        expires_ms: r.expires_ms.unwrap_or(0),
        comment: r.comment.clone(),
        created_by: r.created_by.clone(),
        created_ms: r.created_ms,
        hits: rec.hits,
    }
}

// --- incidents -------------------------------------------------------------------------

fn incident_state_pb(s: IncidentState) -> pb::IncidentState {
    match s {
        IncidentState::Open => pb::IncidentState::Open,
        IncidentState::Closed => pb::IncidentState::Closed,
        IncidentState::Merged => pb::IncidentState::Merged,
    }
}

fn incident_state_from_pb(v: i32) -> Result<Option<IncidentState>> {
    match pb::IncidentState::try_from(v) {
        Ok(pb::IncidentState::Unspecified) => Ok(None),
        Ok(pb::IncidentState::Open) => Ok(Some(IncidentState::Open)),
        Ok(pb::IncidentState::Closed) => Ok(Some(IncidentState::Closed)),
        Ok(pb::IncidentState::Merged) => Ok(Some(IncidentState::Merged)),
        Err(_) => Err(Error::invalid(format!(
            "incident state {v} is not a known value"
        ))),
    }
}

/// An incident as the wire shows it.
pub fn incident_pb(tenant: &str, r: &IncidentRecord) -> pb::Incident {
    let f = &r.facts;
    let (kind, actor, host, method, template, pattern) = match &f.key {
        IncidentKey::Actor { actor } => ("actor", actor.as_str(), "", "", "", ""),
        IncidentKey::Target {
            host,
            method,
            template,
            pattern,
        } => (
            "target",
            "",
            host.as_str(),
            method.as_str(),
            template.as_str(),
            pattern.id(),
        ),
    };
    pb::Incident {
        id: f.id.clone(),
        tenant: tenant.to_owned(),
        key_kind: kind.to_owned(),
        key_actor: actor.to_owned(),
        key_host: host.to_owned(),
        key_method: method.to_owned(),
        key_template: template.to_owned(),
        key_pattern: pattern.to_owned(),
        severity: severity_pb(Some(f.severity)) as i32,
        alert_severity: severity_pb(Some(f.alert_severity)) as i32,
        status: status_pb(r.status) as i32,
        state: incident_state_pb(r.state) as i32,
        merged_into: r.merged_into.clone(),
        actors: f.actors.iter().map(actor_pb).collect(),
        actors_more: f.actors_more,
        sensors: f.sensors.iter().cloned().collect(),
        alert_ids: f.alert_ids.clone(),
        alerts_more: f.alerts_more,
        stages: f.stages.iter().map(|s| s.id().to_owned()).collect(),
        timeline: f
            .timeline
            .iter()
            .map(|e| pb::IncidentTimelineEntry {
                alert_id: e.alert_id.clone(),
                r#type: e.kind.id().to_owned(),
                stage: e.stage.id().to_owned(),
                severity: severity_pb(Some(e.severity)) as i32,
                first_seen_ms: e.first_seen_ms,
                last_seen_ms: e.last_seen_ms,
                host: e.host.clone(),
                method: e.method.clone(),
                template: e.template.clone(),
            })
            .collect(),
        first_seen_ms: f.first_seen_ms,
        last_seen_ms: f.last_seen_ms,
        reason: f.reason.clone(),
        status_by: r.status_by.clone(),
        status_at_ms: r.status_at_ms,
        status_comment: r.status_comment.clone(),
        opened_at_ms: r.opened_at_ms,
        closed_at_ms: r.closed_at_ms,
    }
}

fn incident_change_pb(tenant: &str, e: &IncidentLogEntry) -> pb::IncidentChange {
    use pb::incident_change::Kind;
    let kind = match e.change {
        IncidentChangeKind::Opened => Kind::Opened,
        IncidentChangeKind::Updated => Kind::Updated,
        IncidentChangeKind::Merged => Kind::Merged,
        IncidentChangeKind::Closed => Kind::Closed,
        IncidentChangeKind::Status => Kind::Status,
    };
    pb::IncidentChange {
        kind: kind as i32,
        incident: Some(incident_pb(tenant, &e.incident)),
    }
}

/// The filters of an incident listing request.
pub fn incident_filter_from_pb(r: &pb::ListIncidentsRequest) -> Result<IncidentFilter> {
    if r.since_ms < 0 || r.until_ms < 0 {
        return Err(Error::invalid("since_ms and until_ms must not be negative"));
    }
    if r.since_ms > 0 && r.until_ms > 0 && r.since_ms >= r.until_ms {
        return Err(Error::invalid(format!(
            "since_ms {} must be before until_ms {}",
            r.since_ms, r.until_ms
        )));
    }
    Ok(IncidentFilter {
        min_severity: severity_from_pb(r.min_severity)?,
        status: status_from_pb(r.status)?,
        state: incident_state_from_pb(r.state)?,
        actor: non_empty(r.actor.clone()),
        sensor: non_empty(r.sensor.clone()),
        since_ms: r.since_ms,
        until_ms: r.until_ms,
    })
}
