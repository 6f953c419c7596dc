//! `picketctl webhooks …`: webhook destinations of the tenant (role admin). `add` shows the
//! signing secret once; `list` never shows secrets; `test` sends one `dev.picket.test` event
//! and reports what the receiver answered.

use crate::CliError;
use crate::alerts::filter::parse_severity;
use crate::alerts::render::{opt, severity_name};
use crate::client::Authed;
use crate::output::{Format, Listing, json, when};
use clap::Subcommand;
use picket_proto::v1 as pb;
use serde_json::{Value, json as j};

type Client = pb::webhooks_client::WebhooksClient<Authed>;

/// `picketctl webhooks …`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCmd {
    /// Add a destination: every alert and incident change at or above the severity is
    /// POSTed to URL as a signed CloudEvent. Prints the signing secret once.
    Add {
        /// https:// URL (plain http:// only to loopback unless the controller allows it).
        url: String,
        /// Minimum severity: informational, low, medium or high.
        #[arg(long)]
        min_severity: String,
        /// Comma-separated event types (`dev.picket.alert.raised,dev.picket.incident.opened`);
        /// default: all.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Signing secret (16–256 printable bytes); default: 32 random bytes, generated.
        #[arg(long)]
        secret: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// The destinations with their delivery status (never their secrets).
    List,
    /// Delete a destination.
    Delete { id: String },
    /// Send a `dev.picket.test` event to a destination now and show the answer.
    Test { id: String },
}

/// One destination as JSON (no secret: the wire never carries it back).
pub fn webhook_json(w: &pb::Webhook) -> Value {
    let s = w.status.clone().unwrap_or_default();
    j!({
        "id": w.id, "url": w.url, "min_severity": severity_name(w.min_severity),
        "types": w.types, "description": opt(&w.description), "created_by": w.created_by,
        "created": when(w.created_ms),
        "status": {
            "cursor": s.cursor, "pending": s.pending,
            "last_success": if s.last_success_ms > 0 { j!(when(s.last_success_ms)) } else { Value::Null },
            "last_error": opt(&s.last_error),
            "last_error_at": if s.last_error_ms > 0 { j!(when(s.last_error_ms)) } else { Value::Null },
            "failing_attempts": s.failing_attempts,
        },
    })
}

fn webhook_row(w: &pb::Webhook) -> Vec<String> {
    let s = w.status.clone().unwrap_or_default();
    let types = if w.types.is_empty() {
        "all".to_owned()
    } else {
        w.types.join(",")
    };
    vec![
        w.id.clone(),
        w.url.clone(),
        severity_name(w.min_severity).into(),
        types,
        s.pending.to_string(),
        when(s.last_success_ms),
        if s.last_error.is_empty() {
            "-".into()
        } else {
            s.last_error.chars().take(60).collect()
        },
    ]
}

/// Runs a `webhooks` command and returns what to print.
pub async fn webhooks(svc: Authed, fmt: Format, cmd: &WebhooksCmd) -> Result<String, CliError> {
    let mut c = Client::new(svc);
    match cmd {
        WebhooksCmd::Add {
            url,
            min_severity,
            types,
            secret,
            description,
        } => {
            let r = c
                .add_webhook(pb::AddWebhookRequest {
                    url: url.clone(),
                    min_severity: parse_severity(min_severity)? as i32,
                    types: types.iter().filter(|t| !t.is_empty()).cloned().collect(),
                    secret: secret.clone().unwrap_or_default(),
                    description: description.clone(),
                })
                .await?
                .into_inner();
            let w = r.webhook.unwrap_or_default();
            Ok(match fmt {
                Format::Json => {
                    let mut o = webhook_json(&w);
                    o["secret"] = j!(r.secret);
                    json(&o)
                }
                Format::Table => format!(
                    "webhook {} added\nsigning secret (shown once): {}\n",
                    w.id, r.secret
                ),
            })
        }
        WebhooksCmd::List => {
            let r = c
                .list_webhooks(pb::ListWebhooksRequest {})
                .await?
                .into_inner();
            let mut l = Listing::new(&[
                "ID",
                "URL",
                "MIN SEVERITY",
                "TYPES",
                "PENDING",
                "LAST SUCCESS",
                "LAST ERROR",
            ]);
            for w in &r.webhooks {
                l.push(webhook_row(w), webhook_json(w));
            }
            Ok(l.render(fmt))
        }
        WebhooksCmd::Delete { id } => {
            c.delete_webhook(pb::DeleteWebhookRequest { id: id.clone() })
                .await?;
            Ok(match fmt {
                Format::Json => json(&j!({"id": id, "deleted": true})),
                Format::Table => format!("webhook {id} deleted\n"),
            })
        }
        WebhooksCmd::Test { id } => {
            let r = c
                .test_webhook(pb::TestWebhookRequest { id: id.clone() })
                .await?
                .into_inner();
            Ok(match fmt {
                Format::Json => json(&j!({"ok": r.ok, "http_status": r.http_status,
                    "error": opt(&r.error), "event_id": r.event_id, "duration_ms": r.duration_ms})),
                Format::Table if r.ok => format!(
                    "delivered {} ({} in {} ms)\n",
                    r.event_id, r.http_status, r.duration_ms
                ),
                Format::Table => format!("failed {}: {}\n", r.event_id, r.error),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_renders_without_any_secret() {
        let w = pb::Webhook {
            id: "ab12".into(),
            url: "https://hooks.example/x".into(),
            min_severity: pb::Severity::Medium as i32,
            types: vec!["dev.picket.alert.raised".into()],
            created_ms: 1_700_000_000_000,
            status: Some(pb::WebhookStatus {
                pending: 3,
                last_error: "answered 500: oops".into(),
                last_error_ms: 1_700_000_000_000,
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = webhook_json(&w);
        assert_eq!(o["min_severity"], "medium");
        assert_eq!(o["status"]["pending"], 3);
        assert_eq!(o["status"]["last_success"], Value::Null);
        assert_eq!(o["status"]["last_error"], "answered 500: oops");
        assert!(o.get("secret").is_none());
        assert_eq!(webhook_row(&w)[3], "dev.picket.alert.raised");
    }
}
