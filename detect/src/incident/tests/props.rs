//! Property tests: random alert streams (raises, updates within the engine's dedup window,
//! ticks) keep the correlator's invariants, with the default config and with tiny caps.

use super::{MIN, Run, Step, T0, alert, play, play_batched};
use crate::incident::{Correlator, IncidentConfig, IncidentFacts, MAX_SENSORS_PER_INCIDENT};
use crate::model::{Actor, AlertFacts, AlertType};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// One generated operation.
#[derive(Debug, Clone)]
enum Op {
    /// A new alert: type index, address index, principal index (0 = none), sensor, minutes
    /// after the previous operation, number of listed actors (≥ 2: distributed).
    Raise(usize, u8, u8, u8, i64, u8),
    /// An update of an earlier alert (index modulo the alerts raised), minutes later.
    Update(usize, i64),
    /// A tick at the current time.
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..16usize, 0..8u8, 0..4u8, 0..3u8, 0..40i64, 0..4u8)
            .prop_map(|(k, ip, p, s, dt, n)| Op::Raise(k, ip, p, s, dt, n)),
        3 => (any::<usize>(), 0..20i64).prop_map(|(i, dt)| Op::Update(i, dt)),
        1 => Just(Op::Tick),
    ]
}

/// The steps of `ops`: updates only reach alerts whose last occurrence is within the
/// engine's dedup window (an hour), as the engine would send them.
fn steps(ops: &[Op]) -> Vec<Step> {
    let mut now = 0;
    let mut raised: Vec<AlertFacts> = Vec::new();
    let mut out = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        match *o {
            Op::Raise(k, ip, p, s, dt, n) => {
                now += dt;
                let ip = format!("192.0.2.{ip}");
                let principal = if p == 0 {
                    String::new()
                } else {
                    format!("p{p}")
                };
                let mut a = alert(
                    &format!("a{i}"),
                    AlertType::ALL[k],
                    &ip,
                    &principal,
                    &format!("s{s}"),
                    now,
                );
                if n >= 2 {
                    a.actor = Actor::default();
                    a.actors = (0..n)
                        .map(|j| Actor {
                            ip: Some(std::net::IpAddr::from([198, 51, 100, j])),
                            ..Actor::default()
                        })
                        .collect();
                }
                raised.push(a.clone());
                out.push(Step::Raise(a));
            }
            Op::Update(which, dt) if !raised.is_empty() => {
                now += dt;
                let n = raised.len();
                let a = &mut raised[which % n];
                if T0 + now * MIN - a.last_seen_ms <= 60 * MIN {
                    a.last_seen_ms = T0 + now * MIN;
                    a.count += 1;
                    out.push(Step::Update(a.clone()));
                }
            }
            Op::Update(..) => {}
            Op::Tick => out.push(Step::Tick(T0 + now * MIN)),
        }
    }
    out
}

/// Checks one incident's own invariants under `config`.
fn check_incident(f: &IncidentFacts, config: &IncidentConfig) {
    assert!(f.first_seen_ms <= f.last_seen_ms, "{f:?}");
    assert!(f.severity >= f.alert_severity);
    assert!(f.timeline.len() <= config.max_alerts_per_incident);
    assert!(f.actors.len() <= config.max_actors_per_incident);
    assert!(f.sensors.len() <= MAX_SENSORS_PER_INCIDENT);
    let ids: Vec<&String> = f.timeline.iter().map(|e| &e.alert_id).collect();
    assert_eq!(ids, f.alert_ids.iter().collect::<Vec<_>>());
    assert!(
        f.timeline.windows(2).all(|w| {
            (w[0].first_seen_ms, &w[0].alert_id) < (w[1].first_seen_ms, &w[1].alert_id)
        })
    );
    assert!(f.stages.windows(2).all(|w| w[0] < w[1]));
    for e in &f.timeline {
        assert!(f.severity >= e.severity);
        assert!(f.stages.contains(&e.stage));
        assert!(f.first_seen_ms <= e.first_seen_ms && e.last_seen_ms <= f.last_seen_ms);
    }
}

/// Runs the steps, checks every invariant and returns the run.
fn check(steps: &[Step], config: &IncidentConfig, exact: bool) -> Run {
    let mut c = Correlator::new(config.clone()).expect("config");
    let mut run = Run::default();
    for s in steps {
        play(&mut c, std::slice::from_ref(s), &mut run);
        assert!(c.open_incidents().count() <= config.max_open_incidents);
    }
    for f in run.incidents.values() {
        check_incident(f, config);
    }
    let mut homes: BTreeMap<&str, usize> = BTreeMap::new();
    for f in run.incidents.values() {
        for a in &f.alert_ids {
            *homes.entry(a.as_str()).or_default() += 1;
        }
    }
    assert!(homes.values().all(|n| *n == 1), "an alert in two incidents");
    if exact {
        for s in steps {
            if let Step::Raise(a) = s {
                assert!(
                    homes.contains_key(a.id.as_str()),
                    "alert {} in no incident",
                    a.id
                );
            }
        }
    }
    run
}

fn tiny() -> IncidentConfig {
    IncidentConfig {
        window_ms: 30 * MIN,
        quiet_close_ms: 45 * MIN,
        max_open_incidents: 3,
        max_alerts_per_incident: 4,
        max_actors_per_incident: 2,
        max_keys_per_incident: 2,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_with_default_config(ops in prop::collection::vec(op(), 1..60)) {
        let steps = steps(&ops);
        let config = IncidentConfig::default();
        let a = check(&steps, &config, true);
        let b = check(&steps, &config, true);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn invariants_with_tiny_caps(
        ops in prop::collection::vec(op(), 1..80),
        cut in any::<usize>(),
        batch in 1..8usize,
    ) {
        let steps = steps(&ops);
        let config = tiny();
        let whole = check(&steps, &config, false);
        // Save and restore anywhere: the same changes.
        let cut = cut % (steps.len() + 1);
        let mut c = Correlator::new(config.clone()).expect("config");
        let mut run = Run::default();
        play(&mut c, &steps[..cut], &mut run);
        let mut c = Correlator::from_json(config, &c.to_json()).expect("restore");
        play(&mut c, &steps[cut..], &mut run);
        prop_assert_eq!(&run, &whole);
        // In batches: the same incidents in the end.
        let mut c = Correlator::new(tiny()).expect("config");
        let mut batched = Run::default();
        play_batched(&mut c, &steps, batch, &mut batched);
        prop_assert_eq!(batched.incidents, whole.incidents);
        prop_assert_eq!(batched.closed, whole.closed);
    }
}
