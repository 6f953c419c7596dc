//! `picketctl alerts …` and `picketctl suppressions …`: the Alerts service.

pub mod filter;
pub mod incident_render;
pub mod render;
#[cfg(test)]
mod tests;

use crate::client::{Authed, paged};
use crate::output::{Format, json};
use crate::{AlertFilterArgs, AlertsCmd, CliError, StatusArgs, SuppressionsCmd};
use picket_proto::v1 as pb;
use render::{alert_json, alert_listing, alert_row, alert_text, change_line};
use std::io::Write;

type Client = pb::alerts_client::AlertsClient<Authed>;

/// Runs an `alerts` command and returns what to print; `watch` writes its lines to `out` as
/// they arrive and returns only when the stream ends.
pub async fn alerts(
    svc: Authed,
    fmt: Format,
    cmd: &AlertsCmd,
    out: &mut dyn Write,
) -> Result<String, CliError> {
    let mut c = Client::new(svc);
    match cmd {
        AlertsCmd::List(f) => list(&mut c, fmt, f).await,
        AlertsCmd::Get { id } => {
            let a = c
                .get_alert(pb::GetAlertRequest { id: id.clone() })
                .await?
                .into_inner();
            Ok(one(&a, fmt))
        }
        AlertsCmd::Ack(s) => set_status(&mut c, fmt, s, pb::AlertStatus::Acknowledged).await,
        AlertsCmd::Resolve(s) => set_status(&mut c, fmt, s, pb::AlertStatus::Resolved).await,
        AlertsCmd::Dismiss(s) => set_status(&mut c, fmt, s, pb::AlertStatus::Dismissed).await,
        AlertsCmd::Watch { after, snapshot } => {
            watch(&mut c, fmt, after.unwrap_or(0), *snapshot, out).await
        }
    }
}

/// One alert: pretty JSON or the detailed text.
fn one(a: &pb::Alert, fmt: Format) -> String {
    match fmt {
        Format::Json => json(&alert_json(a)),
        Format::Table => alert_text(a),
    }
}

/// `alerts list`: pages until `--limit` alerts (all with 0) or the last page.
async fn list(c: &mut Client, fmt: Format, f: &AlertFilterArgs) -> Result<String, CliError> {
    let req = filter::list_request(f, filter::now_ms())?;
    let limit = if f.limit == 0 { usize::MAX } else { f.limit };
    let mut alerts = paged(limit, async |page| {
        let r = c
            .list_alerts(pb::ListAlertsRequest {
                page: Some(page),
                ..req.clone()
            })
            .await?
            .into_inner();
        Ok((r.alerts, r.page.unwrap_or_default().next_page_token))
    })
    .await?;
    alerts.truncate(limit);
    let mut l = alert_listing();
    for a in &alerts {
        l.push(alert_row(a), alert_json(a));
    }
    Ok(l.render(fmt))
}

/// `alerts ack|resolve|dismiss`.
async fn set_status(
    c: &mut Client,
    fmt: Format,
    s: &StatusArgs,
    status: pb::AlertStatus,
) -> Result<String, CliError> {
    let a = c
        .update_alert_status(pb::UpdateAlertStatusRequest {
            id: s.id.clone(),
            status: status as i32,
            comment: filter::comment(s.comment.as_deref())?,
        })
        .await?
        .into_inner();
    Ok(match fmt {
        Format::Json => json(&alert_json(&a)),
        Format::Table => format!("alert {} is {}\n", a.id, render::status_name(a.status)),
    })
}

/// `alerts watch`: one line per change (alert, billing notice or incident) until the controller ends the stream, which is an
/// error naming the cursor to resume from.
async fn watch(
    c: &mut Client,
    fmt: Format,
    after: u64,
    snapshot: bool,
    out: &mut dyn Write,
) -> Result<String, CliError> {
    let mut stream = c
        .watch_alerts(pb::WatchAlertsRequest {
            after_cursor: after,
            snapshot,
            bookmark_interval_ms: 0,
        })
        .await?
        .into_inner();
    let mut last = (after > 0).then_some(after);
    while let Some(change) = stream.message().await? {
        if change.cursor > 0 {
            last = Some(change.cursor);
        }
        let line = if change.incident.is_some() {
            incident_render::change_line(&change, fmt == Format::Json)
        } else {
            change_line(&change, fmt == Format::Json)
        };
        if let Some(line) = line {
            writeln!(out, "{line}")?;
            out.flush()?;
        }
    }
    Err(CliError::StreamEnded(last))
}

/// Runs a `suppressions` command and returns what to print.
pub async fn suppressions(
    svc: Authed,
    fmt: Format,
    cmd: &SuppressionsCmd,
) -> Result<String, CliError> {
    let mut c = Client::new(svc);
    match cmd {
        SuppressionsCmd::Add(a) => {
            let rule = filter::suppression(a, filter::now_ms())?;
            let s = c
                .create_suppression(pb::CreateSuppressionRequest { rule: Some(rule) })
                .await?
                .into_inner();
            Ok(match fmt {
                Format::Json => json(&render::suppression_json(&s)),
                Format::Table => format!("created suppression {}\n", s.id),
            })
        }
        SuppressionsCmd::List { all } => {
            let r = c
                .list_suppressions(pb::ListSuppressionsRequest {
                    include_expired: *all,
                })
                .await?
                .into_inner();
            let mut l = render::suppression_listing();
            for s in &r.rules {
                l.push(render::suppression_row(s), render::suppression_json(s));
            }
            Ok(l.render(fmt))
        }
        SuppressionsCmd::Delete { id } => {
            c.delete_suppression(pb::DeleteSuppressionRequest { id: id.clone() })
                .await?;
            Ok(match fmt {
                Format::Json => json(&serde_json::json!({"id": id, "deleted": true})),
                Format::Table => format!("deleted suppression {id}\n"),
            })
        }
    }
}
