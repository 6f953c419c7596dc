//! The details: severity and reason, merges, updates, distributed actors, lifecycle, bounds,
//! ids, config and the stage table.

use super::{MIN, P, Run, Step, T0, X, Y, alert, only, pool, run};
use crate::incident::*;
use crate::model::{AlertChange, AlertFacts, AlertType, Severity};
use std::collections::BTreeSet;

#[test]
fn one_attacker_progression_escalates_across_sensors() {
    use AlertType as T;
    let rejected = AlertFacts {
        severity: Some(Severity::Medium),
        ..alert("a2", T::Injection, X, "", "b", 5)
    };
    let (_, r) = run(&[
        Step::Raise(alert("a1", T::EndpointSpray, X, "", "a", 0)),
        Step::Raise(rejected),
        Step::Raise(alert("a3", T::LargeResponse, X, "", "a", 10)),
    ]);
    let f = only(&r);
    assert_eq!(f.alert_ids, ["a1", "a2", "a3"]);
    assert_eq!(f.sensors, BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    assert_eq!(
        f.stages,
        [
            Stage::Reconnaissance,
            Stage::Exploitation,
            Stage::Collection
        ]
    );
    assert_eq!(f.alert_severity, Severity::Medium);
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.reason,
        "reconnaissance (endpoint_spray) → exploitation (injection) → collection \
         (large_response) from 203.0.113.66 across 2 sensors: raised from medium to high"
    );
    assert_eq!(f.key, IncidentKey::Actor { actor: X.into() });
    assert_eq!((f.first_seen_ms, f.last_seen_ms), (T0, T0 + 10 * MIN));
    let stages: Vec<Stage> = f.timeline.iter().map(|e| e.stage).collect();
    assert_eq!(stages, f.stages);
    // Opened once, then updated twice.
    assert!(matches!(r.changes[0], IncidentChange::Opened(_)));
    assert_eq!(r.changes.len(), 3);
}

/// (alerts as (kind, minute, sensor), expected severity, expected reason) for one actor.
type Escalation<'a> = (&'a [(AlertType, i64, &'a str)], Severity, &'a str);

#[test]
fn escalation_rules() {
    use AlertType as T;
    #[rustfmt::skip]
    let cases: &[Escalation] = &[
        (&[(T::EndpointSpray, 0, "a")], Severity::Medium,
         "1 alert (endpoint_spray) from 203.0.113.66: medium, as its worst alert"),
        (&[(T::EndpointSpray, 0, "a"), (T::SuspiciousUserAgent, 1, "a")], Severity::Medium,
         "2 alerts (endpoint_spray, suspicious_user_agent) from 203.0.113.66: medium, as its worst alert"),
        // Backwards in time is no progression.
        (&[(T::LargeResponse, 0, "a"), (T::EndpointSpray, 1, "a")], Severity::Medium,
         "2 alerts (large_response, endpoint_spray) from 203.0.113.66: medium, as its worst alert"),
        (&[(T::UnseenParameter, 0, "a"), (T::LargeRequestBody, 1, "a")], Severity::Medium,
         "reconnaissance (unseen_parameter) → exploitation (large_request_body) from 203.0.113.66: raised from low to medium"),
        // One instant, two stages: forward.
        (&[(T::LargeResponse, 3, "a"), (T::EndpointSpray, 3, "a")], Severity::High,
         "reconnaissance (endpoint_spray) → collection (large_response) from 203.0.113.66: raised from medium to high"),
        (&[(T::LatencySpike, 0, "a"), (T::LatencySpike, 1, "b")], Severity::Medium,
         "2 alerts (latency_spike) from 203.0.113.66 across 2 sensors: raised from low to medium"),
        (&[(T::Injection, 0, "a"), (T::LargeResponse, 1, "a")], Severity::High,
         "exploitation (injection) → collection (large_response) from 203.0.113.66: high, already the highest"),
    ];
    for (i, (alerts, severity, reason)) in cases.iter().enumerate() {
        let steps: Vec<Step> = alerts
            .iter()
            .enumerate()
            .map(|(n, (kind, at, sensor))| {
                Step::Raise(alert(&format!("{n}"), *kind, X, "", sensor, *at))
            })
            .collect();
        let (_, r) = run(&steps);
        let f = only(&r);
        assert_eq!(
            (f.severity, f.reason.as_str()),
            (*severity, *reason),
            "case {i}"
        );
    }
}

#[test]
fn a_bridging_alert_merges_into_the_older_incident() {
    use AlertType as T;
    let (c, r) = run(&[
        Step::Raise(alert("x", T::EndpointSpray, X, "", "a", 0)),
        Step::Raise(alert("y", T::Injection, Y, "", "b", 1)),
        Step::Raise(alert("bridge", T::LargeResponse, Y, P, "b", 2)),
        Step::Raise(alert("x2", T::BruteForce, X, P, "a", 3)),
    ]);
    let opened: Vec<&str> = r
        .changes
        .iter()
        .filter_map(|c| match c {
            IncidentChange::Opened(f) => Some(f.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 2);
    let merges: Vec<&IncidentChange> = r
        .changes
        .iter()
        .filter(|c| matches!(c, IncidentChange::Merged { .. }))
        .collect();
    assert_eq!(
        merges,
        [&IncidentChange::Merged {
            into: opened[0].into(),
            absorbed: opened[1].into()
        }]
    );
    // The merge is followed by the survivor's update.
    assert!(matches!(r.changes.last(), Some(IncidentChange::Updated(f)) if f.id == opened[0]));
    let f = only(&r);
    assert_eq!(f.alert_ids, ["x", "y", "bridge", "x2"]);
    // Distinct (address, principal) pairs: who used which address.
    assert_eq!(f.actors.len(), 4, "{:?}", f.actors);
    assert_eq!(c.stats().merged, 1);
    // Every address and the principal now lead to the survivor.
    let mut c = c;
    for (id, ip, principal) in [("later", Y, ""), ("later2", "", P)] {
        let changes = c.apply(&AlertChange::Raised(alert(
            id,
            T::Injection,
            ip,
            principal,
            "a",
            4,
        )));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].incident_id(), opened[0]);
    }
}

#[test]
fn updates_refresh_the_incident() {
    use AlertType as T;
    let mut grown = alert("1", T::BruteForce, X, "", "b", 0);
    grown.severity = Some(Severity::High);
    grown.last_seen_ms = T0 + 40 * MIN;
    let mut first = alert("1", T::BruteForce, X, "", "a", 0);
    first.severity = Some(Severity::Low);
    let (_, r) = run(&[Step::Raise(first), Step::Update(grown)]);
    let f = only(&r);
    assert_eq!(f.alert_ids, ["1"]);
    assert_eq!(f.last_seen_ms, T0 + 40 * MIN);
    assert_eq!(f.alert_severity, Severity::High);
    assert_eq!(f.timeline[0].last_seen_ms, T0 + 40 * MIN);
    assert_eq!(f.sensors.len(), 2);
}

#[test]
fn distributed_incident_lists_capped_actors() {
    use AlertType as T;
    let cs = AlertFacts {
        actors: pool(1, 40),
        ..alert("cs", T::CredentialStuffing, "", "", "a", 0)
    };
    let (_, r) = run(&[Step::Raise(cs.clone()), Step::Update(cs)]);
    let f = only(&r);
    assert_eq!(f.actors.len(), 32);
    assert_eq!(f.actors_more, 8);
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.key,
        IncidentKey::Target {
            host: "api.example.com".into(),
            method: "GET".into(),
            template: "/v1/orders/{id}".into(),
            pattern: Pattern::Credentials
        }
    );
    assert_eq!(
        f.reason,
        "1 alert (credential_stuffing) on GET api.example.com/v1/orders/{id} by 40 actors: \
         high, as its worst alert"
    );
}

#[test]
fn quiet_close_and_new_incident() {
    use AlertType as T;
    let (mut c, r) = run(&[Step::Raise(alert("1", T::EndpointSpray, X, "", "a", 0))]);
    assert!(c.tick(T0 + 60 * MIN).is_empty(), "quiet exactly the window");
    let closed = c.tick(T0 + 60 * MIN + 1);
    assert!(matches!(&closed[..], [IncidentChange::Closed(f)] if f.alert_ids == ["1"]));
    assert_eq!(c.open_incidents().count(), 0);
    assert!(c.tick(T0).is_empty(), "the watermark never moves back");
    assert_eq!(c.watermark_ms(), T0 + 60 * MIN + 1);
    let again = c.apply(&AlertChange::Raised(alert(
        "2",
        T::Injection,
        X,
        "",
        "a",
        61,
    )));
    let IncidentChange::Opened(f) = &again[0] else {
        panic!("{again:?}");
    };
    assert_ne!(Some(&f.id), r.incidents.keys().next());
    assert_eq!(c.stats().closed_quiet, 1);
}

#[test]
fn open_incident_cap_evicts_the_quietest() {
    use AlertType as T;
    let config = IncidentConfig {
        max_open_incidents: 3,
        ..IncidentConfig::default()
    };
    let mut c = Correlator::new(config).expect("config");
    let mut r = Run::default();
    for i in 0..5u8 {
        let ip = format!("192.0.2.{i}");
        let changes = c.apply(&AlertChange::Raised(alert(
            &format!("{i}"),
            T::EndpointSpray,
            &ip,
            "",
            "a",
            i.into(),
        )));
        r.absorb(changes);
    }
    assert_eq!(c.open_incidents().count(), 3);
    assert_eq!(c.stats().evicted, 2);
    let closed: Vec<&[String]> = r
        .changes
        .iter()
        .filter_map(|c| match c {
            IncidentChange::Closed(f) => Some(&f.alert_ids[..]),
            _ => None,
        })
        .collect();
    assert_eq!(closed, [["0".to_owned()], ["1".to_owned()]]);
}

#[test]
fn alert_cap_counts_the_rest_once() {
    use AlertType as T;
    let config = IncidentConfig {
        max_alerts_per_incident: 4,
        ..IncidentConfig::default()
    };
    let mut c = Correlator::new(config).expect("config");
    let alerts: Vec<AlertFacts> = (0..6)
        .map(|i| alert(&format!("{i}"), T::Injection, X, "", "a", i))
        .collect();
    for a in &alerts {
        c.apply(&AlertChange::Raised(a.clone()));
    }
    for a in &alerts {
        c.apply(&AlertChange::Updated(a.clone()));
    }
    let f = c.open_incidents().next().expect("one incident");
    assert_eq!(f.alert_ids, ["0", "1", "2", "3"]);
    assert_eq!(f.alerts_more, 2);
    assert_eq!(f.last_seen_ms, T0 + 5 * MIN);
    assert_eq!(c.stats().alerts_unlisted, 2);
}

#[test]
fn ids_are_deterministic_and_keyed() {
    use AlertType as T;
    let a = run(&[Step::Raise(alert("1", T::EndpointSpray, X, "", "a", 0))]).1;
    let b = run(&[Step::Raise(alert("1", T::Injection, X, "", "b", 0))]).1;
    let other = run(&[Step::Raise(alert("1", T::EndpointSpray, Y, "", "a", 0))]).1;
    let later = run(&[Step::Raise(alert("1", T::EndpointSpray, X, "", "a", 7))]).1;
    let id = |r: &Run| r.incidents.keys().next().cloned();
    // Key and first alert (its id and time) make the id; nothing else does.
    assert_eq!(id(&a), id(&b));
    assert_ne!(id(&a), id(&other));
    assert_ne!(id(&a), id(&later));
    assert_eq!(id(&a).map(|i| i.len()), Some(16));
}

#[test]
fn config_is_validated() {
    let bad = [
        IncidentConfig {
            window_ms: 0,
            ..IncidentConfig::default()
        },
        IncidentConfig {
            max_open_incidents: 0,
            ..IncidentConfig::default()
        },
        IncidentConfig {
            max_alerts_per_incident: MAX_PER_INCIDENT_LIMIT + 1,
            ..IncidentConfig::default()
        },
    ];
    for config in bad {
        let err = Correlator::new(config).expect_err("rejected");
        assert!(err.to_string().starts_with("incident config "), "{err}");
    }
    assert!(Correlator::from_json(IncidentConfig::default(), b"[").is_err());
}

#[test]
fn every_type_has_a_stage_and_pattern() {
    for kind in AlertType::ALL {
        let s = stages::stage(kind);
        assert_eq!(Stage::parse(s.id()), Some(s));
        assert!(!s.title().is_empty());
        let _ = stages::pattern(kind);
    }
    let ordered: Vec<Stage> = {
        let mut v = Stage::ALL.to_vec();
        v.sort();
        v
    };
    assert_eq!(ordered, Stage::ALL);
    let json = serde_json::to_string(&Stage::CredentialAccess).expect("json");
    assert_eq!(json, "\"credential_access\"");
}
