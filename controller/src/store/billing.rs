//! Billing records in the store: accounts, cycle and day usage, notifications, retention.

use super::db::Db;
use super::records::{decode, encode};
use super::{Result, Tree, Txn, keys};
use crate::metering::cycle::{Cycle, day_of};
use crate::metering::usage::{CycleUsage, DayUsage, MeterOutcome, Metered, Notification, meter};
use crate::metering::{BillingAccount, MeterPolicy, counts_as_call};
use picket_shared::{BatchSummary, TenantId};

fn account_in(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    policy: &MeterPolicy,
) -> Result<BillingAccount> {
    match txn.get(Tree::Billing, tenant.as_str().as_bytes())? {
        Some(raw) => decode(Tree::Billing, &raw),
        None => Ok(policy.default_account()),
    }
}

/// Meters a batch inside the transaction that commits it, so usage moves exactly with the
/// dedupe watermark.
///
/// `batch` is the batch as stored (endpoints beyond the inventory caps folded into overflow
/// endpoints) and `sent` the batch as the sensor sent it (same summaries, same order). Each
/// summary is billed and analyzed by the state of the API the sensor named: a summary folded
/// into the overflow host (`overflow.picket`) by the state its own host would get from
/// traffic (it has no API record; see [`super::apis::state_or_default_in_txn`]), and the
/// overflow host's own record, if an operator created one, decides nothing for it. Usage per
/// API names the stored host, so a flood of new hosts adds one usage key, not one per host.
pub(super) fn meter_in_txn(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    batch: &BatchSummary,
    sent: &BatchSummary,
    now_ms: i64,
    policy: &MeterPolicy,
) -> Result<MeterOutcome> {
    let cycle = Cycle::containing(now_ms);
    let account = account_in(txn, tenant, policy)?;
    let prorated = account.prorated(cycle, &policy.catalogue, policy.fallback_plan());
    let cycle_key = keys::cycle_usage(tenant, cycle.start_ms);
    let day_key = keys::day_usage(tenant, day_of(now_ms));
    let mut cycle_usage: CycleUsage = match txn.get(Tree::CycleUsage, &cycle_key)? {
        Some(raw) => decode(Tree::CycleUsage, &raw)?,
        None => CycleUsage::default(),
    };
    let mut day_usage: DayUsage = match txn.get(Tree::DayUsage, &day_key)? {
        Some(raw) => decode(Tree::DayUsage, &raw)?,
        None => DayUsage::default(),
    };
    // Summary i was folded into another host when its stored host differs from the sent one.
    let pairs: Vec<(&str, &str)> = batch
        .endpoints
        .iter()
        .zip(&sent.endpoints)
        .map(|((stored, _), (sent, _))| (stored.host.as_str(), sent.host.as_str()))
        .collect();
    let (states, _) = super::apis::states_in_txn(
        txn,
        tenant,
        pairs
            .iter()
            .filter(|(stored, sent)| stored == sent)
            .map(|(stored, _)| *stored),
        now_ms,
    )?;
    let mut auto = None;
    let mut billable = Vec::with_capacity(pairs.len());
    for (stored, sent) in &pairs {
        let state = if stored == sent {
            states.get(stored).copied()
        } else {
            Some(super::apis::state_or_default_in_txn(
                txn, tenant, sent, &mut auto,
            )?)
        };
        billable.push(state.is_some_and(counts_as_call));
    }
    let metered: Vec<Metered<'_>> = batch
        .endpoints
        .iter()
        .zip(&billable)
        .map(|((k, s), billable)| Metered {
            host: &k.host,
            requests: s.requests,
            billable: *billable,
        })
        .collect();
    let mut out = meter(
        &mut cycle_usage,
        &mut day_usage,
        &metered,
        prorated.entitlement,
        account.enforcement,
        &policy.thresholds_pct,
    );
    for pct in &out.crossed_pct {
        let n = Notification {
            cycle_start_ms: cycle.start_ms,
            threshold_pct: *pct,
            calls: cycle_usage.calls,
            entitlement: prorated.entitlement,
            plan: account.current_plan().to_owned(),
            created_ms: now_ms,
        };
        txn.put(
            Tree::Notifications,
            &keys::notification(tenant, cycle.start_ms, *pct),
            &encode(&n),
        )?;
    }
    // The hosts the notable-event filter checks are the ones the sensor named.
    out.unprotected_hosts = pairs
        .iter()
        .zip(&billable)
        .filter(|(_, billable)| !**billable)
        .map(|((_, sent), _)| (*sent).to_owned())
        .collect();
    txn.put(Tree::CycleUsage, &cycle_key, &encode(&cycle_usage))?;
    txn.put(Tree::DayUsage, &day_key, &encode(&day_usage))?;
    Ok(out)
}

impl Db {
    /// The tenant's billing account (the policy's default when it never chose a plan).
    pub fn account(&self, tenant: &TenantId, policy: &MeterPolicy) -> Result<BillingAccount> {
        match self.kv.get(Tree::Billing, tenant.as_str().as_bytes())? {
            Some(raw) => decode(Tree::Billing, &raw),
            None => Ok(policy.default_account()),
        }
    }

    /// Changes the account atomically (read, modify, write) and returns the new value.
    pub fn update_account(
        &self,
        tenant: &TenantId,
        policy: &MeterPolicy,
        change: &dyn Fn(&mut BillingAccount),
    ) -> Result<BillingAccount> {
        let result = std::cell::RefCell::new(None);
        self.kv.transact(&|txn| {
            let mut acct = account_in(txn, tenant, policy)?;
            change(&mut acct);
            txn.put(Tree::Billing, tenant.as_str().as_bytes(), &encode(&acct))?;
            *result.borrow_mut() = Some(acct);
            Ok(())
        })?;
        Ok(result
            .into_inner()
            .unwrap_or_else(|| policy.default_account()))
    }

    /// Usage of the cycle starting at `cycle_start_ms` (zero when none was recorded).
    pub fn cycle_usage(&self, tenant: &TenantId, cycle_start_ms: i64) -> Result<CycleUsage> {
        match self
            .kv
            .get(Tree::CycleUsage, &keys::cycle_usage(tenant, cycle_start_ms))?
        {
            Some(raw) => decode(Tree::CycleUsage, &raw),
            None => Ok(CycleUsage::default()),
        }
    }

    /// Recorded days in `[from_day, to_day]`, oldest first.
    pub fn day_usage(
        &self,
        tenant: &TenantId,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<(i64, DayUsage)>> {
        let prefix = keys::tenant_prefix(tenant);
        let start = keys::day_usage(tenant, from_day.saturating_sub(1));
        let rows = self
            .kv
            .scan(Tree::DayUsage, &prefix, Some(&start), 10_000)?;
        let mut out = Vec::new();
        for (k, v) in rows {
            let Some(day) = keys::read_sortable_i64(&k[prefix.len()..]) else {
                continue;
            };
            if day > to_day {
                break;
            }
            if day >= from_day {
                out.push((day, decode(Tree::DayUsage, &v)?));
            }
        }
        Ok(out)
    }

    /// Billing notifications of a tenant, oldest first.
    pub fn notifications(&self, tenant: &TenantId) -> Result<Vec<Notification>> {
        self.scan_all(Tree::Notifications, &keys::tenant_prefix(tenant))
    }

    /// Deletes usage and notifications older than the retention window: cycles starting before
    /// `keep_cycle_from_ms`, days before `keep_day_from`. Returns how many records went.
    pub fn prune_usage(
        &self,
        tenant: &TenantId,
        keep_cycle_from_ms: i64,
        keep_day_from: i64,
    ) -> Result<usize> {
        let mut removed = 0;
        for (tree, limit) in [
            (Tree::CycleUsage, keep_cycle_from_ms),
            (Tree::Notifications, keep_cycle_from_ms),
            (Tree::DayUsage, keep_day_from),
        ] {
            removed += self.delete_before(tree, tenant, limit)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::Enforcement;
    use crate::metering::cycle::DAY_MS;
    use crate::store::Applied;
    use crate::store::memory::MemoryStore;
    use picket_shared::time::parse_rfc3339_ms;
    use picket_shared::{EndpointKey, EndpointSummary, SensorId};
    use std::sync::Arc;

    fn batch(seq: u64, requests: u64) -> BatchSummary {
        BatchSummary {
            stream_epoch: 1,
            seq,
            endpoints: vec![(
                EndpointKey {
                    host: "api".into(),
                    method: "GET".into(),
                    template: "/".into(),
                },
                EndpointSummary {
                    requests,
                    ..Default::default()
                },
            )],
            ..Default::default()
        }
    }

    #[test]
    fn month_rollover_resets_the_cycle_and_keeps_history() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("t").unwrap();
        let s = SensorId::new("s").unwrap();
        let policy = MeterPolicy::default();
        let leap = parse_rfc3339_ms("2028-02-29T23:59:59Z").unwrap();
        db.apply_batch(&t, &s, &batch(1, 700), leap, &policy)
            .unwrap();
        db.apply_batch(&t, &s, &batch(2, 300), leap + 2_000, &policy)
            .unwrap();
        let feb = Cycle::containing(leap);
        let mar = Cycle::containing(leap + 2_000);
        assert_ne!(feb, mar);
        assert_eq!(db.cycle_usage(&t, feb.start_ms).unwrap().calls, 700);
        assert_eq!(db.cycle_usage(&t, mar.start_ms).unwrap().calls, 300);
        let days = db
            .day_usage(&t, day_of(leap) - 5, day_of(leap) + 5)
            .unwrap();
        assert_eq!(
            days.iter().map(|(_, d)| d.calls).collect::<Vec<_>>(),
            vec![700, 300]
        );
        // Thirteen months later February is pruned, March kept.
        let later = Cycle::containing(mar.start_ms + 400 * DAY_MS);
        let keep_from = later.back(policy.history_cycles - 1);
        let removed = db
            .prune_usage(&t, keep_from.start_ms, day_of(keep_from.start_ms))
            .unwrap();
        assert!(removed >= 2, "removed {removed}");
        assert_eq!(db.cycle_usage(&t, feb.start_ms).unwrap().calls, 0);
    }

    #[test]
    fn cap_mode_pauses_and_notifies_once_per_threshold() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("t").unwrap();
        let s = SensorId::new("s").unwrap();
        let policy = MeterPolicy::default();
        db.update_account(&t, &policy, &|a| a.enforcement = Enforcement::Cap)
            .unwrap();
        let now = parse_rfc3339_ms("2026-05-10T00:00:00Z").unwrap();
        let applied = db
            .apply_batch(&t, &s, &batch(1, 900_000), now, &policy)
            .unwrap();
        let Applied::Committed { metering, .. } = applied else {
            panic!("not committed")
        };
        assert_eq!(
            (
                metering.analyze.clone(),
                metering.crossed_pct.clone(),
                metering.paused_after
            ),
            (vec![true], vec![80], false)
        );
        let Applied::Committed { metering, .. } = db
            .apply_batch(&t, &s, &batch(2, 200_000), now, &policy)
            .unwrap()
        else {
            panic!()
        };
        assert!(metering.paused_after);
        let Applied::Committed { metering, .. } =
            db.apply_batch(&t, &s, &batch(3, 5), now, &policy).unwrap()
        else {
            panic!()
        };
        assert_eq!(metering.analyze, vec![false]);
        // A replay changes nothing, usage included.
        assert_eq!(
            db.apply_batch(&t, &s, &batch(3, 5), now, &policy).unwrap(),
            Applied::Duplicate
        );
        let c = db.cycle_usage(&t, Cycle::containing(now).start_ms).unwrap();
        assert_eq!(
            (c.calls, c.analyzed_calls, c.unanalyzed_calls),
            (1_100_005, 1_100_000, 5)
        );
        let notes = db.notifications(&t).unwrap();
        assert_eq!(
            notes.iter().map(|n| n.threshold_pct).collect::<Vec<_>>(),
            vec![80, 100]
        );
    }

    #[test]
    fn only_onboarded_apis_are_billed_and_analyzed() {
        use crate::metering::ApiState;
        use crate::store::apis::ApiSelector;
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("t").unwrap();
        let s = SensorId::new("s").unwrap();
        let policy = MeterPolicy::default();
        let now = parse_rfc3339_ms("2026-05-10T00:00:00Z").unwrap();
        db.set_auto_onboard(&t, false).unwrap();
        let analyzed = |applied: Applied| match applied {
            Applied::Committed { metering, .. } => metering.analyze,
            Applied::Duplicate | Applied::Retired => panic!("not committed"),
        };
        // First sight with auto-onboarding off: discovered, unprotected, nothing to analyze.
        let before = db.analysis_appended().unwrap();
        assert_eq!(
            analyzed(db.apply_batch(&t, &s, &batch(1, 40), now, &policy).unwrap()),
            [false]
        );
        assert_eq!(
            db.analysis_appended().unwrap(),
            before,
            "no analysis-log entry"
        );
        assert_eq!(
            db.api_record(&t, "api").unwrap().unwrap().state,
            ApiState::Discovered
        );
        // Onboarded: billed and analyzed from the next batch on.
        let hosts = ApiSelector::Hosts(vec!["api".into()]);
        db.set_api_state(&t, &hosts, ApiState::Onboarded, "op", now)
            .unwrap();
        assert_eq!(
            analyzed(db.apply_batch(&t, &s, &batch(2, 7), now, &policy).unwrap()),
            [true]
        );
        // Offboarded again: unprotected again; a replay of batch 2 counts nothing.
        db.set_api_state(&t, &hosts, ApiState::Discovered, "op", now)
            .unwrap();
        assert_eq!(
            db.apply_batch(&t, &s, &batch(2, 7), now, &policy).unwrap(),
            Applied::Duplicate
        );
        assert_eq!(
            analyzed(db.apply_batch(&t, &s, &batch(3, 5), now, &policy).unwrap()),
            [false]
        );
        let c = db.cycle_usage(&t, Cycle::containing(now).start_ms).unwrap();
        assert_eq!((c.calls, c.unprotected_calls, c.analyzed_calls), (7, 45, 7));
        let d = db.day_usage(&t, day_of(now), day_of(now)).unwrap();
        assert_eq!((d[0].1.calls, d[0].1.unprotected_calls), (7, 45));
    }
}
