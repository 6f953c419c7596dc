//! Alerts and incidents as JSON objects, shared by `picketctl -o json` and the controller's
//! alert exports (webhook payloads, the JSON-lines file), so every consumer sees the same
//! field names: lower-case enum names, RFC 3339 UTC times, null for empty text.

use crate::v1 as pb;
use picket_shared::time::format_rfc3339_ms;
use serde_json::{Map, Value, json as j};

/// A time for humans: RFC 3339, or `-` for "never".
pub fn when(ms: i64) -> String {
    if ms <= 0 {
        "-".into()
    } else {
        format_rfc3339_ms(ms)
    }
}

/// Severity as the JSON output and the flags write it.
pub fn severity_name(raw: i32) -> &'static str {
    match pb::Severity::try_from(raw) {
        Ok(pb::Severity::Informational) => "informational",
        Ok(pb::Severity::Low) => "low",
        Ok(pb::Severity::Medium) => "medium",
        Ok(pb::Severity::High) => "high",
        _ => "unspecified",
    }
}

/// Status as the JSON output and the flags write it.
pub fn status_name(raw: i32) -> &'static str {
    match pb::AlertStatus::try_from(raw) {
        Ok(pb::AlertStatus::Active) => "active",
        Ok(pb::AlertStatus::Acknowledged) => "acknowledged",
        Ok(pb::AlertStatus::Resolved) => "resolved",
        Ok(pb::AlertStatus::Dismissed) => "dismissed",
        _ => "unspecified",
    }
}

/// A text field that is null when empty.
pub fn opt(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { j!(s) }
}

/// An actor with only its known fields (the others null).
pub fn actor_json(a: &pb::Actor) -> Value {
    j!({"ip": opt(&a.ip), "principal": opt(&a.principal), "user_agent": opt(&a.user_agent)})
}

/// One alert as JSON: lower-case enum names, RFC 3339 UTC times, the figures both as a list
/// with units and as `observed`/`baseline` maps by name.
pub fn alert_json(a: &pb::Alert) -> Value {
    let by_name = |pick: fn(&pb::Figure) -> f64| -> Map<String, Value> {
        a.figures
            .iter()
            .map(|f| (f.name.clone(), j!(pick(f))))
            .collect()
    };
    let figures: Vec<Value> = a
        .figures
        .iter()
        .map(|f| j!({"name": f.name, "observed": f.observed, "baseline": f.baseline, "unit": f.unit}))
        .collect();
    // Always an object (fields null for whole-host or actor alerts), like `actor`.
    let endpoint = j!({"method": opt(&a.method), "template": opt(&a.template)});
    let mut o = j!({
        "id": a.id, "tenant": a.tenant, "type": a.r#type, "title": a.title,
        "severity": severity_name(a.severity), "status": status_name(a.status),
        "mitre_tactic": a.mitre_tactic, "mitre_technique": a.mitre_technique,
        "host": opt(&a.host), "endpoint": endpoint,
        "actor": a.actor.as_ref().map_or(j!({"ip": null, "principal": null, "user_agent": null}), actor_json),
        "actors": a.actors.iter().map(actor_json).collect::<Vec<_>>(),
        "sensors": a.sensors, "count": a.count,
        "first_seen": when(a.first_seen_ms), "last_seen": when(a.last_seen_ms),
        "first_seen_ms": a.first_seen_ms, "last_seen_ms": a.last_seen_ms,
        "observed": by_name(|f| f.observed), "baseline": by_name(|f| f.baseline),
        "figures": figures, "evidence": a.evidence, "remediation": a.remediation,
        "defender_alert": opt(&a.defender_alert),
    });
    let extra = [
        ("status_by", opt(&a.status_by)),
        ("status_comment", opt(&a.status_comment)),
        ("incident_id", opt(&a.incident_id)),
    ];
    for (k, v) in extra.into_iter().filter(|(_, v)| !v.is_null()) {
        o[k] = v;
    }
    if a.status_at_ms > 0 {
        o["status_at"] = j!(when(a.status_at_ms));
    }
    if a.raised_at_ms > 0 {
        o["raised_at"] = j!(when(a.raised_at_ms));
    }
    o
}

/// The correlator's state of an incident, as the JSON output writes it.
pub fn state_name(raw: i32) -> &'static str {
    match pb::IncidentState::try_from(raw) {
        Ok(pb::IncidentState::Open) => "open",
        Ok(pb::IncidentState::Closed) => "closed",
        Ok(pb::IncidentState::Merged) => "merged",
        _ => "unspecified",
    }
}

/// The kind of an incident change.
pub fn change_name(raw: i32) -> &'static str {
    use pb::incident_change::Kind;
    match Kind::try_from(raw) {
        Ok(Kind::Opened) => "opened",
        Ok(Kind::Updated) => "updated",
        Ok(Kind::Merged) => "merged",
        Ok(Kind::Closed) => "closed",
        Ok(Kind::Status) => "status",
        _ => "unspecified",
    }
}

/// What holds the incident together, as one object.
fn key_json(i: &pb::Incident) -> Value {
    if i.key_kind == "target" {
        j!({"kind": "target", "host": i.key_host, "method": opt(&i.key_method),
            "template": opt(&i.key_template), "pattern": i.key_pattern})
    } else {
        j!({"kind": i.key_kind, "actor": i.key_actor})
    }
}

/// One incident as JSON.
pub fn incident_json(i: &pb::Incident) -> Value {
    let timeline: Vec<Value> = i
        .timeline
        .iter()
        .map(|e| {
            j!({"alert_id": e.alert_id, "type": e.r#type, "stage": e.stage,
                "severity": severity_name(e.severity),
                "host": opt(&e.host), "endpoint": {"method": opt(&e.method), "template": opt(&e.template)},
                "first_seen": when(e.first_seen_ms), "last_seen": when(e.last_seen_ms)})
        })
        .collect();
    let mut o = j!({
        "id": i.id, "tenant": i.tenant, "key": key_json(i),
        "severity": severity_name(i.severity), "alert_severity": severity_name(i.alert_severity),
        "status": status_name(i.status), "state": state_name(i.state),
        "actors": i.actors.iter().map(actor_json).collect::<Vec<_>>(),
        "actors_more": i.actors_more,
        "sensors": i.sensors, "alert_ids": i.alert_ids, "alerts_more": i.alerts_more,
        "stages": i.stages, "timeline": timeline,
        "first_seen": when(i.first_seen_ms), "last_seen": when(i.last_seen_ms),
        "first_seen_ms": i.first_seen_ms, "last_seen_ms": i.last_seen_ms,
        "reason": i.reason,
    });
    let extra = [
        ("merged_into", opt(&i.merged_into)),
        ("status_by", opt(&i.status_by)),
        ("status_comment", opt(&i.status_comment)),
    ];
    for (k, v) in extra.into_iter().filter(|(_, v)| !v.is_null()) {
        o[k] = v;
    }
    for (k, ms) in [
        ("status_at", i.status_at_ms),
        ("opened_at", i.opened_at_ms),
        ("closed_at", i.closed_at_ms),
    ] {
        if ms > 0 {
            o[k] = j!(when(ms));
        }
    }
    o
}
