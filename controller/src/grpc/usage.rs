//! `picket.v1.Usage`: plans, usage, history, recommendations and billing notifications.

use super::blocking;
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::metering::cycle::{Cycle, DAY_MS, date_string, day_of};
use crate::metering::report::{recommendation_window, usage_report};
use crate::metering::{Enforcement, Plan};
use crate::state::State;
use picket_proto::v1 as pb;
use picket_proto::v1::usage_server::Usage;
use picket_shared::{Role, TenantId};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Most days one history request returns.
pub const MAX_HISTORY_DAYS: i64 = 400;

pub struct UsageService {
    state: Arc<State>,
}

impl UsageService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

fn plan_pb(p: &Plan) -> pb::Plan {
    pb::Plan {
        name: p.name.clone(),
        included_calls: p.included_calls,
        monthly_fee_micros: p.monthly_fee_micros,
        overage_micros_per_call: p.overage_micros_per_call,
    }
}

fn enforcement_pb(e: Enforcement) -> pb::Enforcement {
    match e {
        Enforcement::Overage => pb::Enforcement::Overage,
        Enforcement::Cap => pb::Enforcement::Cap,
    }
}

fn tenant_plan(state: &State, tenant: &TenantId) -> crate::error::Result<pb::TenantPlan> {
    let acct = state.db.account(tenant, &state.policy)?;
    let plan = state
        .policy
        .catalogue
        .get(acct.current_plan())
        .unwrap_or(state.policy.fallback_plan());
    Ok(pb::TenantPlan {
        tenant: tenant.to_string(),
        plan: Some(plan_pb(plan)),
        enforcement: enforcement_pb(acct.enforcement) as i32,
        since_ms: acct.changes.last().map_or(0, |c| c.at_ms.max(0)),
    })
}

#[tonic::async_trait]
impl Usage for UsageService {
    async fn list_plans(
        &self,
        req: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        caller(&req)?.require(Role::Reader)?;
        let plans = self
            .state
            .policy
            .catalogue
            .plans()
            .iter()
            .map(plan_pb)
            .collect();
        Ok(Response::new(pb::ListPlansResponse { plans }))
    }

    async fn get_plan(
        &self,
        req: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::TenantPlan>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let st = self.state.clone();
        Ok(Response::new(
            blocking(move || tenant_plan(&st, &ctx.tenant)).await?,
        ))
    }

    async fn set_plan(
        &self,
        req: Request<pb::SetPlanRequest>,
    ) -> Result<Response<pb::TenantPlan>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let r = req.into_inner();
        let tenant = ctx.target_tenant(&r.tenant, "change another tenant's plan")?;
        if !r.plan.is_empty() && self.state.policy.catalogue.get(&r.plan).is_none() {
            let names: Vec<&str> = self
                .state
                .policy
                .catalogue
                .plans()
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            return Err(Error::invalid(format!(
                "no plan {:?}; plans are {}",
                r.plan,
                names.join(", ")
            ))
            .into());
        }
        let enforcement = match pb::Enforcement::try_from(r.enforcement) {
            Ok(pb::Enforcement::Overage) => Some(Enforcement::Overage),
            Ok(pb::Enforcement::Cap) => Some(Enforcement::Cap),
            Ok(pb::Enforcement::Unspecified) => None,
            Err(_) => return Err(Error::invalid("unknown enforcement mode").into()),
        };
        let st = self.state.clone();
        let who = ctx.token_id.clone();
        let (audit_tenant, detail) = (
            tenant.clone(),
            format!("plan={:?} enforcement={:?}", r.plan, enforcement),
        );
        let result = blocking(move || {
            if st.db.get_tenant(&tenant)?.is_none() {
                return Err(Error::NotFound(format!("no tenant {tenant}")));
            }
            let now = st.now_ms();
            st.db.update_account(&tenant, &st.policy, &|acct| {
                if !r.plan.is_empty() && r.plan != acct.current_plan() {
                    acct.change_plan(&r.plan, now);
                }
                if let Some(e) = enforcement {
                    acct.enforcement = e;
                }
            })?;
            st.db.flush()?;
            // An upgrade or a switch to overage can lift a pause at once.
            st.refresh_pause(&tenant)?;
            tracing::info!(tenant = %tenant, by = %who, "plan changed");
            tenant_plan(&st, &tenant)
        })
        .await?;
        let target = audit_tenant.to_string();
        super::audit::audited(
            &self.state,
            &ctx,
            Some(&audit_tenant),
            "plan.set",
            &target,
            detail,
        )
        .await;
        Ok(Response::new(result))
    }

    async fn get_usage(
        &self,
        req: Request<pb::GetUsageRequest>,
    ) -> Result<Response<pb::UsageReport>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let st = self.state.clone();
        let tenant = ctx.tenant.clone();
        let report = blocking(move || {
            let now = st.now_ms();
            let acct = st.db.account(&tenant, &st.policy)?;
            let usage = st
                .db
                .cycle_usage(&tenant, Cycle::containing(now).start_ms)?;
            Ok(usage_report(&acct, usage, now, &st.policy))
        })
        .await?;
        let mut apis: Vec<pb::ApiUsage> = report
            .usage
            .per_api
            .iter()
            .map(|(h, c)| pb::ApiUsage {
                host: h.clone(),
                calls: *c,
            })
            .collect();
        apis.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.host.cmp(&b.host)));
        Ok(Response::new(pb::UsageReport {
            tenant: ctx.tenant.to_string(),
            plan: report.plan.name.clone(),
            enforcement: enforcement_pb(report.enforcement) as i32,
            cycle_start_ms: report.cycle.start_ms,
            cycle_end_ms: report.cycle.end_ms,
            as_of_ms: report.as_of_ms,
            calls: report.usage.calls,
            entitlement: report.entitlement,
            remaining: report.remaining,
            overage_calls: report.overage_calls,
            overage_cost_micros: report.overage_cost_micros,
            fee_micros: report.fee_micros,
            projected_calls: report.projected_calls,
            projected_cost_micros: report.projected_cost_micros,
            unprotected_calls: report.usage.unprotected_calls,
            analyzed_calls: report.usage.analyzed_calls,
            unanalyzed_calls: report.usage.unanalyzed_calls,
            analysis_paused: report.analysis_paused,
            apis,
        }))
    }

    async fn get_usage_history(
        &self,
        req: Request<pb::GetUsageHistoryRequest>,
    ) -> Result<Response<pb::UsageHistory>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let r = req.into_inner();
        let now = self.state.now_ms();
        let to_day = if r.to_ms == 0 {
            day_of(now)
        } else {
            day_of(r.to_ms)
        };
        let from_day = if r.from_ms == 0 {
            to_day - 29
        } else {
            day_of(r.from_ms)
        };
        if from_day > to_day || to_day - from_day >= MAX_HISTORY_DAYS {
            return Err(Error::invalid(format!(
                "the range must hold 1 to {MAX_HISTORY_DAYS} days"
            ))
            .into());
        }
        let st = self.state.clone();
        let rows = blocking(move || Ok(st.db.day_usage(&ctx.tenant, from_day, to_day)?)).await?;
        let mut rows = rows.into_iter().peekable();
        let mut days = Vec::new();
        for day in from_day..=to_day {
            let usage = if rows.peek().is_some_and(|(d, _)| *d == day) {
                rows.next().map(|(_, u)| u)
            } else {
                None
            };
            let u = usage.unwrap_or_default();
            let calls = if r.host.is_empty() {
                u.calls
            } else {
                u.per_api.get(&r.host).copied().unwrap_or(0)
            };
            let (unprotected, unanalyzed) = if r.host.is_empty() {
                (u.unprotected_calls, u.unanalyzed_calls)
            } else {
                (0, 0)
            };
            days.push(pb::DailyUsage {
                day_start_ms: day * DAY_MS,
                date: date_string(day),
                calls,
                unprotected_calls: unprotected,
                unanalyzed_calls: unanalyzed,
            });
        }
        Ok(Response::new(pb::UsageHistory { days }))
    }

    async fn recommend_plan(
        &self,
        req: Request<pb::RecommendPlanRequest>,
    ) -> Result<Response<pb::PlanRecommendation>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let st = self.state.clone();
        let (calls, acct, report, now) = blocking(move || {
            let now = st.now_ms();
            let (from, to) = recommendation_window(now);
            let calls: u64 = st
                .db
                .day_usage(&ctx.tenant, from, to)?
                .iter()
                .fold(0u64, |a, (_, d)| a.saturating_add(d.calls));
            let acct = st.db.account(&ctx.tenant, &st.policy)?;
            let usage = st
                .db
                .cycle_usage(&ctx.tenant, Cycle::containing(now).start_ms)?;
            let report = usage_report(&acct, usage, now, &st.policy);
            Ok((calls, acct, report, now))
        })
        .await?;
        let catalogue = &self.state.policy.catalogue;
        let (costs, best) = catalogue.recommend(calls);
        let current = catalogue
            .get(acct.current_plan())
            .unwrap_or(self.state.policy.fallback_plan());
        let current_cost = current.cost_micros(calls);
        let (from, to) = recommendation_window(now);
        Ok(Response::new(pb::PlanRecommendation {
            window_start_ms: from * DAY_MS,
            window_end_ms: (to + 1) * DAY_MS,
            calls,
            current_plan: current.name.clone(),
            current_cost_micros: current_cost,
            recommended_plan: catalogue.plans()[best].name.clone(),
            recommended_cost_micros: costs[best],
            savings_micros: current_cost.saturating_sub(costs[best]),
            costs: catalogue
                .plans()
                .iter()
                .zip(&costs)
                .map(|(p, c)| pb::PlanCost {
                    plan: Some(plan_pb(p)),
                    cost_micros: *c,
                    overage_calls: calls.saturating_sub(p.included_calls),
                })
                .collect(),
            projected_cycle_cost_micros: report.projected_cost_micros,
        }))
    }

    async fn list_notifications(
        &self,
        req: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let st = self.state.clone();
        let notes = blocking(move || Ok(st.db.notifications(&ctx.tenant)?)).await?;
        let notifications = notes
            .into_iter()
            .map(|n| pb::BillingNotification {
                id: n.id(),
                kind: "budget_threshold".into(),
                message: n.message(),
                threshold_pct: n.threshold_pct,
                cycle_start_ms: n.cycle_start_ms,
                calls: n.calls,
                entitlement: n.entitlement,
                plan: n.plan,
                created_ms: n.created_ms,
            })
            .collect();
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications,
        }))
    }
}
