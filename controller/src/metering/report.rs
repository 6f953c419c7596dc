//! Usage reports and plan recommendations, computed from stored records.

use super::account::{BillingAccount, Enforcement};
use super::cycle::{Cycle, DAY_MS};
use super::plans::{Plan, mul};
use super::policy::MeterPolicy;
use super::usage::CycleUsage;

/// The shortest elapsed time a projection extrapolates from (avoids wild early projections).
pub const MIN_PROJECTION_MS: i64 = 3_600_000;

/// The current cycle of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    pub plan: Plan,
    pub enforcement: Enforcement,
    pub cycle: Cycle,
    pub as_of_ms: i64,
    pub usage: CycleUsage,
    pub entitlement: u64,
    pub fee_micros: u64,
    pub remaining: u64,
    pub overage_calls: u64,
    pub overage_cost_micros: u64,
    pub projected_calls: u64,
    pub projected_cost_micros: u64,
    pub analysis_paused: bool,
}

/// Calls at the end of the cycle if the rate so far continues.
pub fn project(calls: u64, cycle: Cycle, now_ms: i64) -> u64 {
    let elapsed = (now_ms - cycle.start_ms).clamp(MIN_PROJECTION_MS, cycle.len_ms());
    let p = u128::from(calls) * u128::try_from(cycle.len_ms()).unwrap_or(1)
        / u128::try_from(elapsed).unwrap_or(1);
    u64::try_from(p).unwrap_or(u64::MAX).max(calls)
}

pub fn usage_report(
    account: &BillingAccount,
    usage: CycleUsage,
    now_ms: i64,
    policy: &MeterPolicy,
) -> UsageReport {
    let cycle = Cycle::containing(now_ms);
    let fallback = policy.fallback_plan();
    let plan = policy
        .catalogue
        .get(account.current_plan())
        .unwrap_or(fallback)
        .clone();
    let prorated = account.prorated(cycle, &policy.catalogue, fallback);
    let overage_calls = usage.calls.saturating_sub(prorated.entitlement);
    let projected_calls = project(usage.calls, cycle, now_ms);
    let projected_over = projected_calls.saturating_sub(prorated.entitlement);
    UsageReport {
        enforcement: account.enforcement,
        cycle,
        as_of_ms: now_ms,
        entitlement: prorated.entitlement,
        fee_micros: prorated.fee_micros,
        remaining: prorated.entitlement.saturating_sub(usage.calls),
        overage_calls,
        overage_cost_micros: mul(overage_calls, plan.overage_micros_per_call),
        projected_calls,
        projected_cost_micros: prorated
            .fee_micros
            .saturating_add(mul(projected_over, plan.overage_micros_per_call)),
        analysis_paused: account.enforcement == Enforcement::Cap
            && usage.calls >= prorated.entitlement,
        usage,
        plan,
    }
}

/// Days the recommendation looks back over.
pub const RECOMMENDATION_DAYS: i64 = 30;

/// The trailing window of a recommendation: `[from_day, to_day]`.
pub fn recommendation_window(now_ms: i64) -> (i64, i64) {
    let today = now_ms.div_euclid(DAY_MS);
    (today - RECOMMENDATION_DAYS + 1, today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_shared::time::parse_rfc3339_ms;

    #[test]
    fn report_for_a_cycle_in_overage() {
        let policy = MeterPolicy::default();
        let acct = policy.default_account();
        // April 2026 (30 days), 10 days in: 1.2M calls → 200k over at $0.0002 = $40.
        let now = parse_rfc3339_ms("2026-04-11T00:00:00Z").unwrap();
        let usage = CycleUsage {
            calls: 1_200_000,
            ..Default::default()
        };
        let r = usage_report(&acct, usage, now, &policy);
        assert_eq!(
            (r.entitlement, r.remaining, r.overage_calls),
            (1_000_000, 0, 200_000)
        );
        assert_eq!(r.overage_cost_micros, 40_000_000);
        assert_eq!(r.projected_calls, 3_600_000);
        assert_eq!(r.projected_cost_micros, 200_000_000 + 2_600_000 * 200);
        assert!(!r.analysis_paused);
    }

    #[test]
    fn projection_is_bounded() {
        let c = Cycle::containing(0);
        assert_eq!(
            project(10, c, c.start_ms),
            10 * c.len_ms() as u64 / MIN_PROJECTION_MS as u64
        );
        assert_eq!(project(10, c, c.end_ms + 5), 10);
        assert_eq!(project(0, c, c.start_ms + 5), 0);
    }
}
