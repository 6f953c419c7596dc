//! APIs' onboarding records (`apis` tree, `tenant 0 host`) and the tenant's auto-onboarding
//! setting (`meta tenant 0 apis.auto_onboard`).
//!
//! The first batch that shows a host creates its record inside the batch transaction:
//! onboarded when the tenant auto-onboards (the default), discovered otherwise. Metering reads
//! the state in that same transaction, so a batch is billed by the state it committed with.

use super::db::Db;
use super::records::{decode, encode};
use super::{Result, Tree, Txn, keys};
use crate::metering::ApiState;
use picket_shared::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most API records one `--all` onboarding change touches (the rest keep their state).
pub const MAX_APIS_PER_CHANGE: usize = 10_000;

/// An API's onboarding record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRecord {
    pub host: String,
    pub state: ApiState,
    /// When the controller first committed traffic of (or an operator named) the API.
    pub first_seen_ms: i64,
    /// When the state last changed (creation included).
    pub changed_ms: i64,
    /// Who changed it last: a token id, or `auto` for the creation from traffic.
    pub changed_by: String,
}

/// Which APIs an onboarding change addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiSelector {
    /// These hosts (records are created for hosts never seen, so an API can be onboarded
    /// before its first request).
    Hosts(Vec<String>),
    /// Every API the tenant has a record of.
    All,
}

fn auto_onboard_in(txn: &mut dyn Txn, tenant: &TenantId) -> Result<bool> {
    Ok(txn
        .get(Tree::Meta, &keys::meta_auto_onboard(tenant))?
        .is_none_or(|v| v.first() != Some(&0)))
}

/// The onboarding state `host` has, or would get from traffic, without creating its record:
/// what a summary folded into the overflow host is metered and analyzed by (such a host has no
/// record: `bounds::Fold::place` never folds a host that has one). `auto` caches the tenant's
/// auto-onboarding setting across calls.
pub(super) fn state_or_default_in_txn(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    host: &str,
    auto: &mut Option<bool>,
) -> Result<ApiState> {
    if let Some(raw) = txn.get(Tree::Apis, &keys::api(tenant, host))? {
        return Ok(decode::<ApiRecord>(Tree::Apis, &raw)?.state);
    }
    let on = match *auto {
        Some(on) => on,
        None => *auto.insert(auto_onboard_in(txn, tenant)?),
    };
    Ok(if on {
        ApiState::Onboarded
    } else {
        ApiState::Discovered
    })
}

/// The onboarding state of each host of a batch, creating the records of hosts seen for the
/// first time. Returns the states and how many records were created.
pub(super) fn states_in_txn<'a>(
    txn: &mut dyn Txn,
    tenant: &TenantId,
    hosts: impl Iterator<Item = &'a str>,
    now_ms: i64,
) -> Result<(BTreeMap<&'a str, ApiState>, usize)> {
    let mut states = BTreeMap::new();
    let mut auto: Option<bool> = None;
    let mut created = 0;
    for host in hosts {
        if states.contains_key(host) {
            continue;
        }
        let key = keys::api(tenant, host);
        let state = match txn.get(Tree::Apis, &key)? {
            Some(raw) => decode::<ApiRecord>(Tree::Apis, &raw)?.state,
            None => {
                let on = match auto {
                    Some(on) => on,
                    None => *auto.insert(auto_onboard_in(txn, tenant)?),
                };
                let rec = ApiRecord {
                    host: host.to_owned(),
                    state: if on {
                        ApiState::Onboarded
                    } else {
                        ApiState::Discovered
                    },
                    first_seen_ms: now_ms,
                    changed_ms: now_ms,
                    changed_by: "auto".into(),
                };
                txn.put(Tree::Apis, &key, &encode(&rec))?;
                created += 1;
                rec.state
            }
        };
        states.insert(host, state);
    }
    Ok((states, created))
}

impl Db {
    /// The tenant's auto-onboarding setting (on unless an admin turned it off).
    pub fn auto_onboard(&self, tenant: &TenantId) -> Result<bool> {
        Ok(self
            .kv
            .get(Tree::Meta, &keys::meta_auto_onboard(tenant))?
            .is_none_or(|v| v.first() != Some(&0)))
    }

    /// Sets the tenant's auto-onboarding setting (for APIs first seen from now on).
    pub fn set_auto_onboard(&self, tenant: &TenantId, on: bool) -> Result<()> {
        self.kv.put(
            Tree::Meta,
            &keys::meta_auto_onboard(tenant),
            &[u8::from(on)],
        )
    }

    /// One API's record.
    pub fn api_record(&self, tenant: &TenantId, host: &str) -> Result<Option<ApiRecord>> {
        self.kv
            .get(Tree::Apis, &keys::api(tenant, host))?
            .map(|raw| decode(Tree::Apis, &raw))
            .transpose()
    }

    /// The tenant's API records in host order, at most `limit`.
    pub fn api_records(&self, tenant: &TenantId, limit: usize) -> Result<Vec<ApiRecord>> {
        let prefix = keys::tenant_prefix(tenant);
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        while out.len() < limit {
            let page = (limit - out.len()).min(1024);
            let rows = self.kv.scan(Tree::Apis, &prefix, after.as_deref(), page)?;
            let done = rows.len() < page;
            for (k, v) in rows {
                out.push(decode(Tree::Apis, &v)?);
                after = Some(k);
            }
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// Onboards (`state` onboarded) or offboards (discovered) the selected APIs in one
    /// transaction; returns the records whose state changed.
    pub fn set_api_state(
        &self,
        tenant: &TenantId,
        selector: &ApiSelector,
        state: ApiState,
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<ApiRecord>> {
        let hosts: Vec<String> = match selector {
            ApiSelector::Hosts(h) => h.iter().take(MAX_APIS_PER_CHANGE).cloned().collect(),
            ApiSelector::All => self
                .api_records(tenant, MAX_APIS_PER_CHANGE)?
                .into_iter()
                .map(|r| r.host)
                .collect(),
        };
        let changed = std::cell::RefCell::new(Vec::new());
        self.kv.transact(&|txn| {
            let mut out = Vec::new();
            for host in &hosts {
                let key = keys::api(tenant, host);
                let mut rec = match txn.get(Tree::Apis, &key)? {
                    Some(raw) => decode::<ApiRecord>(Tree::Apis, &raw)?,
                    None => ApiRecord {
                        host: host.clone(),
                        state: match state {
                            ApiState::Onboarded => ApiState::Discovered,
                            ApiState::Discovered => ApiState::Onboarded,
                        },
                        first_seen_ms: now_ms,
                        changed_ms: now_ms,
                        changed_by: by.to_owned(),
                    },
                };
                if rec.state == state {
                    continue;
                }
                rec.state = state;
                rec.changed_ms = now_ms;
                rec.changed_by = by.to_owned();
                txn.put(Tree::Apis, &key, &encode(&rec))?;
                out.push(rec);
            }
            *changed.borrow_mut() = out;
            Ok(())
        })?;
        Ok(changed.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn db() -> (Db, TenantId) {
        (
            Db::new(Arc::new(MemoryStore::default())),
            TenantId::new("acme").unwrap(),
        )
    }

    #[test]
    fn first_sight_follows_the_auto_onboard_setting() {
        let (db, t) = db();
        let run = |host: &'static str| {
            let out = std::cell::RefCell::new(None);
            db.kv
                .transact(&|txn| {
                    let (s, n) = states_in_txn(txn, &t, [host, host].into_iter(), 5)?;
                    *out.borrow_mut() = Some((s[host], n));
                    Ok(())
                })
                .unwrap();
            out.into_inner().unwrap()
        };
        assert!(db.auto_onboard(&t).unwrap());
        assert_eq!(run("a.example"), (ApiState::Onboarded, 1));
        assert_eq!(run("a.example"), (ApiState::Onboarded, 0));
        db.set_auto_onboard(&t, false).unwrap();
        assert!(!db.auto_onboard(&t).unwrap());
        assert_eq!(run("b.example"), (ApiState::Discovered, 1));
        // The setting decides first sight only: a known API keeps its state.
        assert_eq!(run("a.example"), (ApiState::Onboarded, 0));
        let hosts: Vec<_> = db
            .api_records(&t, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.host)
            .collect();
        assert_eq!(hosts, ["a.example", "b.example"]);
    }

    #[test]
    fn onboarding_changes_report_only_what_changed() {
        let (db, t) = db();
        let hosts = ApiSelector::Hosts(vec!["x".into(), "y".into()]);
        let on = db
            .set_api_state(&t, &hosts, ApiState::Onboarded, "tok", 1)
            .unwrap();
        assert_eq!(on.len(), 2);
        assert!(
            db.set_api_state(&t, &hosts, ApiState::Onboarded, "tok", 2)
                .unwrap()
                .is_empty()
        );
        let off = db
            .set_api_state(&t, &ApiSelector::All, ApiState::Discovered, "tok", 3)
            .unwrap();
        assert_eq!(off.len(), 2);
        let rec = db.api_record(&t, "x").unwrap().unwrap();
        assert_eq!(
            (rec.state, rec.changed_ms, rec.first_seen_ms),
            (ApiState::Discovered, 3, 1)
        );
        // Another tenant's APIs are untouched.
        let other = TenantId::new("other").unwrap();
        assert!(db.api_records(&other, 10).unwrap().is_empty());
    }

    /// One step of the property test: a batch (host index, requests, replayed or not) or an
    /// onboarding change (host index, onboard?).
    #[derive(Debug, Clone)]
    enum Step {
        Batch(usize, u64, bool),
        Change(usize, bool),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (0usize..3, 1u64..500, any::<bool>()).prop_map(|(h, n, r)| Step::Batch(h, n, r)),
            1 => (0usize..3, any::<bool>()).prop_map(|(h, on)| Step::Change(h, on)),
        ]
    }

    proptest::proptest! {
        /// Whatever the order of batches, replays and onboarding changes, every committed
        /// request is counted once — billed if its API was onboarded when its batch committed,
        /// unprotected otherwise — and only billed summaries reach the analysis log.
        #[test]
        fn onboarding_state_decides_each_batch_exactly(
            steps in proptest::collection::vec(step(), 1..40),
            auto in proptest::prelude::any::<bool>(),
        ) {
            use crate::metering::{Cycle, MeterPolicy};
            use crate::store::Applied;
            use picket_shared::{BatchSummary, EndpointKey, EndpointSummary, SensorId};
            let (db, t) = db();
            let s = SensorId::new("s").unwrap();
            let policy = MeterPolicy::default();
            let now = 1_800_000_000_000;
            db.set_auto_onboard(&t, auto).unwrap();
            let hosts = ["a.example", "b.example", "c.example"];
            let mut state: [Option<bool>; 3] = [None; 3];
            let (mut seq, mut billed, mut unprotected, mut analyzed) = (0u64, 0u64, 0u64, 0u64);
            let mut last: Option<BatchSummary> = None;
            for st in steps {
                match st {
                    Step::Change(h, on) => {
                        let target = if on { ApiState::Onboarded } else { ApiState::Discovered };
                        db.set_api_state(&t, &ApiSelector::Hosts(vec![hosts[h].into()]), target, "op", now).unwrap();
                        state[h] = Some(on);
                    }
                    Step::Batch(h, n, replay) => {
                        let batch = match (&last, replay) {
                            (Some(b), true) => b.clone(),
                            _ => {
                                seq += 1;
                                BatchSummary {
                                    stream_epoch: 1,
                                    seq,
                                    endpoints: vec![(
                                        EndpointKey { host: hosts[h].into(), method: "GET".into(), template: "/".into() },
                                        EndpointSummary { requests: n, first_seen_ms: now, last_seen_ms: now, ..Default::default() },
                                    )],
                                    ..Default::default()
                                }
                            }
                        };
                        let before = db.analysis_appended().unwrap();
                        let applied = db.apply_batch(&t, &s, &batch, now, &policy).unwrap();
                        let fresh = !(replay && last.is_some());
                        proptest::prop_assert_eq!(applied == Applied::Duplicate, !fresh);
                        if fresh {
                            let i = hosts.iter().position(|x| *x == batch.endpoints[0].0.host).unwrap();
                            let on = *state[i].get_or_insert(auto);
                            let n = batch.endpoints[0].1.requests;
                            if on { billed += n; analyzed += 1 } else { unprotected += n }
                            let appended = db.analysis_appended().unwrap() - before;
                            proptest::prop_assert_eq!(appended, u64::from(on));
                        }
                        last = Some(batch);
                    }
                }
            }
            let c = db.cycle_usage(&t, Cycle::containing(now).start_ms).unwrap();
            proptest::prop_assert_eq!((c.calls, c.unprotected_calls), (billed, unprotected));
            proptest::prop_assert_eq!(db.analysis_appended().unwrap(), analyzed);
        }
    }
}
