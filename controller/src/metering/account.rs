//! A tenant's billing account: its plan history and enforcement mode.

use super::cycle::Cycle;
use super::plans::{Catalogue, Plan, Prorated, Segment, prorate};
use serde::{Deserialize, Serialize};

/// Most plan changes remembered per tenant (older ones are folded into the first entry).
pub const MAX_PLAN_CHANGES: usize = 256;

/// What happens once the entitlement is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// Keep analyzing and bill the overage.
    #[default]
    Overage,
    /// Pause threat analysis until the next cycle (calls are still counted, as unanalyzed).
    Cap,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Overage => "overage",
            Enforcement::Cap => "cap",
        }
    }
}

/// A plan taking effect at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChange {
    pub at_ms: i64,
    pub plan: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingAccount {
    /// Plan changes, oldest first; the first entry holds since the beginning of time.
    pub changes: Vec<PlanChange>,
    pub enforcement: Enforcement,
}

impl BillingAccount {
    pub fn new(plan: &str, enforcement: Enforcement) -> Self {
        Self {
            changes: vec![PlanChange {
                at_ms: i64::MIN,
                plan: plan.into(),
            }],
            enforcement,
        }
    }

    /// The plan in effect now (the newest change).
    pub fn current_plan(&self) -> &str {
        self.changes.last().map_or("", |c| c.plan.as_str())
    }

    /// Records a plan change effective at `at_ms`.
    pub fn change_plan(&mut self, plan: &str, at_ms: i64) {
        debug_assert!(self.changes.last().is_none_or(|c| c.at_ms <= at_ms));
        self.changes.push(PlanChange {
            at_ms,
            plan: plan.into(),
        });
        if self.changes.len() > MAX_PLAN_CHANGES {
            // Fold the oldest change into "since forever"; old cycles are already history.
            self.changes.remove(0);
            if let Some(first) = self.changes.first_mut() {
                first.at_ms = i64::MIN;
            }
        }
    }

    /// The time each plan is in effect within `cycle`; the current plan runs to its end.
    /// Plans missing from the catalogue fall back to `fallback`.
    pub fn segments<'a>(
        &self,
        cycle: Cycle,
        catalogue: &'a Catalogue,
        fallback: &'a Plan,
    ) -> Vec<Segment<'a>> {
        let mut out: Vec<Segment<'a>> = Vec::new();
        for (i, change) in self.changes.iter().enumerate() {
            let from = change.at_ms.max(cycle.start_ms);
            let to = self
                .changes
                .get(i + 1)
                .map_or(cycle.end_ms, |n| n.at_ms.min(cycle.end_ms));
            if to > from {
                let plan = catalogue.get(&change.plan).unwrap_or(fallback);
                out.push(Segment {
                    plan,
                    ms: to - from,
                });
            }
        }
        out
    }

    /// Entitlement and fee of `cycle`, prorated across plan changes.
    pub fn prorated(&self, cycle: Cycle, catalogue: &Catalogue, fallback: &Plan) -> Prorated {
        prorate(&self.segments(cycle, catalogue, fallback), cycle.len_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_shared::time::parse_rfc3339_ms;

    #[test]
    fn upgrade_mid_cycle_raises_the_entitlement_from_that_moment() {
        let cat = Catalogue::defaults();
        let p1 = cat.get("P1").unwrap().clone();
        let mut acct = BillingAccount::new("P1", Enforcement::Cap);
        let april = Cycle::containing(parse_rfc3339_ms("2026-04-10T00:00:00Z").unwrap());
        assert_eq!(acct.prorated(april, &cat, &p1).entitlement, 1_000_000);
        // April has 30 days: P2 from the 16th 00:00 is 15 of 30 days.
        acct.change_plan("P2", parse_rfc3339_ms("2026-04-16T00:00:00Z").unwrap());
        assert_eq!(acct.prorated(april, &cat, &p1).entitlement, 3_000_000);
        assert_eq!(acct.prorated(april, &cat, &p1).fee_micros, 450_000_000);
        // May is wholly P2.
        assert_eq!(
            acct.prorated(
                Cycle {
                    start_ms: april.end_ms,
                    end_ms: april.end_ms + 31 * 86_400_000
                },
                &cat,
                &p1
            )
            .entitlement,
            5_000_000
        );
        assert_eq!(acct.current_plan(), "P2");
    }

    #[test]
    fn unknown_plans_fall_back_and_history_is_bounded() {
        let cat = Catalogue::defaults();
        let p1 = cat.get("P1").unwrap().clone();
        let mut acct = BillingAccount::new("GONE", Enforcement::Overage);
        let c = Cycle::containing(0);
        assert_eq!(acct.prorated(c, &cat, &p1).entitlement, 1_000_000);
        for i in 0..(MAX_PLAN_CHANGES as i64 + 10) {
            acct.change_plan("P3", i);
        }
        assert_eq!(acct.changes.len(), MAX_PLAN_CHANGES);
        assert_eq!(acct.changes[0].at_ms, i64::MIN);
    }
}
