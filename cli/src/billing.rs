//! `picketctl usage …` and `picketctl plans …`.

use crate::client::Authed;
use crate::output::{Format, Listing, json, money, when};
use crate::{CliError, PlansCmd, UsageCmd};
use picket_proto::v1 as pb;
use serde_json::json as j;

type Client = pb::usage_client::UsageClient<Authed>;

fn enforcement_name(raw: i32) -> &'static str {
    match pb::Enforcement::try_from(raw) {
        Ok(pb::Enforcement::Cap) => "cap",
        Ok(pb::Enforcement::Overage) => "overage",
        _ => "unspecified",
    }
}

fn usage_json(u: &pb::UsageReport) -> serde_json::Value {
    j!({"tenant": u.tenant, "plan": u.plan, "enforcement": enforcement_name(u.enforcement),
        "cycle_start": when(u.cycle_start_ms), "cycle_end": when(u.cycle_end_ms),
        "cycle_start_ms": u.cycle_start_ms, "cycle_end_ms": u.cycle_end_ms, "as_of": when(u.as_of_ms),
        "calls": u.calls, "entitlement": u.entitlement, "remaining": u.remaining,
        "overage_calls": u.overage_calls, "overage_cost_micros": u.overage_cost_micros,
        "fee_micros": u.fee_micros, "projected_calls": u.projected_calls,
        "projected_cost_micros": u.projected_cost_micros, "unprotected_calls": u.unprotected_calls,
        "analyzed_calls": u.analyzed_calls, "unanalyzed_calls": u.unanalyzed_calls,
        "analysis_paused": u.analysis_paused,
        "apis": u.apis.iter().map(|a| j!({"host": a.host, "calls": a.calls})).collect::<Vec<_>>()})
}

/// The usage summary as a human reads it.
pub fn usage_text(u: &pb::UsageReport) -> String {
    let mut out = format!(
        "tenant {}  plan {} ({})  cycle {} → {}\n\
         calls            {} of {} included ({} remaining)\n\
         overage          {} calls, {}\n\
         fee (prorated)   {}\n\
         projected        {} calls, {} by cycle end\n\
         unprotected      {} calls (APIs not onboarded, not billed)\n\
         analysis         {} analyzed, {} unanalyzed{}\n",
        u.tenant,
        u.plan,
        enforcement_name(u.enforcement),
        when(u.cycle_start_ms),
        when(u.cycle_end_ms),
        u.calls,
        u.entitlement,
        u.remaining,
        u.overage_calls,
        money(u.overage_cost_micros),
        money(u.fee_micros),
        u.projected_calls,
        money(u.projected_cost_micros),
        u.unprotected_calls,
        u.analyzed_calls,
        u.unanalyzed_calls,
        if u.analysis_paused {
            " — PAUSED (cap reached)"
        } else {
            ""
        },
    );
    if !u.apis.is_empty() {
        let rows: Vec<Vec<String>> = u
            .apis
            .iter()
            .map(|a| vec![a.host.clone(), a.calls.to_string()])
            .collect();
        out.push('\n');
        out.push_str(&super::output::table(&["API", "CALLS"], &rows));
    }
    out
}

pub async fn usage(svc: Authed, fmt: Format, cmd: &UsageCmd) -> Result<String, CliError> {
    let mut c = Client::new(svc);
    match cmd {
        UsageCmd::Show => {
            let u = c.get_usage(pb::GetUsageRequest {}).await?.into_inner();
            Ok(match fmt {
                Format::Json => json(&usage_json(&u)),
                Format::Table => usage_text(&u),
            })
        }
        UsageCmd::History { days, host } => {
            let now_ms = c
                .get_usage(pb::GetUsageRequest {})
                .await?
                .into_inner()
                .as_of_ms;
            let from_ms = now_ms - i64::from((*days).max(1) - 1) * 86_400_000;
            let r = c
                .get_usage_history(pb::GetUsageHistoryRequest {
                    from_ms,
                    to_ms: now_ms,
                    host: host.clone().unwrap_or_default(),
                })
                .await?
                .into_inner();
            let mut l = Listing::new(&["DATE", "CALLS", "UNPROTECTED", "UNANALYZED"]);
            for d in r.days {
                l.push(
                    vec![d.date.clone(), d.calls.to_string(), d.unprotected_calls.to_string(), d.unanalyzed_calls.to_string()],
                    j!({"date": d.date, "calls": d.calls, "unprotected_calls": d.unprotected_calls, "unanalyzed_calls": d.unanalyzed_calls}),
                );
            }
            Ok(l.render(fmt))
        }
        UsageCmd::Notifications => {
            let r = c
                .list_notifications(pb::ListNotificationsRequest {})
                .await?
                .into_inner();
            let mut l = Listing::new(&[
                "WHEN",
                "THRESHOLD",
                "CALLS",
                "ENTITLEMENT",
                "PLAN",
                "MESSAGE",
            ]);
            for n in r.notifications {
                l.push(
                    vec![when(n.created_ms), format!("{}%", n.threshold_pct), n.calls.to_string(), n.entitlement.to_string(), n.plan.clone(), n.message.clone()],
                    j!({"id": n.id, "kind": n.kind, "threshold_pct": n.threshold_pct, "cycle_start": when(n.cycle_start_ms),
                        "calls": n.calls, "entitlement": n.entitlement, "plan": n.plan, "created": when(n.created_ms), "message": n.message}),
                );
            }
            Ok(l.render(fmt))
        }
    }
}

fn plan_json(p: &pb::Plan) -> serde_json::Value {
    j!({"name": p.name, "included_calls": p.included_calls, "monthly_fee_micros": p.monthly_fee_micros,
        "overage_micros_per_call": p.overage_micros_per_call})
}

pub async fn plans(svc: Authed, fmt: Format, cmd: &PlansCmd) -> Result<String, CliError> {
    let mut c = Client::new(svc);
    match cmd {
        PlansCmd::List => list_plans(&mut c, fmt).await,
        PlansCmd::Set {
            plan,
            enforcement,
            tenant,
        } => {
            set_plan(
                &mut c,
                fmt,
                plan.as_deref(),
                enforcement.as_deref(),
                tenant.as_deref(),
            )
            .await
        }
        PlansCmd::Recommend => recommend_plan(&mut c, fmt).await,
    }
}

/// `plans list`: the catalogue, with the tenant's current plan marked.
async fn list_plans(c: &mut Client, fmt: Format) -> Result<String, CliError> {
    let current = c.get_plan(pb::GetPlanRequest {}).await?.into_inner();
    let current_name = current.plan.map(|p| p.name).unwrap_or_default();
    let r = c.list_plans(pb::ListPlansRequest {}).await?.into_inner();
    let mut l = Listing::new(&[
        "PLAN",
        "INCLUDED CALLS",
        "MONTHLY FEE",
        "OVERAGE PER CALL",
        "CURRENT",
    ]);
    for p in &r.plans {
        let mut obj = plan_json(p);
        obj["current"] = j!(p.name == current_name);
        l.push(
            vec![
                p.name.clone(),
                p.included_calls.to_string(),
                money(p.monthly_fee_micros),
                money(p.overage_micros_per_call),
                if p.name == current_name {
                    format!("yes ({})", enforcement_name(current.enforcement))
                } else {
                    String::new()
                },
            ],
            obj,
        );
    }
    Ok(l.render(fmt))
}

/// `plans set`: a new plan, a new enforcement mode, or both.
async fn set_plan(
    c: &mut Client,
    fmt: Format,
    plan: Option<&str>,
    enforcement: Option<&str>,
    tenant: Option<&str>,
) -> Result<String, CliError> {
    let enforcement = match enforcement {
        None => pb::Enforcement::Unspecified,
        Some("overage") => pb::Enforcement::Overage,
        Some("cap") => pb::Enforcement::Cap,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "enforcement must be overage or cap, found {other:?}"
            )));
        }
    };
    if plan.is_none() && enforcement == pb::Enforcement::Unspecified {
        return Err(CliError::Usage(
            "give a plan, --enforcement, or both".into(),
        ));
    }
    let r = c
        .set_plan(pb::SetPlanRequest {
            tenant: tenant.unwrap_or_default().to_owned(),
            plan: plan.unwrap_or_default().to_owned(),
            enforcement: enforcement as i32,
        })
        .await?
        .into_inner();
    let p = r.plan.unwrap_or_default();
    Ok(match fmt {
        Format::Json => json(
            &j!({"tenant": r.tenant, "plan": plan_json(&p), "enforcement": enforcement_name(r.enforcement), "since": when(r.since_ms)}),
        ),
        Format::Table => format!(
            "tenant {} is on plan {} ({}) since {}\n",
            r.tenant,
            p.name,
            enforcement_name(r.enforcement),
            when(r.since_ms)
        ),
    })
}

/// `plans recommend`: the cheapest plan for the trailing 30 days.
async fn recommend_plan(c: &mut Client, fmt: Format) -> Result<String, CliError> {
    let r = c
        .recommend_plan(pb::RecommendPlanRequest {})
        .await?
        .into_inner();
    let costs: Vec<serde_json::Value> = r
        .costs
        .iter()
        .map(|pc| j!({"plan": pc.plan.as_ref().map(|p| p.name.clone()), "cost_micros": pc.cost_micros, "overage_calls": pc.overage_calls}))
        .collect();
    Ok(match fmt {
        Format::Json => json(
            &j!({"window_start": when(r.window_start_ms), "window_end": when(r.window_end_ms),
            "calls": r.calls, "current_plan": r.current_plan, "current_cost_micros": r.current_cost_micros,
            "recommended_plan": r.recommended_plan, "recommended_cost_micros": r.recommended_cost_micros,
            "savings_micros": r.savings_micros, "projected_cycle_cost_micros": r.projected_cycle_cost_micros, "costs": costs}),
        ),
        Format::Table => {
            let rows: Vec<Vec<String>> = r
                .costs
                .iter()
                .map(|pc| {
                    let name = pc.plan.as_ref().map(|p| p.name.clone()).unwrap_or_default();
                    let mark = if name == r.recommended_plan {
                        "← recommended"
                    } else if name == r.current_plan {
                        "← current"
                    } else {
                        ""
                    };
                    vec![
                        name,
                        money(pc.cost_micros),
                        pc.overage_calls.to_string(),
                        mark.into(),
                    ]
                })
                .collect();
            format!(
                "{} calls in the trailing 30 days. Current plan {} would cost {}; {} costs {} (saves {}).\nProjected cost of this cycle on the current plan: {}\n\n{}",
                r.calls,
                r.current_plan,
                money(r.current_cost_micros),
                r.recommended_plan,
                money(r.recommended_cost_micros),
                money(r.savings_micros),
                money(r.projected_cycle_cost_micros),
                super::output::table(&["PLAN", "COST", "OVERAGE CALLS", ""], &rows)
            )
        }
    })
}
