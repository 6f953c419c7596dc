//! Usage records and the metering decision applied to every committed batch.

use super::account::Enforcement;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most APIs broken out per usage record; the rest add up under [`OTHER_APIS`].
pub const MAX_APIS_PER_RECORD: usize = 1_000;
pub const OTHER_APIS: &str = "(other)";

/// Usage of one tenant in one billing cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleUsage {
    /// Billable calls (onboarded APIs).
    pub calls: u64,
    /// Requests to APIs that are not onboarded: counted, never billed or analyzed.
    pub unprotected_calls: u64,
    /// Billable calls handed on to threat analysis.
    pub analyzed_calls: u64,
    /// Billable calls not analyzed because the tenant's cap was reached.
    pub unanalyzed_calls: u64,
    /// Billable calls per API (host).
    pub per_api: BTreeMap<String, u64>,
    /// Budget thresholds (percent of the entitlement) already notified this cycle.
    pub notified_pct: Vec<u32>,
}

/// Usage of one tenant on one UTC day (kept for the history window).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    pub calls: u64,
    pub unprotected_calls: u64,
    pub unanalyzed_calls: u64,
    pub per_api: BTreeMap<String, u64>,
}

/// A billing notification: a budget threshold crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub cycle_start_ms: i64,
    pub threshold_pct: u32,
    pub calls: u64,
    pub entitlement: u64,
    pub plan: String,
    pub created_ms: i64,
}

impl Notification {
    pub fn id(&self) -> String {
        format!("budget-{}-{}", self.cycle_start_ms, self.threshold_pct)
    }

    pub fn message(&self) -> String {
        format!(
            "{} of {} included calls used ({}% budget threshold) on plan {}",
            self.calls, self.entitlement, self.threshold_pct, self.plan
        )
    }
}

fn add_api(map: &mut BTreeMap<String, u64>, host: &str, n: u64) {
    let key = if map.contains_key(host) || map.len() < MAX_APIS_PER_RECORD {
        host
    } else {
        OTHER_APIS
    };
    let slot = map.entry(key.to_owned()).or_default();
    *slot = slot.saturating_add(n);
}

/// One endpoint summary as metering sees it.
#[derive(Debug, Clone, Copy)]
pub struct Metered<'a> {
    pub host: &'a str,
    pub requests: u64,
    /// Whether the API is onboarded (see [`super::counts_as_call`]).
    pub billable: bool,
}

/// What metering decided for a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterOutcome {
    /// Per summary: hand on to threat analysis?
    pub analyze: Vec<bool>,
    /// Thresholds crossed by this batch.
    pub crossed_pct: Vec<u32>,
    /// Whether analysis is paused after this batch (cap reached).
    pub paused_after: bool,
    /// Hosts of the batch whose APIs are not onboarded (their traffic is unprotected).
    pub unprotected_hosts: std::collections::BTreeSet<String>,
}

/// Meters one batch into the cycle and day records.
///
/// In `cap` mode analysis stops once the entitlement is used: a summary is analyzed only if
/// some entitlement remained before it (so the last analyzed summary may run past the
/// entitlement by its own size); everything after counts as unanalyzed.
pub fn meter(
    cycle: &mut CycleUsage,
    day: &mut DayUsage,
    batch: &[Metered<'_>],
    entitlement: u64,
    enforcement: Enforcement,
    thresholds_pct: &[u32],
) -> MeterOutcome {
    let mut out = MeterOutcome {
        analyze: Vec::with_capacity(batch.len()),
        ..Default::default()
    };
    for m in batch {
        if !m.billable {
            cycle.unprotected_calls = cycle.unprotected_calls.saturating_add(m.requests);
            day.unprotected_calls = day.unprotected_calls.saturating_add(m.requests);
            if !out.unprotected_hosts.contains(m.host) {
                out.unprotected_hosts.insert(m.host.to_owned());
            }
            out.analyze.push(false);
            continue;
        }
        let analyze = enforcement == Enforcement::Overage || cycle.calls < entitlement;
        cycle.calls = cycle.calls.saturating_add(m.requests);
        day.calls = day.calls.saturating_add(m.requests);
        add_api(&mut cycle.per_api, m.host, m.requests);
        add_api(&mut day.per_api, m.host, m.requests);
        if analyze {
            cycle.analyzed_calls = cycle.analyzed_calls.saturating_add(m.requests);
        } else {
            cycle.unanalyzed_calls = cycle.unanalyzed_calls.saturating_add(m.requests);
            day.unanalyzed_calls = day.unanalyzed_calls.saturating_add(m.requests);
        }
        out.analyze.push(analyze);
    }
    for pct in thresholds_pct {
        let reached = u128::from(cycle.calls) * 100 >= u128::from(entitlement) * u128::from(*pct);
        if reached && !cycle.notified_pct.contains(pct) {
            cycle.notified_pct.push(*pct);
            out.crossed_pct.push(*pct);
        }
    }
    out.paused_after = enforcement == Enforcement::Cap && cycle.calls >= entitlement;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(host: &str, requests: u64) -> Metered<'_> {
        Metered {
            host,
            requests,
            billable: true,
        }
    }

    #[test]
    fn cap_stops_analysis_at_the_entitlement_and_notifies_once() {
        let (mut c, mut d) = (CycleUsage::default(), DayUsage::default());
        let out = meter(
            &mut c,
            &mut d,
            &[m("a", 60), m("b", 30)],
            100,
            Enforcement::Cap,
            &[80, 100],
        );
        assert_eq!(out.analyze, vec![true, true]);
        assert_eq!(out.crossed_pct, vec![80]);
        assert!(!out.paused_after);
        let out = meter(
            &mut c,
            &mut d,
            &[
                m("a", 20),
                m("a", 5),
                Metered {
                    host: "x",
                    requests: 7,
                    billable: false,
                },
            ],
            100,
            Enforcement::Cap,
            &[80, 100],
        );
        assert_eq!(out.analyze, vec![true, false, false]);
        assert_eq!(out.crossed_pct, vec![100]);
        assert!(out.paused_after);
        assert_eq!(
            (
                c.calls,
                c.analyzed_calls,
                c.unanalyzed_calls,
                c.unprotected_calls
            ),
            (115, 110, 5, 7)
        );
        assert_eq!(d.unanalyzed_calls, 5);
        assert_eq!(c.per_api.get("a"), Some(&85));
        let again = meter(
            &mut c,
            &mut d,
            &[m("a", 1)],
            100,
            Enforcement::Cap,
            &[80, 100],
        );
        assert!(again.crossed_pct.is_empty());
    }

    #[test]
    fn per_api_breakdown_is_bounded() {
        let (mut c, mut d) = (CycleUsage::default(), DayUsage::default());
        let hosts: Vec<String> = (0..MAX_APIS_PER_RECORD + 5)
            .map(|i| format!("h{i}"))
            .collect();
        let batch: Vec<Metered<'_>> = hosts.iter().map(|h| m(h, 1)).collect();
        meter(&mut c, &mut d, &batch, 0, Enforcement::Overage, &[]);
        assert_eq!(c.per_api.len(), MAX_APIS_PER_RECORD + 1);
        assert_eq!(c.per_api.get(OTHER_APIS), Some(&5));
    }

    proptest! {
        #[test]
        fn every_request_is_counted_exactly_once(
            batches in proptest::collection::vec(proptest::collection::vec((0u64..1000, any::<bool>()), 0..20), 0..20),
            entitlement in 0u64..20_000,
            cap in any::<bool>(),
        ) {
            let enforcement = if cap { Enforcement::Cap } else { Enforcement::Overage };
            let (mut c, mut d) = (CycleUsage::default(), DayUsage::default());
            let (mut billable, mut unprotected, mut handed_on) = (0u64, 0u64, 0u64);
            for b in &batches {
                let batch: Vec<Metered<'_>> = b.iter().map(|(n, bill)| Metered { host: "h", requests: *n, billable: *bill }).collect();
                let out = meter(&mut c, &mut d, &batch, entitlement, enforcement, &[50, 100]);
                for (mm, a) in batch.iter().zip(&out.analyze) {
                    if mm.billable { billable += mm.requests } else { unprotected += mm.requests }
                    if *a { handed_on += mm.requests }
                }
            }
            prop_assert_eq!(c.calls, billable);
            prop_assert_eq!(c.unprotected_calls, unprotected);
            prop_assert_eq!(c.analyzed_calls, handed_on);
            prop_assert_eq!(c.analyzed_calls + c.unanalyzed_calls, c.calls);
            if !cap { prop_assert_eq!(c.unanalyzed_calls, 0); }
            prop_assert!(c.notified_pct.len() <= 2);
        }
    }
}
