//! Alert-log entries as CloudEvents 1.0 (structured JSON mode), the one event shape of
//! every alert export (webhooks, the JSON-lines file).
//!
//! `id` is `<tenant>-<cursor>`: stable per (tenant, alert-log cursor), so a retry or a
//! redelivery after a restart carries the same id and receivers can drop duplicates.
//! `source` is `picket://<controller name>/tenants/<tenant>`; `type` is one of [`TYPES`];
//! `subject` the alert or incident id; `data` the alert or incident JSON of
//! `picketctl … -o json` (rendered by the gRPC edge, injected as [`RenderData`]). Extension
//! attributes: `picketcursor` (the alert-log cursor) and `picketseverity`.

use crate::error::{Error, Result};
use crate::store::alerts::{AlertLogRecord, ChangeKind};
use crate::store::incident_records::IncidentChangeKind;
use picket_detect::{AlertStatus, Severity};
use picket_shared::TenantId;
use picket_shared::time::format_rfc3339_ms;
use serde_json::{Map, Value, json};

/// The `content-type` of a structured CloudEvent.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
/// The event type of `TestWebhook`'s event.
pub const TEST_TYPE: &str = "dev.picket.test";

/// Every event type an alert-log entry becomes, one per change kind.
pub const TYPES: &[&str] = &[
    "dev.picket.alert.raised",
    "dev.picket.alert.updated",
    "dev.picket.alert.acknowledged",
    "dev.picket.alert.resolved",
    "dev.picket.alert.dismissed",
    "dev.picket.alert.reopened",
    "dev.picket.incident.opened",
    "dev.picket.incident.updated",
    "dev.picket.incident.merged",
    "dev.picket.incident.closed",
    "dev.picket.incident.acknowledged",
    "dev.picket.incident.resolved",
    "dev.picket.incident.dismissed",
    "dev.picket.incident.reopened",
    "dev.picket.billing.threshold",
];

/// Most event types one destination may name.
pub const MAX_TYPES: usize = 16;

/// Renders an entry's `data` (the alert or incident JSON the CLI prints).
pub type RenderData = fn(&TenantId, &AlertLogRecord) -> Value;

/// What an entry is, before any JSON is built (filters decide on this alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: &'static str,
    /// The alert or incident id; empty for billing notices.
    pub subject: String,
    /// The alert's or incident's severity; billing notices count as informational.
    pub severity: Severity,
}

fn status_type(prefix: &'static str, s: AlertStatus) -> &'static str {
    match (prefix, s) {
        ("alert", AlertStatus::Active) => "dev.picket.alert.reopened",
        ("alert", AlertStatus::Acknowledged) => "dev.picket.alert.acknowledged",
        ("alert", AlertStatus::Resolved) => "dev.picket.alert.resolved",
        ("alert", AlertStatus::Dismissed) => "dev.picket.alert.dismissed",
        (_, AlertStatus::Active) => "dev.picket.incident.reopened",
        (_, AlertStatus::Acknowledged) => "dev.picket.incident.acknowledged",
        (_, AlertStatus::Resolved) => "dev.picket.incident.resolved",
        (_, AlertStatus::Dismissed) => "dev.picket.incident.dismissed",
    }
}

/// The type, subject and severity of an alert-log entry.
pub fn describe(rec: &AlertLogRecord) -> Meta {
    if let Some(inc) = &rec.incident {
        let i = &inc.incident;
        let kind = match inc.change {
            IncidentChangeKind::Opened => "dev.picket.incident.opened",
            IncidentChangeKind::Updated => "dev.picket.incident.updated",
            IncidentChangeKind::Merged => "dev.picket.incident.merged",
            IncidentChangeKind::Closed => "dev.picket.incident.closed",
            IncidentChangeKind::Status => status_type("incident", i.status),
        };
        return Meta {
            kind,
            subject: i.facts.id.clone(),
            severity: i.facts.severity,
        };
    }
    match (&rec.alert, rec.kind) {
        (Some(a), kind) => Meta {
            kind: match kind {
                ChangeKind::Raised => "dev.picket.alert.raised",
                ChangeKind::Status => status_type("alert", a.status),
                _ => "dev.picket.alert.updated",
            },
            subject: a.facts.id.clone(),
            severity: a.facts.severity.unwrap_or(Severity::Informational),
        },
        (None, _) => Meta {
            kind: "dev.picket.billing.threshold",
            subject: String::new(),
            severity: Severity::Informational,
        },
    }
}

/// The event id of a tenant's alert-log entry.
pub fn event_id(tenant: &TenantId, cursor: u64) -> String {
    format!("{tenant}-{cursor}")
}

/// The `source` of a tenant's events.
pub fn source(controller: &str, tenant: &TenantId) -> String {
    format!("picket://{controller}/tenants/{tenant}")
}

/// One structured CloudEvent as JSON bytes. `cursor` 0 (test events) omits `picketcursor`.
pub fn envelope(
    source: &str,
    id: &str,
    meta: &Meta,
    at_ms: i64,
    cursor: u64,
    data: Value,
) -> Vec<u8> {
    let mut o = Map::new();
    o.insert("specversion".into(), json!("1.0"));
    o.insert("id".into(), json!(id));
    o.insert("source".into(), json!(source));
    o.insert("type".into(), json!(meta.kind));
    o.insert("time".into(), json!(format_rfc3339_ms(at_ms)));
    if !meta.subject.is_empty() {
        o.insert("subject".into(), json!(meta.subject));
    }
    o.insert("datacontenttype".into(), json!("application/json"));
    if cursor > 0 {
        o.insert("picketcursor".into(), json!(cursor));
    }
    o.insert("picketseverity".into(), json!(meta.severity.as_str()));
    o.insert("data".into(), data);
    // Serializing a `Value` cannot fail.
    serde_json::to_vec(&Value::Object(o)).unwrap_or_default()
}

/// A tenant's alert-log entry as a CloudEvent.
pub fn build(
    controller: &str,
    tenant: &TenantId,
    cursor: u64,
    rec: &AlertLogRecord,
    render: RenderData,
) -> Vec<u8> {
    envelope(
        &source(controller, tenant),
        &event_id(tenant, cursor),
        &describe(rec),
        rec.at_ms,
        cursor,
        render(tenant, rec),
    )
}

/// Which entries a destination receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub min_severity: Severity,
    /// Empty: every type.
    pub types: Vec<String>,
}

impl Filter {
    pub fn passes(&self, meta: &Meta) -> bool {
        meta.severity >= self.min_severity
            && (self.types.is_empty() || self.types.iter().any(|t| t == meta.kind))
    }
}

/// Checks a destination's type list: known types, no repeats, at most [`MAX_TYPES`].
pub fn check_types(types: &[String]) -> Result<()> {
    if types.len() > MAX_TYPES {
        return Err(Error::invalid(format!(
            "{} event types given, the limit is {MAX_TYPES}",
            types.len()
        )));
    }
    for (i, t) in types.iter().enumerate() {
        if !TYPES.contains(&t.as_str()) {
            return Err(Error::invalid(format!(
                "unknown event type {t:?}; known: {}",
                TYPES.join(", ")
            )));
        }
        if types[..i].contains(t) {
            return Err(Error::invalid(format!("event type {t:?} is given twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::alerts::AlertRecord;
    use crate::store::incident_records::{IncidentLogEntry, IncidentRecord, IncidentState};

    fn alert(kind: ChangeKind, status: AlertStatus, sev: Severity) -> AlertLogRecord {
        let mut a = AlertRecord {
            status,
            ..Default::default()
        };
        a.facts.id = "a1".into();
        a.facts.severity = Some(sev);
        AlertLogRecord {
            kind,
            at_ms: 1_700_000_000_123,
            alert: Some(a),
            notice: String::new(),
            incident: None,
        }
    }

    fn render(_: &TenantId, rec: &AlertLogRecord) -> Value {
        json!({"id": rec.alert.as_ref().map(|a| a.facts.id.clone())})
    }

    #[test]
    fn an_entry_becomes_a_structured_cloudevent() {
        let t = TenantId::new("acme").unwrap();
        let rec = alert(ChangeKind::Raised, AlertStatus::Active, Severity::High);
        let body = build("ctl-1", &t, 42, &rec, render);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], "acme-42");
        assert_eq!(v["source"], "picket://ctl-1/tenants/acme");
        assert_eq!(v["type"], "dev.picket.alert.raised");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["subject"], "a1");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["picketcursor"], 42);
        assert_eq!(v["picketseverity"], "high");
        assert_eq!(v["data"]["id"], "a1");
        assert_eq!(body, build("ctl-1", &t, 42, &rec, render), "deterministic");
    }

    #[test]
    fn each_change_kind_has_its_type() {
        let cases = [
            (
                ChangeKind::Raised,
                AlertStatus::Active,
                "dev.picket.alert.raised",
            ),
            (
                ChangeKind::Updated,
                AlertStatus::Resolved,
                "dev.picket.alert.updated",
            ),
            (
                ChangeKind::Status,
                AlertStatus::Resolved,
                "dev.picket.alert.resolved",
            ),
            (
                ChangeKind::Status,
                AlertStatus::Active,
                "dev.picket.alert.reopened",
            ),
            (
                ChangeKind::Status,
                AlertStatus::Dismissed,
                "dev.picket.alert.dismissed",
            ),
        ];
        for (kind, status, want) in cases {
            assert_eq!(describe(&alert(kind, status, Severity::Low)).kind, want);
        }
        let billing = AlertLogRecord {
            kind: ChangeKind::Billing,
            at_ms: 1,
            alert: None,
            notice: "80%".into(),
            incident: None,
        };
        let m = describe(&billing);
        assert_eq!(
            (m.kind, m.severity),
            ("dev.picket.billing.threshold", Severity::Informational)
        );
        let facts = picket_detect::incident::IncidentFacts {
            id: "i1".into(),
            key: picket_detect::incident::IncidentKey::Actor {
                actor: "192.0.2.1".into(),
            },
            severity: Severity::Medium,
            alert_severity: Severity::Low,
            actors: vec![],
            actors_more: 0,
            sensors: Default::default(),
            alert_ids: vec![],
            alerts_more: 0,
            stages: vec![],
            timeline: vec![],
            first_seen_ms: 0,
            last_seen_ms: 0,
            reason: String::new(),
        };
        let mut inc = IncidentRecord {
            facts,
            state: IncidentState::Open,
            merged_into: String::new(),
            status: AlertStatus::Active,
            status_by: String::new(),
            status_at_ms: 0,
            status_comment: String::new(),
            opened_at_ms: 0,
            closed_at_ms: 0,
        };
        inc.state = IncidentState::Open;
        for (change, want) in [
            (IncidentChangeKind::Opened, "dev.picket.incident.opened"),
            (IncidentChangeKind::Merged, "dev.picket.incident.merged"),
            (IncidentChangeKind::Closed, "dev.picket.incident.closed"),
            (IncidentChangeKind::Status, "dev.picket.incident.reopened"),
        ] {
            let rec = AlertLogRecord {
                kind: ChangeKind::Incident,
                at_ms: 1,
                alert: None,
                notice: String::new(),
                incident: Some(IncidentLogEntry {
                    change,
                    incident: inc.clone(),
                }),
            };
            let m = describe(&rec);
            assert_eq!(
                (m.kind, m.subject.as_str(), m.severity),
                (want, "i1", Severity::Medium)
            );
            assert!(TYPES.contains(&m.kind));
        }
    }

    #[test]
    fn filters_hold_and_type_lists_are_checked() {
        let f = Filter {
            min_severity: Severity::Medium,
            types: vec!["dev.picket.alert.raised".into()],
        };
        let meta = |kind, severity| Meta {
            kind,
            subject: String::new(),
            severity,
        };
        assert!(f.passes(&meta("dev.picket.alert.raised", Severity::High)));
        assert!(f.passes(&meta("dev.picket.alert.raised", Severity::Medium)));
        assert!(!f.passes(&meta("dev.picket.alert.raised", Severity::Low)));
        assert!(!f.passes(&meta("dev.picket.alert.updated", Severity::High)));
        let all = Filter {
            min_severity: Severity::Informational,
            types: vec![],
        };
        assert!(all.passes(&meta(
            "dev.picket.billing.threshold",
            Severity::Informational
        )));
        assert!(check_types(&["dev.picket.incident.opened".into()]).is_ok());
        assert!(check_types(&["dev.picket.nope".into()]).is_err());
        assert!(
            check_types(&[TEST_TYPE.into()]).is_err(),
            "test events are not subscribable"
        );
        let twice = vec!["dev.picket.alert.raised".to_string(); 2];
        assert!(check_types(&twice).is_err());
    }
}
