//! `picket.v1.Webhooks`: webhook destinations of the caller's tenant (add, list, delete,
//! test), and [`event_data`], the `data` of exported events — the alert or incident JSON of
//! `picketctl -o json` (`picket_proto::json`), so payloads, the export file and the CLI
//! agree on field names. Every call needs role admin: destinations receive the tenant's
//! alerts and hold signing secrets. Secrets leave only in the `AddWebhook` answer.

use super::alerts_wire::{alert_pb, incident_pb, severity_pb};
use crate::error::Error;
use crate::export::Exports;
use crate::export::webhooks::{Listed, NewWebhook};
use crate::grpc::auth_layer::caller;
use crate::store::alerts::AlertLogRecord;
use picket_detect::Severity;
use picket_proto::v1 as pb;
use picket_proto::v1::webhooks_server::Webhooks;
use picket_shared::{Role, TenantId};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The `data` of an alert-log entry's event.
pub fn event_data(tenant: &TenantId, rec: &AlertLogRecord) -> serde_json::Value {
    match (&rec.alert, &rec.incident) {
        (_, Some(i)) => {
            picket_proto::json::incident_json(&incident_pb(tenant.as_str(), &i.incident))
        }
        (Some(a), None) => picket_proto::json::alert_json(&alert_pb(tenant.as_str(), a)),
        (None, None) => serde_json::json!({"notice": rec.notice}),
    }
}

pub struct WebhooksService {
    exports: Arc<Exports>,
}

impl WebhooksService {
    pub fn new(exports: Arc<Exports>) -> Self {
        Self { exports }
    }
}

fn severity_from_pb(v: i32) -> Result<Severity, Error> {
    match pb::Severity::try_from(v) {
        Ok(pb::Severity::Informational) => Ok(Severity::Informational),
        Ok(pb::Severity::Low) => Ok(Severity::Low),
        Ok(pb::Severity::Medium) => Ok(Severity::Medium),
        Ok(pb::Severity::High) => Ok(Severity::High),
        Ok(pb::Severity::Unspecified) => Err(Error::invalid(
            "min_severity is required (informational, low, medium or high)",
        )),
        Err(_) => Err(Error::invalid(format!(
            "min_severity {v} is not a known value"
        ))),
    }
}

/// A destination on the wire: never its secret.
fn webhook_pb(l: &Listed) -> pb::Webhook {
    let (r, s) = (&l.rec, &l.state);
    pb::Webhook {
        id: r.id.clone(),
        url: r.url.clone(),
        min_severity: severity_pb(Some(r.min_severity)) as i32,
        types: r.types.clone(),
        description: r.description.clone(),
        created_by: r.created_by.clone(),
        created_ms: r.created_ms,
        status: Some(pb::WebhookStatus {
            cursor: s.cursor,
            pending: l.pending,
            last_success_ms: s.last_success_ms,
            last_error: s.last_error.clone(),
            last_error_ms: s.last_error_ms,
            failing_attempts: s.failing_attempts,
        }),
    }
}

async fn run<T, F>(f: F) -> Result<T, Status>
where
    F: FnOnce() -> crate::error::Result<T> + Send + 'static,
    T: Send + 'static,
{
    crate::export::blocking(f).await.map_err(Status::from)
}

#[tonic::async_trait]
impl Webhooks for WebhooksService {
    async fn add_webhook(
        &self,
        req: Request<pb::AddWebhookRequest>,
    ) -> Result<Response<pb::AddWebhookResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let r = req.into_inner();
        let w = NewWebhook {
            url: r.url,
            min_severity: severity_from_pb(r.min_severity)?,
            types: r.types,
            secret: r.secret,
            description: r.description,
        };
        let (ex, tenant, actor) = (self.exports.clone(), ctx.tenant.clone(), ctx.clone());
        let listed = run(move || {
            let now = ex.state.now_ms();
            let rec = ex.add_webhook(&tenant, &ctx.token_id, w, now)?;
            let state = ex.state.db.delivery_state(&tenant, &rec.id)?;
            Ok(Listed {
                rec,
                state,
                pending: 0,
            })
        })
        .await?;
        // The URL and filter, never the secret.
        let detail = format!(
            "url={} min_severity={:?} types={}",
            listed.rec.url,
            listed.rec.min_severity,
            listed.rec.types.join(",")
        );
        let st = &self.exports.state;
        super::audit::audited(st, &actor, None, "webhook.add", &listed.rec.id, detail).await;
        Ok(Response::new(pb::AddWebhookResponse {
            webhook: Some(webhook_pb(&listed)),
            secret: listed.rec.secret,
        }))
    }

    async fn list_webhooks(
        &self,
        req: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let ex = self.exports.clone();
        let listed = run(move || ex.list_webhooks(&ctx.tenant)).await?;
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: listed.iter().map(webhook_pb).collect(),
        }))
    }

    async fn delete_webhook(
        &self,
        req: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let (ex, id, actor) = (self.exports.clone(), req.into_inner().id, ctx.clone());
        let target = id.clone();
        run(move || ex.delete_webhook(&ctx.tenant, &id)).await?;
        let st = &self.exports.state;
        super::audit::audited(st, &actor, None, "webhook.delete", &target, String::new()).await;
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    async fn test_webhook(
        &self,
        req: Request<pb::TestWebhookRequest>,
    ) -> Result<Response<pb::TestWebhookResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let id = req.into_inner().id;
        let o = self.exports.test_webhook(&ctx.tenant, &id).await?;
        Ok(Response::new(pb::TestWebhookResponse {
            ok: o.ok,
            http_status: o.http_status.into(),
            error: o.error,
            event_id: o.event_id,
            duration_ms: o.duration_ms,
        }))
    }
}
