//! Incidents and incident changes as JSON objects, table rows and text, with the
//! conventions of `render` (lower-case enum names, RFC 3339 UTC times, null for empty).

use super::render::{actor_cell, severity_name, status_name};
use crate::output::{Listing, when};
pub use picket_proto::json::{change_name, incident_json, state_name};
use picket_proto::v1 as pb;
use serde_json::json as j;

/// The columns of an incident table.
pub fn incident_listing() -> Listing {
    Listing::new(&[
        "ID",
        "SEVERITY",
        "STATUS",
        "STATE",
        "ACTOR",
        "ALERTS",
        "SENSORS",
        "STAGES",
        "LAST SEEN",
    ])
}

/// The actor cell: the first actor, with a count of the others.
fn actors_cell(i: &pb::Incident) -> String {
    let first = actor_cell(i.actors.first());
    let more = i.actors.len().saturating_sub(1) as u64 + i.actors_more;
    if more > 0 {
        format!("{first} +{more}")
    } else {
        first
    }
}

/// The table cells of one incident, in [`incident_listing`]'s order.
pub fn incident_row(i: &pb::Incident) -> Vec<String> {
    vec![
        i.id.clone(),
        severity_name(i.severity).into(),
        status_name(i.status).into(),
        state_name(i.state).into(),
        actors_cell(i),
        (i.alert_ids.len() as u64 + i.alerts_more).to_string(),
        i.sensors.join(","),
        i.stages.join(">"),
        when(i.last_seen_ms),
    ]
}

/// One incident for a human: its facts, why it has its severity, and the timeline.
pub fn incident_text(i: &pb::Incident, alerts: &[pb::Alert]) -> String {
    let mut out = format!(
        "{}  {} · {} · {}\n  actors    {}\n  sensors   {}\n  seen      {} → {}\n  reason    {}\n",
        i.id,
        severity_name(i.severity),
        status_name(i.status),
        state_name(i.state),
        actors_cell(i),
        i.sensors.join(", "),
        when(i.first_seen_ms),
        when(i.last_seen_ms),
        i.reason,
    );
    if !i.merged_into.is_empty() {
        out.push_str(&format!("  merged    into {}\n", i.merged_into));
    }
    out.push_str("  timeline\n");
    for e in &i.timeline {
        let title = alerts
            .iter()
            .find(|a| a.id == e.alert_id)
            .map_or("", |a| a.title.as_str());
        let endpoint = format!("{} {}", e.method, e.template);
        out.push_str(&format!(
            "    {}  {:<17} {:<24} {:<7} {} {}  {}\n",
            when(e.first_seen_ms),
            e.stage,
            e.r#type,
            severity_name(e.severity),
            e.host,
            endpoint.trim(),
            title,
        ));
    }
    if !i.status_by.is_empty() {
        out.push_str(&format!(
            "  status by {} at {}: {}\n",
            i.status_by,
            when(i.status_at_ms),
            i.status_comment
        ));
    }
    out
}

/// One incident change of the watch stream: a JSON line (`kind: "incident"`, the `change`
/// and the `incident`), or a line for humans.
pub fn change_line(c: &pb::AlertChange, json_out: bool) -> Option<String> {
    let ch = c.incident.as_ref()?;
    let change = change_name(ch.kind);
    let incident = ch.incident.as_ref()?;
    if json_out {
        let o = j!({"kind": "incident", "cursor": c.cursor, "at": when(c.at_ms),
            "change": change, "incident": incident_json(incident)});
        return Some(o.to_string());
    }
    Some(format!(
        "incident {change:<8} {}",
        incident_row(incident).join("  ")
    ))
}
