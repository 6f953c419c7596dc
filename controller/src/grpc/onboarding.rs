//! The onboarding RPCs of `picket.v1.Inventory` (`SetApiOnboarding`, `GetOnboardingSettings`,
//! `SetOnboardingSettings`); `inventory` delegates to them.

use super::blocking;
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::metering::ApiState;
use crate::state::State;
use crate::store::apis::{ApiSelector, MAX_APIS_PER_CHANGE};
use picket_proto::v1 as pb;
use picket_shared::Role;
use picket_shared::limits::valid_host;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Onboards or offboards the request's APIs (role operator).
pub async fn set_api_onboarding(
    state: &Arc<State>,
    req: Request<pb::SetApiOnboardingRequest>,
) -> Result<Response<pb::SetApiOnboardingResponse>, Status> {
    let ctx = caller(&req)?;
    ctx.require(Role::Operator)?;
    let r = req.into_inner();
    let selector = match (r.all, r.hosts.is_empty()) {
        (true, true) => ApiSelector::All,
        (false, false) => {
            if r.hosts.len() > MAX_APIS_PER_CHANGE {
                return Err(Error::invalid(format!(
                    "at most {MAX_APIS_PER_CHANGE} hosts per change, got {}",
                    r.hosts.len()
                ))
                .into());
            }
            let mut hosts = Vec::with_capacity(r.hosts.len());
            for h in r.hosts {
                let h = h.trim_end_matches('.').to_ascii_lowercase();
                if !valid_host(&h) {
                    return Err(
                        Error::invalid(format!("host {h:?} is not a valid API host")).into(),
                    );
                }
                hosts.push(h);
            }
            ApiSelector::Hosts(hosts)
        }
        (true, false) => {
            return Err(Error::invalid("give either hosts or all, not both").into());
        }
        (false, true) => return Err(Error::invalid("give the hosts to change, or all").into()),
    };
    let target = if r.onboard {
        ApiState::Onboarded
    } else {
        ApiState::Discovered
    };
    let (st, actor) = (state.clone(), ctx.clone());
    let changed = blocking(move || {
        let now = st.now_ms();
        let changed = st
            .db
            .set_api_state(&ctx.tenant, &selector, target, &ctx.token_id, now)?;
        st.db.flush()?;
        Ok(changed)
    })
    .await?;
    state.posture_changed();
    let changed: Vec<String> = changed.into_iter().map(|r| r.host).collect();
    let action = if r.onboard {
        "api.onboard"
    } else {
        "api.offboard"
    };
    let target = if r.all { "all" } else { "hosts" };
    super::audit::audited(state, &actor, None, action, target, changed.join(",")).await;
    Ok(Response::new(pb::SetApiOnboardingResponse { changed }))
}

/// The tenant's onboarding settings (role reader).
pub async fn get_settings(
    state: &Arc<State>,
    req: Request<pb::GetOnboardingSettingsRequest>,
) -> Result<Response<pb::OnboardingSettings>, Status> {
    let ctx = caller(&req)?;
    ctx.require(Role::Reader)?;
    let db = state.db.clone();
    let auto_onboard = blocking(move || Ok(db.auto_onboard(&ctx.tenant)?)).await?;
    Ok(Response::new(pb::OnboardingSettings { auto_onboard }))
}

/// Changes the tenant's onboarding settings (role admin).
pub async fn set_settings(
    state: &Arc<State>,
    req: Request<pb::OnboardingSettings>,
) -> Result<Response<pb::OnboardingSettings>, Status> {
    let ctx = caller(&req)?;
    ctx.require(Role::Admin)?;
    let want = req.into_inner().auto_onboard;
    let (db, actor) = (state.db.clone(), ctx.clone());
    let auto_onboard = blocking(move || {
        db.set_auto_onboard(&ctx.tenant, want)?;
        db.flush()?;
        Ok(db.auto_onboard(&ctx.tenant)?)
    })
    .await?;
    let detail = format!("auto_onboard={auto_onboard}");
    super::audit::audited(state, &actor, None, "api.auto_onboard", "tenant", detail).await;
    Ok(Response::new(pb::OnboardingSettings { auto_onboard }))
}
