//! The incident RPCs of `picket.v1.Alerts` (`ListIncidents`, `GetIncident`,
//! `UpdateIncidentStatus`), called by the service in `alerts`. Roles as for alerts: readers
//! list and get, operators change statuses.

use super::alerts_wire::{alert_pb, incident_filter_from_pb, incident_pb, status_from_pb};
use super::{blocking, page_cursor};
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::state::State;
use crate::store::incidents::MAX_INCIDENT_SCAN;
use picket_proto::v1 as pb;
use picket_shared::Role;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Longest status comment, in bytes (as for alerts).
pub const MAX_STATUS_COMMENT_BYTES: usize = 1024;

pub async fn list(
    state: &Arc<State>,
    req: Request<pb::ListIncidentsRequest>,
) -> Result<Response<pb::ListIncidentsResponse>, Status> {
    let ctx = caller(&req)?;
    ctx.require(Role::Reader)?;
    let r = req.into_inner();
    let filter = incident_filter_from_pb(&r)?;
    let page = r.page.unwrap_or_default();
    let size = state.page_size(page.page_size);
    let after = page_cursor(&page.page_token)?;
    let db = state.db.clone();
    let max_scan = state.limits.max_scan_per_request.min(MAX_INCIDENT_SCAN);
    let tenant = ctx.tenant.clone();
    let page = blocking(move || {
        Ok(db.list_incidents(&tenant, &filter, after.as_deref(), size, max_scan)?)
    })
    .await?;
    Ok(Response::new(pb::ListIncidentsResponse {
        incidents: page
            .incidents
            .iter()
            .map(|i| incident_pb(ctx.tenant.as_str(), i))
            .collect(),
        page: Some(pb::PageResponse {
            next_page_token: page.next_token.map(hex::encode).unwrap_or_default(),
        }),
    }))
}

pub async fn get(
    state: &Arc<State>,
    req: Request<pb::GetIncidentRequest>,
) -> Result<Response<pb::GetIncidentResponse>, Status> {
    let ctx = caller(&req)?;
    ctx.require(Role::Reader)?;
    let id = req.into_inner().id;
    let db = state.db.clone();
    let tenant = ctx.tenant.clone();
    let (incident, alerts) = blocking(move || {
        let rec = db
            .get_incident(&tenant, &id)?
            .ok_or_else(|| Error::NotFound(format!("no incident {id:?}")))?;
        // Listed alerts are capped per incident (`max_alerts_per_incident`), so this is
        // bounded; alerts retention removed are skipped.
        let mut alerts = Vec::with_capacity(rec.facts.alert_ids.len());
        for a in &rec.facts.alert_ids {
            if let Some(alert) = db.get_alert(&tenant, a)? {
                alerts.push(alert);
            }
        }
        Ok((rec, alerts))
    })
    .await?;
    let t = ctx.tenant.as_str();
    Ok(Response::new(pb::GetIncidentResponse {
        incident: Some(incident_pb(t, &incident)),
        alerts: alerts.iter().map(|a| alert_pb(t, a)).collect(),
    }))
}

pub async fn update_status(
    state: &Arc<State>,
    req: Request<pb::UpdateIncidentStatusRequest>,
) -> Result<Response<pb::Incident>, Status> {
    let ctx = caller(&req)?;
    ctx.require(Role::Operator)?;
    let r = req.into_inner();
    let status = status_from_pb(r.status)?.ok_or_else(|| Error::invalid("status is required"))?;
    if r.comment.len() > MAX_STATUS_COMMENT_BYTES {
        return Err(Error::invalid(format!(
            "comment is {} bytes, the limit is {MAX_STATUS_COMMENT_BYTES}",
            r.comment.len()
        ))
        .into());
    }
    let st = state.clone();
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
            .update_incident_status(&tenant, &r.id, status, &by, &r.comment, now)?
            .ok_or_else(|| Error::NotFound(format!("no incident {:?}", r.id)))?;
        st.db.flush()?;
        Ok(updated)
    })
    .await?;
    state.analysis.publish(&ctx.tenant, cursor);
    super::audit::audited(state, &ctx, None, "incident.status", &target, detail).await;
    Ok(Response::new(incident_pb(ctx.tenant.as_str(), &rec)))
}
