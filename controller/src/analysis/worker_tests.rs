//! Exactly-once analysis under crashes, with a deterministic stand-in engine: every batch's
//! endpoints are counted in persisted state; the first sight of an endpoint raises an alert,
//! later ones update it; a matching suppression rule swallows it. Each alert names an actor
//! (`/a`, `/b` one address, `/c`, `/d` another), so the incident correlator fed by the worker
//! opens, updates and (with the one-second quiet period of these tests) closes incidents.

use super::*;
use crate::config::Limits;
use crate::metering::{ManualClock, MeterPolicy};
use crate::store::memory::MemoryStore;
use crate::store::{Db, Store, StoreError, Tree, Txn};
use picket_detect::{AlertFacts, AlertType, Severity, StateWrite, Suppression};
use picket_shared::{BatchSummary, EndpointKey, EndpointSummary, SensorId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;

/// Counts requests per endpoint; raises on first sight, updates after.
struct Counting {
    counts: BTreeMap<Vec<u8>, u64>,
    /// Keys changed since the last `take_writes`.
    dirty: BTreeSet<Vec<u8>>,
}

fn endpoint_key(k: &EndpointKey) -> Vec<u8> {
    format!("ep/{}/{}/{}", k.host, k.method, k.template).into_bytes()
}

impl Detector for Counting {
    fn fresh(_: DetectConfig) -> Self {
        Counting {
            counts: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }
    fn restore(_: DetectConfig, state: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Self, StateError> {
        let counts = state
            .into_iter()
            .map(|(k, v)| (k, u64::from_be_bytes(v.try_into().unwrap())))
            .collect();
        Ok(Counting {
            counts,
            dirty: BTreeSet::new(),
        })
    }
    fn analyze(&mut self, input: &Input<'_>, ctx: &Context<'_>) -> Output {
        let mut out = Output::default();
        for (k, s) in input.endpoints {
            let key = endpoint_key(k);
            let prev = self.counts.get(&key).copied();
            let count = prev.unwrap_or(0) + s.requests;
            self.counts.insert(key.clone(), count);
            self.dirty.insert(key);
            let ip = if k.template.as_str() < "/c" {
                "203.0.113.1"
            } else {
                "203.0.113.2"
            };
            let facts = AlertFacts {
                id: format!("a-{}-{}", k.host, k.template.trim_start_matches('/')),
                kind: Some(AlertType::EndpointSpray),
                actor: picket_detect::Actor {
                    ip: ip.parse().ok(),
                    ..Default::default()
                },
                severity: Some(Severity::Medium),
                host: k.host.clone(),
                method: k.method.clone(),
                template: k.template.clone(),
                count,
                first_seen_ms: s.first_seen_ms,
                last_seen_ms: s.last_seen_ms,
                ..Default::default()
            };
            if let Some(rule) = ctx
                .suppressions
                .iter()
                .find(|r| r.matches(&facts, ctx.now_ms))
            {
                out.suppressed.push((rule.id.clone(), facts.id));
                continue;
            }
            out.changes.push(match prev {
                None => AlertChange::Raised(facts),
                Some(_) => AlertChange::Updated(facts),
            });
        }
        out
    }
    fn take_writes(&mut self) -> Vec<StateWrite> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|key| {
                let value = self.counts.get(&key).map(|c| c.to_be_bytes().to_vec());
                StateWrite { key, value }
            })
            .collect()
    }
}

/// A memory store whose next `transact` calls fail while `fail` is set.
#[derive(Default)]
struct Flaky {
    inner: MemoryStore,
    fail: AtomicBool,
}

impl Store for Flaky {
    fn get(&self, t: Tree, k: &[u8]) -> crate::store::Result<Option<Vec<u8>>> {
        self.inner.get(t, k)
    }
    fn put(&self, t: Tree, k: &[u8], v: &[u8]) -> crate::store::Result<()> {
        self.inner.put(t, k, v)
    }
    fn delete(&self, t: Tree, k: &[u8]) -> crate::store::Result<()> {
        self.inner.delete(t, k)
    }
    fn scan(
        &self,
        t: Tree,
        p: &[u8],
        a: Option<&[u8]>,
        l: usize,
    ) -> crate::store::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan(t, p, a, l)
    }
    fn transact(
        &self,
        f: &dyn Fn(&mut dyn Txn) -> crate::store::Result<()>,
    ) -> crate::store::Result<()> {
        if self.fail.load(Relaxed) {
            return Err(StoreError::Backend("injected failure".into()));
        }
        self.inner.transact(f)
    }
    fn apply(&self, t: Tree, w: &[(Vec<u8>, Option<Vec<u8>>)]) -> crate::store::Result<()> {
        if self.fail.load(Relaxed) {
            return Err(StoreError::Backend("injected failure".into()));
        }
        self.inner.apply(t, w)
    }
    fn flush(&self) -> crate::store::Result<()> {
        Ok(())
    }
}

fn state(store: Arc<dyn Store>) -> Arc<State> {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    // Batches are three seconds apart: a one-second window closes incidents in the scenario.
    let incidents = crate::config::IncidentsConfig {
        window_secs: 1,
        quiet_close_secs: Some(1),
    };
    Arc::new(
        State::new(
            Db::new(store),
            Limits::default(),
            MeterPolicy::default(),
            clock,
        )
        .with_incidents(incidents),
    )
}

fn batch(seq: u64, templates: &[&str], t_ms: i64) -> BatchSummary {
    BatchSummary {
        window_ms: 60_000,
        stream_epoch: 1,
        seq,
        endpoints: templates
            .iter()
            .map(|t| {
                (
                    EndpointKey {
                        host: "api".into(),
                        method: "GET".into(),
                        template: (*t).into(),
                    },
                    EndpointSummary {
                        requests: seq,
                        first_seen_ms: t_ms,
                        last_seen_ms: t_ms + 1,
                        ..Default::default()
                    },
                )
            })
            .collect(),
        ..Default::default()
    }
}

const BATCHES: &[&[&str]] = &[
    &["/a", "/b"],
    &["/a"],
    &["/c"],
    &["/b", "/c"],
    &["/a", "/d"],
];

fn ingest(st: &State, range: std::ops::Range<usize>) {
    let tenant = TenantId::new("acme").unwrap();
    let sensor = SensorId::new("s1").unwrap();
    for i in range {
        // Three seconds apart: with the one-second incident window, incidents close.
        let b = batch(i as u64 + 1, BATCHES[i], 3_000 * i as i64);
        st.db
            .apply_batch(&tenant, &sensor, &b, st.now_ms(), &st.policy)
            .unwrap();
    }
}

/// Everything analysis produced: alerts, incidents, the alert log (with the incident
/// changes), engine and correlator state, analysis cursor.
fn outcome(st: &State) -> String {
    let t = TenantId::new("acme").unwrap();
    let alerts = st
        .db
        .list_alerts(&t, &Default::default(), None, 1_000, 1_000_000)
        .unwrap();
    let log = st.db.alert_log_after(&t, 0, 1_000).unwrap();
    let state = st.db.detect_state(&t).unwrap();
    let pending = st.db.analysis_pending(0, 100).unwrap().len();
    let incidents = st
        .db
        .list_incidents(&t, &Default::default(), None, 1_000, 1_000_000)
        .unwrap();
    // The correlator as checkpointed, compared by its open incidents and counters (its
    // serialized maps have no fixed order).
    let correlator = st.db.incident_state(&t).unwrap().map(|raw| {
        let c = Correlator::from_json(st.incidents.correlator(), &raw).unwrap();
        let open: Vec<_> = c.open_incidents().cloned().collect();
        format!("{open:?} {:?} {}", c.stats(), c.watermark_ms())
    });
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{correlator:?}\n{} {pending}",
        alerts.alerts,
        incidents.incidents,
        log,
        state,
        st.db.analysis_done().unwrap()
    )
}

fn uninterrupted() -> String {
    let st = state(Arc::new(MemoryStore::new()));
    ingest(&st, 0..BATCHES.len());
    Worker::<Counting>::new(st.clone()).pass(100).unwrap();
    outcome(&st)
}

/// The incident changes on the alert log, in order: (change, incident id).
fn incident_log(st: &State) -> Vec<(String, String)> {
    let t = TenantId::new("acme").unwrap();
    st.db
        .alert_log_after(&t, 0, 1_000)
        .unwrap()
        .into_iter()
        .filter_map(|(_, r)| r.incident)
        .map(|i| (format!("{:?}", i.change), i.incident.facts.id))
        .collect()
}

#[test]
fn a_crash_anywhere_analyzes_every_batch_exactly_once() {
    let expected = uninterrupted();
    assert!(expected.contains("Updated"), "the scenario updates alerts");
    for change in ["Opened", "Closed"] {
        assert!(
            expected.contains(change),
            "the scenario's incidents are {change}"
        );
    }
    // Crash after each possible number of analyzed entries, with ingest racing ahead.
    for analyzed_before_crash in 0..=BATCHES.len() {
        let st = state(Arc::new(MemoryStore::new()));
        ingest(&st, 0..3);
        let mut first = Worker::<Counting>::new(st.clone());
        for _ in 0..analyzed_before_crash.min(3) {
            first.pass(1).unwrap();
        }
        ingest(&st, 3..BATCHES.len());
        for _ in 3..analyzed_before_crash {
            first.pass(1).unwrap();
        }
        drop(first); // kill -9: in-memory engines are gone; the store is what was committed
        let mut second = Worker::<Counting>::new(st.clone());
        second.pass(100).unwrap();
        assert_eq!(
            outcome(&st),
            expected,
            "crash after {analyzed_before_crash}"
        );
        assert_eq!(second.pass(100).unwrap(), 0, "nothing is analyzed twice");
    }
}

#[test]
fn a_crash_between_checkpoints_rebuilds_the_engines_from_the_last_one() {
    let expected = uninterrupted();
    let st = state(Arc::new(MemoryStore::new()));
    ingest(&st, 0..3);
    let mut first = Worker::<Counting>::new(st.clone());
    // Catching up stores a checkpoint and deletes the entries it covers.
    assert_eq!(first.pass(100).unwrap(), 3);
    assert_eq!(st.db.detect_checkpoint().unwrap(), Some(3));
    assert!(st.db.analysis_pending(0, 100).unwrap().is_empty());
    let checkpoints = st.analysis.stats.checkpoints.load(Relaxed);
    ingest(&st, 3..BATCHES.len());
    // Two more analyses stored, without a checkpoint: the state in the store is behind.
    first.pass(1).unwrap();
    first.pass(1).unwrap();
    assert_eq!(st.db.analysis_done().unwrap(), 5);
    assert_eq!(st.db.detect_checkpoint().unwrap(), Some(3));
    assert_eq!(st.analysis.stats.checkpoints.load(Relaxed), checkpoints);
    drop(first); // kill -9
    let mut second = Worker::<Counting>::new(st.clone());
    second.pass(100).unwrap();
    assert_eq!(outcome(&st), expected);
    assert_eq!(second.pass(100).unwrap(), 0, "nothing is analyzed twice");
}

#[test]
fn a_crash_between_checkpoints_stores_each_incident_change_once() {
    let reference = state(Arc::new(MemoryStore::new()));
    ingest(&reference, 0..BATCHES.len());
    Worker::<Counting>::new(reference.clone())
        .pass(100)
        .unwrap();
    let expected = incident_log(&reference);
    // Two actors' incidents open; the first closes once the second's alerts move event
    // time on, then a new alert of the first actor opens a new incident.
    let opened = expected.iter().filter(|(c, _)| c == "Opened").count();
    let closed = expected.iter().filter(|(c, _)| c == "Closed").count();
    assert!(opened >= 3 && closed >= 1, "{expected:?}");

    let st = state(Arc::new(MemoryStore::new()));
    ingest(&st, 0..2);
    let mut first = Worker::<Counting>::new(st.clone());
    assert_eq!(first.pass(100).unwrap(), 2);
    assert_eq!(st.db.detect_checkpoint().unwrap(), Some(2));
    ingest(&st, 2..BATCHES.len());
    for _ in 2..BATCHES.len() {
        first.pass(1).unwrap(); // stored, not checkpointed
    }
    assert_eq!(st.db.detect_checkpoint().unwrap(), Some(2));
    drop(first); // kill -9: the correlator's state in the store is the checkpoint's
    let mut second = Worker::<Counting>::new(st.clone());
    assert_eq!(second.pass(100).unwrap(), 0, "nothing is left to analyze");
    assert_eq!(
        incident_log(&st),
        expected,
        "each incident change stored once"
    );
    // What the recovered correlator does next matches an uninterrupted one.
    let more = |st: &Arc<State>, w: &mut Worker<Counting>| {
        let t = TenantId::new("acme").unwrap();
        let s = SensorId::new("s1").unwrap();
        let b = batch(6, &["/a", "/c"], 30_000);
        st.db
            .apply_batch(&t, &s, &b, st.now_ms(), &st.policy)
            .unwrap();
        w.pass(100).unwrap();
        incident_log(st)
    };
    let mut again = Worker::<Counting>::new(reference.clone());
    assert_eq!(more(&st, &mut second), more(&reference, &mut again));
    assert_eq!(outcome(&st), outcome(&reference));
}

#[test]
fn a_failed_commit_rebuilds_the_engine_from_the_store() {
    let expected = uninterrupted();
    let flaky = Arc::new(Flaky::default());
    let st = state(flaky.clone());
    ingest(&st, 0..BATCHES.len());
    let mut w = Worker::<Counting>::new(st.clone());
    w.pass(2).unwrap();
    // The engine analyzes the next entry in memory, then the store refuses the result.
    flaky.fail.store(true, Relaxed);
    assert!(w.pass(1).is_err());
    flaky.fail.store(false, Relaxed);
    w.pass(100).unwrap();
    assert_eq!(outcome(&st), expected);
}

#[test]
fn suppressed_alerts_count_hits() {
    let st = state(Arc::new(MemoryStore::new()));
    let t = TenantId::new("acme").unwrap();
    let rule = crate::analysis::suppress::create(
        &st.db,
        &t,
        Suppression {
            template: Some("/a".into()),
            ..Default::default()
        },
        "op",
        st.now_ms(),
    )
    .unwrap();
    ingest(&st, 0..BATCHES.len());
    Worker::<Counting>::new(st.clone()).pass(100).unwrap();
    let hits = st.db.get_suppression(&t, &rule.id).unwrap().unwrap().hits;
    assert_eq!(hits, 3, "/a appears in three batches");
    let page = st
        .db
        .list_alerts(&t, &Default::default(), None, 100, 10_000)
        .unwrap();
    assert!(page.alerts.iter().all(|a| a.facts.template != "/a"));
    assert_eq!(st.analysis.stats.alerts_suppressed.load(Relaxed), 3);
    assert_eq!(st.analysis.stats.batches_analyzed.load(Relaxed), 5);
}

#[test]
fn the_thread_analyzes_what_was_committed_before_it_started() {
    let st = state(Arc::new(MemoryStore::new()));
    ingest(&st, 0..2);
    let t = TenantId::new("acme").unwrap();
    let mut feed = st.analysis.subscribe(&t);
    let handle = WorkerHandle::spawn_with::<Counting>(st.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Watchers are told after the flush that follows the commit.
    while !feed.has_changed().unwrap() {
        assert!(Instant::now() < deadline, "watchers were never told");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(st.db.analysis_done().unwrap(), 2);
    assert_eq!(
        *feed.borrow_and_update(),
        5,
        "two alerts raised and their incident opened, one alert and the incident updated"
    );
    handle.stop();
}

#[test]
fn a_capped_tenant_gets_billing_notices_but_no_analysis() {
    use crate::metering::Enforcement;
    use crate::store::alerts::ChangeKind;
    let st = state(Arc::new(MemoryStore::new()));
    let t = TenantId::new("acme").unwrap();
    let s = SensorId::new("s1").unwrap();
    st.db
        .update_account(&t, &st.policy, &|a| a.enforcement = Enforcement::Cap)
        .unwrap();
    let with = |seq: u64, requests: u64| {
        let mut b = batch(seq, &["/a"], 1_000);
        b.endpoints[0].1.requests = requests;
        b.notables = vec![picket_shared::NotableEvent {
            ts_ms: 1_000,
            endpoint: b.endpoints[0].0.clone(),
            kinds: vec![picket_shared::NotableKind::Injection],
            labels: vec![],
            client_ip: None,
            principal: None,
            status: 200,
        }];
        b
    };
    // 80 % crossed (analyzed), then 100 % (analyzed: entitlement remained before it), then
    // capped: nothing analyzed, nothing crossed, so nothing is appended at all.
    for (seq, requests) in [(1, 900_000), (2, 200_000), (3, 5)] {
        st.db
            .apply_batch(&t, &s, &with(seq, requests), st.now_ms(), &st.policy)
            .unwrap();
    }
    assert_eq!(st.db.analysis_appended().unwrap(), 2);
    let pending = st.db.analysis_pending(0, 10).unwrap();
    let entries: Vec<LogEntry> = pending.into_iter().map(|(_, e)| e.unwrap()).collect();
    assert_eq!(entries[0].billing.len(), 1);
    assert_eq!(entries[1].notables.len(), 1);
    Worker::<Counting>::new(st.clone()).pass(100).unwrap();
    let kinds: Vec<ChangeKind> = st
        .db
        .alert_log_after(&t, 0, 100)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::Raised,
            ChangeKind::Incident,
            ChangeKind::Billing,
            ChangeKind::Updated,
            ChangeKind::Incident,
            ChangeKind::Billing
        ]
    );
}
