//! The audit log at the gRPC edge: [`audited`], which services call after an action
//! succeeded, and `ListAudit`.

use super::{blocking, page_cursor};
use crate::auth::AuthContext;
use crate::error::Error;
use crate::state::State;
use crate::store::audit_log::{AuditEntry, AuditFilter};
use picket_proto::v1 as pb;
use picket_shared::TenantId;
use std::sync::Arc;
use tonic::{Response, Status};

/// Most entries one `ListAudit` page examines (the page ends early beyond, with a token).
pub const MAX_AUDIT_SCAN: usize = 100_000;

/// Records an action of `ctx` (on `tenant`, default its own) off the async workers.
pub async fn audited(
    state: &Arc<State>,
    ctx: &AuthContext,
    tenant: Option<&TenantId>,
    action: &'static str,
    target: &str,
    detail: String,
) {
    let (st, ctx, target) = (state.clone(), ctx.clone(), target.to_owned());
    let tenant = tenant.cloned().unwrap_or_else(|| ctx.tenant.clone());
    let _ = blocking(move || {
        let now = st.now_ms();
        crate::audit::record_in(&st.db, &ctx, &tenant, now, action, &target, detail);
        Ok(())
    })
    .await;
}

fn entry_pb(e: AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        time_ms: e.time_ms,
        tenant: e.tenant.to_string(),
        actor_token_id: e.actor_token_id,
        action: e.action,
        target: e.target,
        detail: e.detail,
    }
}

/// `ListAudit` for an admin caller.
pub async fn list(
    state: &Arc<State>,
    ctx: &AuthContext,
    r: pb::ListAuditRequest,
) -> Result<Response<pb::ListAuditResponse>, Status> {
    let tenant = if r.all_tenants {
        if !ctx.installation_admin {
            return Err(
                Error::denied("only the installation admin may read every tenant's audit").into(),
            );
        }
        None
    } else {
        Some(ctx.target_tenant(&r.tenant, "read another tenant's audit")?)
    };
    let filter = AuditFilter {
        tenant,
        since_ms: r.since_ms,
        until_ms: r.until_ms,
        action: r.action.chars().take(64).collect(),
    };
    let page = r.page.unwrap_or_default();
    let after = page_cursor(&page.page_token)?;
    let limit = state.page_size(page.page_size);
    let db = state.db.clone();
    let found =
        blocking(move || Ok(db.list_audit(&filter, after.as_deref(), limit, MAX_AUDIT_SCAN)?))
            .await?;
    Ok(Response::new(pb::ListAuditResponse {
        entries: found.entries.into_iter().map(entry_pb).collect(),
        page: Some(pb::PageResponse {
            next_page_token: found.next.map(hex::encode).unwrap_or_default(),
        }),
    }))
}
