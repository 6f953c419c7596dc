//! The plan catalogue and the money arithmetic.

use serde::{Deserialize, Serialize};

/// A plan: calls included per cycle, the monthly fee and the price of each call beyond.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: String,
    pub included_calls: u64,
    /// Monthly fee in micro-dollars.
    pub monthly_fee_micros: u64,
    /// Price of one call above the entitlement, in micro-dollars.
    pub overage_micros_per_call: u64,
}

impl Plan {
    fn new(
        name: &str,
        included_calls: u64,
        fee_dollars: u64,
        overage_micros_per_call: u64,
    ) -> Plan {
        Plan {
            name: name.into(),
            included_calls,
            monthly_fee_micros: fee_dollars * 1_000_000,
            overage_micros_per_call,
        }
    }

    /// Fee plus overage for `calls` in a whole cycle on this plan.
    pub fn cost_micros(&self, calls: u64) -> u64 {
        let over = calls.saturating_sub(self.included_calls);
        self.monthly_fee_micros
            .saturating_add(mul(over, self.overage_micros_per_call))
    }
}

/// `a × b`, saturating at `u64::MAX`.
pub fn mul(a: u64, b: u64) -> u64 {
    u64::try_from(u128::from(a) * u128::from(b)).unwrap_or(u64::MAX)
}

/// The plans offered, in catalogue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    plans: Vec<Plan>,
}

/// A catalogue that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogueError {
    #[error("the plan catalogue is empty")]
    Empty,
    #[error("plan name {0:?} appears twice")]
    Duplicate(String),
    #[error("plan names must be 1 to 32 characters of letters, digits, '-' or '_', found {0:?}")]
    BadName(String),
}

impl Catalogue {
    pub fn new(plans: Vec<Plan>) -> Result<Catalogue, CatalogueError> {
        if plans.is_empty() {
            return Err(CatalogueError::Empty);
        }
        for (i, p) in plans.iter().enumerate() {
            let ok = !p.name.is_empty()
                && p.name.len() <= 32
                && p.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(CatalogueError::BadName(p.name.clone()));
            }
            if plans[..i].iter().any(|q| q.name == p.name) {
                return Err(CatalogueError::Duplicate(p.name.clone()));
            }
        }
        Ok(Catalogue { plans })
    }

    /// Defender for APIs' public plan figures.
    pub fn defaults() -> Catalogue {
        Catalogue {
            plans: vec![
                Plan::new("P1", 1_000_000, 200, 200),
                Plan::new("P2", 5_000_000, 700, 140),
                Plan::new("P3", 50_000_000, 5_000, 100),
                Plan::new("P4", 100_000_000, 7_000, 70),
                Plan::new("P5", 1_000_000_000, 50_000, 50),
            ],
        }
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn get(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.name == name)
    }

    /// Cost of `calls` under every plan, and the index of the cheapest (the first on ties).
    pub fn recommend(&self, calls: u64) -> (Vec<u64>, usize) {
        let costs: Vec<u64> = self.plans.iter().map(|p| p.cost_micros(calls)).collect();
        let mut best = 0;
        for (i, c) in costs.iter().enumerate() {
            if *c < costs[best] {
                best = i;
            }
        }
        (costs, best)
    }
}

/// Time a plan was (or will be) in effect within a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    pub plan: &'a Plan,
    pub ms: i64,
}

/// Entitlement and fee of a cycle after proration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prorated {
    pub entitlement: u64,
    pub fee_micros: u64,
}

/// Prorates included calls and fees by the time each plan is in effect (floor of the exact
/// rational sum, so one plan for the whole cycle gives exactly its figures).
pub fn prorate(segments: &[Segment<'_>], cycle_ms: i64) -> Prorated {
    debug_assert!(cycle_ms > 0);
    debug_assert!(segments.iter().map(|s| s.ms).sum::<i64>() <= cycle_ms);
    let denom = u128::try_from(cycle_ms.max(1)).unwrap_or(1);
    let (mut calls, mut fee) = (0u128, 0u128);
    for s in segments {
        let t = u128::try_from(s.ms.max(0)).unwrap_or(0);
        calls += u128::from(s.plan.included_calls) * t;
        fee += u128::from(s.plan.monthly_fee_micros) * t;
    }
    Prorated {
        entitlement: u64::try_from(calls / denom).unwrap_or(u64::MAX),
        fee_micros: u64::try_from(fee / denom).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plan(included: u64, fee: u64, rate: u64) -> Plan {
        Plan {
            name: "x".into(),
            included_calls: included,
            monthly_fee_micros: fee,
            overage_micros_per_call: rate,
        }
    }

    #[test]
    fn spec_figures() {
        let c = Catalogue::defaults();
        let p1 = c.get("P1").unwrap();
        assert_eq!(p1.cost_micros(1_000_000), 200_000_000);
        // 500,000 calls over at $0.0002 = $100.
        assert_eq!(p1.cost_micros(1_500_000), 300_000_000);
        // 3M calls: P1 $200 + 2M × $0.0002 = $600 beats P2's $700; at 4M P1 is $800.
        let (costs, best) = c.recommend(3_000_000);
        assert_eq!(
            (costs[0], costs[1], c.plans()[best].name.as_str()),
            (600_000_000, 700_000_000, "P1")
        );
        let (costs, best) = c.recommend(4_000_000);
        assert_eq!(
            (costs[0], c.plans()[best].name.as_str()),
            (800_000_000, "P2")
        );
        assert_eq!(c.plans()[c.recommend(0).1].name, "P1");
    }

    #[test]
    fn catalogue_validation() {
        assert_eq!(Catalogue::new(vec![]), Err(CatalogueError::Empty));
        let mut a = plan(1, 1, 1);
        a.name = "A".into();
        assert!(matches!(
            Catalogue::new(vec![a.clone(), a.clone()]),
            Err(CatalogueError::Duplicate(_))
        ));
        a.name = "bad name".into();
        assert!(matches!(
            Catalogue::new(vec![a]),
            Err(CatalogueError::BadName(_))
        ));
    }

    #[test]
    fn mid_cycle_upgrade_prorates() {
        let p1 = plan(1_000_000, 200_000_000, 200);
        let p2 = plan(5_000_000, 700_000_000, 140);
        let half = 15 * 86_400_000;
        let p = prorate(
            &[
                Segment {
                    plan: &p1,
                    ms: half,
                },
                Segment {
                    plan: &p2,
                    ms: half,
                },
            ],
            2 * half,
        );
        assert_eq!(
            p,
            Prorated {
                entitlement: 3_000_000,
                fee_micros: 450_000_000
            }
        );
    }

    proptest! {
        #[test]
        fn overage_is_exact(included in 0u64..10_000_000_000, fee in 0u64..1_000_000_000_000, rate in 0u64..10_000, calls in 0u64..100_000_000_000) {
            let p = plan(included, fee, rate);
            let want = u128::from(fee) + u128::from(calls.saturating_sub(included)) * u128::from(rate);
            prop_assert_eq!(u128::from(p.cost_micros(calls)), want);
        }

        #[test]
        fn one_plan_all_cycle_is_unprorated(included in 0u64..u64::MAX / 4, fee in 0u64..u64::MAX / 4, days in 28i64..=31) {
            let p = plan(included, fee, 1);
            let ms = days * 86_400_000;
            prop_assert_eq!(prorate(&[Segment { plan: &p, ms }], ms), Prorated { entitlement: included, fee_micros: fee });
        }

        #[test]
        fn proration_lies_between_the_plans(a in 0u64..1_000_000_000_000, b in 0u64..1_000_000_000_000, split in 0i64..=2_678_400_000) {
            let (pa, pb) = (plan(a, a, 1), plan(b, b, 1));
            let cycle = 2_678_400_000;
            let p = prorate(&[Segment { plan: &pa, ms: split }, Segment { plan: &pb, ms: cycle - split }], cycle);
            prop_assert!(p.entitlement >= a.min(b) && p.entitlement <= a.max(b));
            prop_assert!(p.fee_micros >= a.min(b) && p.fee_micros <= a.max(b));
        }

        #[test]
        fn recommendation_is_the_true_minimum(
            plans in proptest::collection::vec((0u64..2_000_000_000, 0u64..100_000_000_000, 0u64..1_000), 1..8),
            calls in 0u64..5_000_000_000,
        ) {
            let plans: Vec<Plan> = plans.into_iter().enumerate().map(|(i, (inc, fee, rate))| Plan {
                name: format!("p{i}"), included_calls: inc, monthly_fee_micros: fee, overage_micros_per_call: rate,
            }).collect();
            let c = Catalogue::new(plans.clone()).unwrap();
            let (costs, best) = c.recommend(calls);
            let brute = plans.iter().map(|p| u128::from(p.monthly_fee_micros) + u128::from(calls.saturating_sub(p.included_calls)) * u128::from(p.overage_micros_per_call)).min().unwrap();
            prop_assert_eq!(u128::from(costs[best]), brute);
            prop_assert!(costs.iter().all(|c| *c >= costs[best]));
        }
    }
}
