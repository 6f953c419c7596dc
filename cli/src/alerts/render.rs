//! Alerts, changes and suppression rules as JSON objects and table rows.

use crate::output::{Listing, when};
pub use picket_proto::json::{actor_json, alert_json, opt, severity_name, status_name};
use picket_proto::v1 as pb;
use serde_json::{Value, json as j};

/// Kind of a change in the watch stream.
pub fn kind_name(raw: i32) -> &'static str {
    use pb::alert_change::Kind;
    match Kind::try_from(raw) {
        Ok(Kind::Raised) => "raised",
        Ok(Kind::Updated) => "updated",
        Ok(Kind::Status) => "status",
        Ok(Kind::Snapshot) => "snapshot",
        Ok(Kind::Bookmark) => "bookmark",
        Ok(Kind::Billing) => "billing",
        Ok(Kind::Incident) => "incident",
        _ => "unspecified",
    }
}

/// The actor as one table cell: the address, else the principal (shortened), else `-`.
pub(crate) fn actor_cell(a: Option<&pb::Actor>) -> String {
    match a {
        Some(a) if !a.ip.is_empty() => a.ip.clone(),
        Some(a) if !a.principal.is_empty() => a.principal.chars().take(12).collect(),
        _ => "-".into(),
    }
}

/// The endpoint as `METHOD /template`, or the host alone for whole-host alerts.
fn endpoint_cell(a: &pb::Alert) -> String {
    match (a.method.as_str(), a.template.as_str()) {
        (_, "") => a.host.clone(),
        ("", t) => t.to_owned(),
        (m, t) => format!("{m} {t}"),
    }
}

/// The columns of an alert table.
pub fn alert_listing() -> Listing {
    Listing::new(&[
        "ID",
        "SEVERITY",
        "STATUS",
        "TYPE",
        "ENDPOINT",
        "ACTOR",
        "COUNT",
        "LAST SEEN",
    ])
}

/// The table cells of one alert, in [`alert_listing`]'s order.
pub fn alert_row(a: &pb::Alert) -> Vec<String> {
    vec![
        a.id.clone(),
        severity_name(a.severity).into(),
        status_name(a.status).into(),
        a.r#type.clone(),
        endpoint_cell(a),
        actor_cell(a.actor.as_ref()),
        a.count.to_string(),
        when(a.last_seen_ms),
    ]
}

/// One alert for a human: the table row's facts, then figures, evidence and remediation.
pub fn alert_text(a: &pb::Alert) -> String {
    let mut out = format!(
        "{}  {}\n  {} · {} · {} · {} {}\n  endpoint  {}\n  actor     {}\n  seen      {} → {} ({} times)\n",
        a.id,
        a.title,
        severity_name(a.severity),
        status_name(a.status),
        a.r#type,
        a.mitre_tactic,
        a.mitre_technique,
        endpoint_cell(a),
        actor_cell(a.actor.as_ref()),
        when(a.first_seen_ms),
        when(a.last_seen_ms),
        a.count,
    );
    for f in &a.figures {
        out.push_str(&format!(
            "  figure    {} {} {} (baseline {})\n",
            f.name, f.observed, f.unit, f.baseline
        ));
    }
    for e in &a.evidence {
        out.push_str(&format!("  evidence  {e}\n"));
    }
    if !a.remediation.is_empty() {
        out.push_str(&format!("  remedy    {}\n", a.remediation));
    }
    if !a.status_by.is_empty() {
        out.push_str(&format!(
            "  status by {} at {}: {}\n",
            a.status_by,
            when(a.status_at_ms),
            a.status_comment
        ));
    }
    out
}

/// One change of the watch stream: a JSON line, or a line for humans (`None` for bookmarks,
/// which only JSON output shows).
pub fn change_line(c: &pb::AlertChange, json_out: bool) -> Option<String> {
    let kind = kind_name(c.kind);
    if json_out {
        let mut o = j!({"kind": kind, "cursor": c.cursor, "at": when(c.at_ms)});
        if let Some(a) = &c.alert {
            o["alert"] = alert_json(a);
        }
        if !c.notice.is_empty() {
            o["notice"] = j!(c.notice);
        }
        return Some(o.to_string());
    }
    match (&c.alert, kind) {
        (_, "bookmark") => None,
        (Some(a), _) => Some(format!("{kind:<8} {}", alert_row(a).join("  "))),
        (None, _) => Some(format!("{kind:<8} {}", c.notice)),
    }
}

/// One suppression rule as JSON.
pub fn suppression_json(s: &pb::Suppression) -> Value {
    let endpoint = if s.template.is_empty() {
        Value::Null
    } else {
        j!({"method": opt(&s.method), "template": s.template})
    };
    j!({"id": s.id, "cidr": opt(&s.cidr), "principal": opt(&s.principal), "host": opt(&s.host),
        "endpoint": endpoint, "type": opt(&s.r#type),
        "expires": if s.expires_ms > 0 { j!(when(s.expires_ms)) } else { Value::Null },
        "comment": s.comment, "created_by": s.created_by, "created": when(s.created_ms),
        "hits": s.hits})
}

/// The columns of a suppression table.
pub fn suppression_listing() -> Listing {
    Listing::new(&["ID", "MATCHES", "EXPIRES", "HITS", "CREATED BY", "COMMENT"])
}

/// The table cells of one rule, in [`suppression_listing`]'s order.
pub fn suppression_row(s: &pb::Suppression) -> Vec<String> {
    let mut matches = Vec::new();
    let parts = [
        ("cidr", &s.cidr),
        ("principal", &s.principal),
        ("host", &s.host),
        ("type", &s.r#type),
    ];
    for (k, v) in parts.into_iter().filter(|(_, v)| !v.is_empty()) {
        matches.push(format!("{k}={v}"));
    }
    if !s.template.is_empty() {
        matches.push(format!(
            "endpoint={}",
            format!("{} {}", s.method, s.template).trim()
        ));
    }
    vec![
        s.id.clone(),
        matches.join(" "),
        if s.expires_ms > 0 {
            when(s.expires_ms)
        } else {
            "never".into()
        },
        s.hits.to_string(),
        s.created_by.clone(),
        s.comment.clone(),
    ]
}
