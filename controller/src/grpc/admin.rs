//! `picket.v1.Admin`: tenants and tokens. Tenant admins manage their own tenant's tokens; the
//! installation admin (the bootstrap token) also creates tenants and manages any tenant.

use super::audit::audited;
use super::{blocking, convert};
use crate::auth::{AuthContext, DEFAULT_ROTATION_GRACE_SECS, mint, rotate};
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::state::State;
use crate::store::{Db, TenantRecord, TokenRecord};
use picket_proto::v1 as pb;
use picket_proto::v1::admin_server::Admin;
use picket_shared::{Role, TenantId};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Longest token description kept, in characters.
const MAX_DESCRIPTION_CHARS: usize = 256;

pub struct AdminService {
    state: Arc<State>,
}

impl AdminService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_tenant(
        &self,
        req: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        if !ctx.installation_admin {
            return Err(Error::denied("only the installation admin may create tenants").into());
        }
        let name =
            TenantId::new(&req.into_inner().name).map_err(|e| Error::invalid(e.to_string()))?;
        let rec = TenantRecord {
            name,
            created_ms: self.state.now_ms(),
        };
        let db = self.state.db.clone();
        let created = {
            let rec = rec.clone();
            blocking(move || {
                if db.create_tenant(&rec)? {
                    db.flush()?;
                    Ok(())
                } else {
                    Err(Error::AlreadyExists(format!(
                        "tenant {} already exists",
                        rec.name
                    )))
                }
            })
            .await
        };
        created?;
        tracing::info!(tenant = %rec.name, by = %ctx.token_id, "tenant created");
        let name = rec.name.to_string();
        audited(
            &self.state,
            &ctx,
            Some(&rec.name),
            "tenant.create",
            &name,
            String::new(),
        )
        .await;
        Ok(Response::new(pb::Tenant {
            name: rec.name.to_string(),
            created_ms: rec.created_ms,
        }))
    }

    async fn list_tenants(
        &self,
        req: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let db = self.state.db.clone();
        let all = blocking(move || Ok(db.list_tenants()?)).await?;
        let tenants = all
            .into_iter()
            .filter(|t| ctx.installation_admin || t.name == ctx.tenant)
            .map(|t| pb::Tenant {
                name: t.name.to_string(),
                created_ms: t.created_ms,
            })
            .collect();
        Ok(Response::new(pb::ListTenantsResponse { tenants }))
    }

    async fn create_token(
        &self,
        req: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let r = req.into_inner();
        let tenant = ctx.target_tenant(&r.tenant, "manage another tenant")?;
        let role = convert::role_from_pb(r.role)
            .ok_or_else(|| Error::invalid("role must be one of sensor, reader, operator, admin"))?;
        let description: String = r.description.chars().take(MAX_DESCRIPTION_CHARS).collect();
        let minted = mint(
            tenant.clone(),
            role,
            description,
            false,
            self.state.now_ms(),
            r.ttl_secs,
        )?;
        let record = minted.record.clone();
        let db = self.state.db.clone();
        blocking(move || {
            if db.get_tenant(&tenant)?.is_none() {
                return Err(Error::NotFound(format!("no tenant {tenant}")));
            }
            db.put_token(&record)?;
            db.flush()?;
            Ok(())
        })
        .await?;
        tracing::info!(token = %minted.record.id, tenant = %minted.record.tenant, role = %role, by = %ctx.token_id, "token created");
        // The secret never enters the log: only the id, role, expiry and description.
        let detail = format!(
            "role={role} expires_ms={} description={:?}",
            minted.record.expires_ms, minted.record.description
        );
        let (id, tenant) = (&minted.record.id, &minted.record.tenant);
        audited(&self.state, &ctx, Some(tenant), "token.create", id, detail).await;
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(convert::token_to_pb(minted.record)),
            secret: minted.bearer,
        }))
    }

    async fn list_tokens(
        &self,
        req: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let tenant = ctx.target_tenant(&req.into_inner().tenant, "manage another tenant")?;
        let st = self.state.clone();
        let tokens = blocking(move || {
            let mut out = Vec::new();
            for t in st.db.list_tokens()? {
                if t.tenant != tenant {
                    continue;
                }
                let last_used_ms = st.tokens.last_used_ms(&st.db, &t.id)?;
                out.push(pb::Token {
                    last_used_ms,
                    ..convert::token_to_pb(t)
                });
            }
            Ok(out)
        })
        .await?;
        Ok(Response::new(pb::ListTokensResponse { tokens }))
    }

    async fn revoke_token(
        &self,
        req: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let id = req.into_inner().id;
        let db = self.state.db.clone();
        let now = self.state.now_ms();
        let by = ctx.clone();
        let tokens = self.state.tokens.clone();
        let revoked = blocking(move || {
            let mut rec = managed_token(&db, &by, &id, "revoke")?;
            if rec.revoked_ms == 0 {
                // Batches of this token in flight commit first; none after (the fence).
                let _fence = tokens.change_fence();
                rec.revoked_ms = now;
                db.put_token(&rec)?;
                db.flush()?;
            }
            Ok(rec)
        })
        .await?;
        // Its open streams re-check their credentials and end.
        self.state.tokens.changed();
        tracing::info!(token = %revoked.id, tenant = %revoked.tenant, "token revoked");
        let detail = format!("revoked_ms={}", revoked.revoked_ms);
        let (id, tenant) = (&revoked.id, &revoked.tenant);
        audited(&self.state, &ctx, Some(tenant), "token.revoke", id, detail).await;
        Ok(Response::new(convert::token_to_pb(revoked)))
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        super::audit::list(&self.state, &ctx, req.into_inner()).await
    }

    async fn rotate_token(
        &self,
        req: Request<pb::RotateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let r = req.into_inner();
        let grace_secs = r.grace_secs.unwrap_or(DEFAULT_ROTATION_GRACE_SECS);
        let db = self.state.db.clone();
        let now = self.state.now_ms();
        let by = ctx.clone();
        let tokens = self.state.tokens.clone();
        let minted = blocking(move || {
            let rec = managed_token(&db, &by, &r.id, "rotate")?;
            let minted = rotate(rec, now, grace_secs)?;
            // A secret rotated out without grace commits no batch after this returns.
            let _fence = tokens.change_fence();
            db.put_token(&minted.record)?;
            db.flush()?;
            Ok(minted)
        })
        .await?;
        // Streams opened with a secret rotated out without grace end now.
        self.state.tokens.changed();
        tracing::info!(token = %minted.record.id, tenant = %minted.record.tenant, grace_secs, "token rotated");
        let detail = format!(
            "grace_secs={grace_secs} previous_valid_until_ms={}",
            minted.record.previous_valid_until_ms
        );
        let (id, tenant) = (&minted.record.id, &minted.record.tenant);
        audited(&self.state, &ctx, Some(tenant), "token.rotate", id, detail).await;
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(convert::token_to_pb(minted.record)),
            secret: minted.bearer,
        }))
    }
}

/// The token `id` if the caller may manage it: its own tenant's (or any, for the
/// installation admin), and the installation-admin token only by itself.
fn managed_token(
    db: &Db,
    ctx: &AuthContext,
    id: &str,
    action: &str,
) -> crate::error::Result<TokenRecord> {
    let rec = db
        .get_token(id)?
        .ok_or_else(|| Error::NotFound(format!("no token {id:?}")))?;
    if rec.tenant != ctx.tenant && !ctx.installation_admin {
        // Do not reveal that another tenant's token exists.
        return Err(Error::NotFound(format!("no token {id:?}")));
    }
    if rec.installation_admin && rec.id != ctx.token_id {
        return Err(Error::denied(format!(
            "only the installation-admin token itself may {action} it"
        )));
    }
    Ok(rec)
}
