//! `picket.v1.Alerts`: listing, reading and triaging alerts, suppression rules, and the
//! resumable change stream (`alerts_watch`), and incidents (`incidents`). Readers list, get
//! and watch; operators change statuses and manage suppression rules.

use super::alerts_wire::{
    alert_pb, filter_from_pb, status_from_pb, suppression_from_pb, suppression_pb,
};
use super::{blocking, page_cursor};
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::state::State;
use crate::store::alert_query::MAX_ALERT_SCAN;
use picket_proto::v1 as pb;
use picket_proto::v1::alerts_server::Alerts;
use picket_shared::Role;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Longest status comment, in bytes.
pub const MAX_STATUS_COMMENT_BYTES: usize = 1024;

pub struct AlertsService {
    state: Arc<State>,
}

impl AlertsService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Alerts for AlertsService {
    async fn list_alerts(
        &self,
        req: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let r = req.into_inner();
        let filter = filter_from_pb(&r)?;
        let page = r.page.unwrap_or_default();
        let size = self.state.page_size(page.page_size);
        let after = page_cursor(&page.page_token)?;
        let db = self.state.db.clone();
        let max_scan = self.state.limits.max_scan_per_request.min(MAX_ALERT_SCAN);
        let tenant = ctx.tenant.clone();
        let page = blocking(move || {
            Ok(db.list_alerts(&tenant, &filter, after.as_deref(), size, max_scan)?)
        })
        .await?;
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: page
                .alerts
                .iter()
                .map(|a| alert_pb(ctx.tenant.as_str(), a))
                .collect(),
            page: Some(pb::PageResponse {
                next_page_token: page.next_token.map(hex::encode).unwrap_or_default(),
            }),
        }))
    }

    async fn get_alert(
        &self,
        req: Request<pb::GetAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let id = req.into_inner().id;
        let db = self.state.db.clone();
        let tenant = ctx.tenant.clone();
        let found = blocking(move || {
            db.get_alert(&tenant, &id)?
                .ok_or_else(|| Error::NotFound(format!("no alert {id:?}")))
        })
        .await?;
        Ok(Response::new(alert_pb(ctx.tenant.as_str(), &found)))
    }

    async fn update_alert_status(
        &self,
        req: Request<pb::UpdateAlertStatusRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Operator)?;
        let r = req.into_inner();
        let status =
            status_from_pb(r.status)?.ok_or_else(|| Error::invalid("status is required"))?;
        if r.comment.len() > MAX_STATUS_COMMENT_BYTES {
            return Err(Error::invalid(format!(
                "comment is {} bytes, the limit is {MAX_STATUS_COMMENT_BYTES}",
                r.comment.len()
            ))
            .into());
        }
        let st = self.state.clone();
        let tenant = ctx.tenant.clone();
        let by = format!("token:{}", ctx.token_id);
        let (target, detail) = (
            r.id.clone(),
            format!("status={status:?} comment={:?}", r.comment),
        );
        let (rec, cursor) = blocking(move || {
            let now = st.now_ms();
            let updated = st
                .db
                .update_alert_status(&tenant, &r.id, status, &by, &r.comment, now)?
                .ok_or_else(|| Error::NotFound(format!("no alert {:?}", r.id)))?;
            st.db.flush()?;
            Ok(updated)
        })
        .await?;
        self.state.analysis.publish(&ctx.tenant, cursor);
        super::audit::audited(&self.state, &ctx, None, "alert.status", &target, detail).await;
        Ok(Response::new(alert_pb(ctx.tenant.as_str(), &rec)))
    }

    type WatchAlertsStream = super::alerts_watch::ChangeStream;

    async fn watch_alerts(
        &self,
        req: Request<pb::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let guard = self.state.tokens.guard(self.state.db.clone(), ctx.clone());
        let stream =
            super::alerts_watch::start(&self.state, ctx.tenant, req.into_inner(), Some(guard))
                .await?;
        Ok(Response::new(stream))
    }

    async fn create_suppression(
        &self,
        req: Request<pb::CreateSuppressionRequest>,
    ) -> Result<Response<pb::Suppression>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Operator)?;
        let rule = req
            .into_inner()
            .rule
            .ok_or_else(|| Error::invalid("rule is required"))?;
        let rule = suppression_from_pb(rule)?;
        let st = self.state.clone();
        let tenant = ctx.tenant.clone();
        let by = format!("token:{}", ctx.token_id);
        let made = blocking(move || {
            let made = crate::analysis::suppress::create(&st.db, &tenant, rule, &by, st.now_ms())?;
            st.db.flush()?;
            Ok(made)
        })
        .await?;
        let detail = format!("rule={:?}", made);
        super::audit::audited(
            &self.state,
            &ctx,
            None,
            "suppression.create",
            &made.id,
            detail,
        )
        .await;
        Ok(Response::new(suppression_pb(
            &crate::store::suppressions::SuppressionRecord {
                rule: made,
                hits: 0,
            },
        )))
    }

    async fn list_suppressions(
        &self,
        req: Request<pb::ListSuppressionsRequest>,
    ) -> Result<Response<pb::ListSuppressionsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let include_expired = req.into_inner().include_expired;
        let st = self.state.clone();
        let rules = blocking(move || {
            let now = st.now_ms();
            let mut rules = st.db.suppressions(&ctx.tenant)?;
            rules.retain(|r| include_expired || !r.rule.expired(now));
            Ok(rules)
        })
        .await?;
        Ok(Response::new(pb::ListSuppressionsResponse {
            rules: rules.iter().map(suppression_pb).collect(),
        }))
    }

    async fn delete_suppression(
        &self,
        req: Request<pb::DeleteSuppressionRequest>,
    ) -> Result<Response<pb::DeleteSuppressionResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Operator)?;
        let id = req.into_inner().id;
        let db = self.state.db.clone();
        let (tenant, rule) = (ctx.tenant.clone(), id.clone());
        blocking(move || {
            if !db.delete_suppression(&tenant, &id)? {
                return Err(Error::NotFound(format!("no suppression rule {id:?}")));
            }
            db.flush()?;
            Ok(())
        })
        .await?;
        super::audit::audited(
            &self.state,
            &ctx,
            None,
            "suppression.delete",
            &rule,
            String::new(),
        )
        .await;
        Ok(Response::new(pb::DeleteSuppressionResponse {}))
    }

    async fn list_incidents(
        &self,
        req: Request<pb::ListIncidentsRequest>,
    ) -> Result<Response<pb::ListIncidentsResponse>, Status> {
        super::incidents::list(&self.state, req).await
    }

    async fn get_incident(
        &self,
        req: Request<pb::GetIncidentRequest>,
    ) -> Result<Response<pb::GetIncidentResponse>, Status> {
        super::incidents::get(&self.state, req).await
    }

    async fn update_incident_status(
        &self,
        req: Request<pb::UpdateIncidentStatusRequest>,
    ) -> Result<Response<pb::Incident>, Status> {
        super::incidents::update_status(&self.state, req).await
    }
}
