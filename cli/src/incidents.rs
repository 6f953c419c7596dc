//! `picketctl incidents …`: correlated alerts (the incident RPCs of the Alerts service).

use crate::alerts::filter::{comment, now_ms, parse_past, parse_severity, parse_status};
use crate::alerts::incident_render::{
    incident_json, incident_listing, incident_row, incident_text,
};
use crate::alerts::render::{alert_json, status_name};
use crate::client::{Authed, paged};
use crate::output::{Format, json};
use crate::{CliError, StatusArgs};
use clap::Subcommand;
use picket_proto::v1 as pb;

type Client = pb::alerts_client::AlertsClient<Authed>;

/// `picketctl incidents …`.
#[derive(Debug, Subcommand)]
pub enum IncidentsCmd {
    /// List incidents, newest first (by last seen).
    List(IncidentFilterArgs),
    /// Show one incident: its timeline with kill-chain stages, and its alerts.
    Get { id: String },
    /// Acknowledge an incident (operator).
    Ack(StatusArgs),
    /// Resolve an incident (operator).
    Resolve(StatusArgs),
    /// Dismiss an incident as not a threat (operator).
    Dismiss(StatusArgs),
}

/// Filters of `incidents list`; absent means any.
#[derive(Debug, Default, clap::Args)]
pub struct IncidentFilterArgs {
    /// Minimum severity: informational, low, medium or high.
    #[arg(long)]
    pub severity: Option<String>,
    /// active, acknowledged, resolved or dismissed.
    #[arg(long)]
    pub status: Option<String>,
    /// open or closed.
    #[arg(long)]
    pub state: Option<String>,
    /// Actor: client IP or hashed principal, exact.
    #[arg(long)]
    pub actor: Option<String>,
    /// Sensor id, exact.
    #[arg(long)]
    pub sensor: Option<String>,
    /// Last seen at or after: RFC 3339, Unix ms, or a span back from now (`15m`, `2h`, `7d`).
    #[arg(long)]
    pub since: Option<String>,
    /// Last seen before: RFC 3339, Unix ms, or a span back from now.
    #[arg(long)]
    pub until: Option<String>,
    /// Stop after this many incidents; 0 lists all.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// The wire state named `name`.
fn parse_state(name: &str) -> Result<pb::IncidentState, CliError> {
    match name.to_ascii_lowercase().as_str() {
        "open" => Ok(pb::IncidentState::Open),
        "closed" => Ok(pb::IncidentState::Closed),
        _ => Err(CliError::Usage(format!(
            "state must be open or closed, found {name:?}"
        ))),
    }
}

/// The listing request of the flags (without its page).
pub fn list_request(
    f: &IncidentFilterArgs,
    now_ms: i64,
) -> Result<pb::ListIncidentsRequest, CliError> {
    Ok(pb::ListIncidentsRequest {
        page: None,
        min_severity: f
            .severity
            .as_deref()
            .map(parse_severity)
            .transpose()?
            .unwrap_or_default() as i32,
        status: f
            .status
            .as_deref()
            .map(parse_status)
            .transpose()?
            .unwrap_or_default() as i32,
        state: f
            .state
            .as_deref()
            .map(parse_state)
            .transpose()?
            .unwrap_or_default() as i32,
        actor: f.actor.clone().unwrap_or_default(),
        sensor: f.sensor.clone().unwrap_or_default(),
        since_ms: f
            .since
            .as_deref()
            .map(|s| parse_past("--since", s, now_ms))
            .transpose()?
            .unwrap_or(0),
        until_ms: f
            .until
            .as_deref()
            .map(|s| parse_past("--until", s, now_ms))
            .transpose()?
            .unwrap_or(0),
    })
}

/// Runs an `incidents` command and returns what to print.
pub async fn incidents(svc: Authed, fmt: Format, cmd: &IncidentsCmd) -> Result<String, CliError> {
    let mut c = Client::new(svc);
    match cmd {
        IncidentsCmd::List(f) => list(&mut c, fmt, f).await,
        IncidentsCmd::Get { id } => {
            let r = c
                .get_incident(pb::GetIncidentRequest { id: id.clone() })
                .await?
                .into_inner();
            let i = r.incident.unwrap_or_default();
            Ok(match fmt {
                Format::Json => {
                    let mut o = incident_json(&i);
                    o["alerts"] = r.alerts.iter().map(alert_json).collect();
                    json(&o)
                }
                Format::Table => incident_text(&i, &r.alerts),
            })
        }
        IncidentsCmd::Ack(s) => set_status(&mut c, fmt, s, pb::AlertStatus::Acknowledged).await,
        IncidentsCmd::Resolve(s) => set_status(&mut c, fmt, s, pb::AlertStatus::Resolved).await,
        IncidentsCmd::Dismiss(s) => set_status(&mut c, fmt, s, pb::AlertStatus::Dismissed).await,
    }
}

/// `incidents list`: pages until `--limit` incidents (all with 0) or the last page.
async fn list(c: &mut Client, fmt: Format, f: &IncidentFilterArgs) -> Result<String, CliError> {
    let req = list_request(f, now_ms())?;
    let limit = if f.limit == 0 { usize::MAX } else { f.limit };
    let mut incidents = paged(limit, async |page| {
        let r = c
            .list_incidents(pb::ListIncidentsRequest {
                page: Some(page),
                ..req.clone()
            })
            .await?
            .into_inner();
        Ok((r.incidents, r.page.unwrap_or_default().next_page_token))
    })
    .await?;
    incidents.truncate(limit);
    let mut l = incident_listing();
    for i in &incidents {
        l.push(incident_row(i), incident_json(i));
    }
    Ok(l.render(fmt))
}

/// `incidents ack|resolve|dismiss`.
async fn set_status(
    c: &mut Client,
    fmt: Format,
    s: &StatusArgs,
    status: pb::AlertStatus,
) -> Result<String, CliError> {
    let i = c
        .update_incident_status(pb::UpdateIncidentStatusRequest {
            id: s.id.clone(),
            status: status as i32,
            comment: comment(s.comment.as_deref())?,
        })
        .await?
        .into_inner();
    Ok(match fmt {
        Format::Json => json(&incident_json(&i)),
        Format::Table => format!("incident {} is {}\n", i.id, status_name(i.status)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::incident_render::change_line;

    fn incident() -> pb::Incident {
        pb::Incident {
            id: "00000000000000ab".into(),
            tenant: "acme".into(),
            key_kind: "actor".into(),
            key_actor: "203.0.113.7".into(),
            severity: pb::Severity::High as i32,
            alert_severity: pb::Severity::Medium as i32,
            status: pb::AlertStatus::Active as i32,
            state: pb::IncidentState::Open as i32,
            actors: vec![pb::Actor {
                ip: "203.0.113.7".into(),
                ..Default::default()
            }],
            sensors: vec!["edge-a".into(), "edge-b".into()],
            alert_ids: vec!["a1".into(), "a2".into()],
            stages: vec!["reconnaissance".into(), "exploitation".into()],
            first_seen_ms: 1_800_000_000_000,
            last_seen_ms: 1_800_000_060_000,
            reason: "progression".into(),
            ..Default::default()
        }
    }

    #[test]
    fn incident_json_has_the_documented_fields() {
        let o = incident_json(&incident());
        for k in [
            "id",
            "severity",
            "status",
            "actors",
            "sensors",
            "alert_ids",
            "stages",
            "first_seen",
            "last_seen",
            "reason",
        ] {
            assert!(!o[k].is_null(), "{k} is present");
        }
        assert_eq!(o["severity"], "high");
        assert_eq!(o["status"], "active");
        assert_eq!(o["state"], "open");
        assert_eq!(o["first_seen"], "2027-01-15T08:00:00.000Z");
        assert_eq!(o["actors"][0]["ip"], "203.0.113.7");
        assert_eq!(o["sensors"][1], "edge-b");
        assert!(
            o.get("closed_at").is_none(),
            "open incidents have no close time"
        );
    }

    #[test]
    fn incident_changes_print_as_json_lines_and_text() {
        let c = pb::AlertChange {
            kind: pb::alert_change::Kind::Incident as i32,
            cursor: 9,
            at_ms: 1_800_000_000_000,
            incident: Some(pb::IncidentChange {
                kind: pb::incident_change::Kind::Opened as i32,
                incident: Some(incident()),
            }),
            ..Default::default()
        };
        let line = change_line(&c, true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "incident");
        assert_eq!(v["change"], "opened");
        assert_eq!(v["cursor"], 9);
        assert_eq!(v["incident"]["id"], "00000000000000ab");
        assert!(!line.contains('\n'), "one line");
        let text = change_line(&c, false).unwrap();
        assert!(text.starts_with("incident opened"), "{text}");
    }

    #[test]
    fn flags_build_the_request() {
        let f = IncidentFilterArgs {
            severity: Some("medium".into()),
            state: Some("open".into()),
            sensor: Some("edge-a".into()),
            since: Some("1h".into()),
            ..Default::default()
        };
        let r = list_request(&f, 10_000_000).unwrap();
        assert_eq!(r.min_severity, pb::Severity::Medium as i32);
        assert_eq!(r.state, pb::IncidentState::Open as i32);
        assert_eq!(r.sensor, "edge-a");
        assert_eq!(r.since_ms, 10_000_000 - 3_600_000);
        let bad = IncidentFilterArgs {
            state: Some("merged".into()),
            ..Default::default()
        };
        assert!(list_request(&bad, 0).is_err());
    }
}
