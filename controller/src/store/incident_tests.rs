//! Incident store tests: records written with the alert changes that caused them, in one
//! transaction and on the alert log; operator ownership of the status; listings.

use super::Db;
use super::alerts::{AnalysisCommit, ChangeKind, Committed};
use super::incidents::{IncidentChangeKind, IncidentFilter, IncidentState};
use super::memory::MemoryStore;
use picket_detect::incident::{Correlator, IncidentConfig};
use picket_detect::{Actor, AlertChange, AlertFacts, AlertStatus, AlertType, Severity};
use picket_shared::TenantId;
use std::sync::Arc;

fn db() -> Db {
    Db::new(Arc::new(MemoryStore::new()))
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn alert(id: &str, kind: AlertType, ip: &str, sensor: &str, t_ms: i64) -> AlertFacts {
    AlertFacts {
        id: id.into(),
        kind: Some(kind),
        severity: Some(Severity::Medium),
        host: "api".into(),
        method: "GET".into(),
        template: format!("/{id}"),
        actor: Actor {
            ip: Some(ip.parse().unwrap()),
            ..Default::default()
        },
        sensors: [sensor.to_owned()].into(),
        count: 1,
        first_seen_ms: t_ms,
        last_seen_ms: t_ms,
        ..Default::default()
    }
}

/// Correlates `changes` and stores both as analysis-log entry `seq`.
fn commit(db: &Db, c: &mut Correlator, seq: u64, changes: &[AlertChange]) -> Committed {
    let incidents: Vec<_> = c
        .apply_batch(changes)
        .into_iter()
        .map(|i| (changes.len(), i))
        .collect();
    db.commit_analysis(&AnalysisCommit {
        first_seq: seq,
        seq,
        tenant: &tenant(),
        changes,
        incidents: &incidents,
        suppressed: &[],
        billing: &[],
        now_ms: 1_000 + seq as i64,
    })
    .unwrap()
}

fn correlator() -> Correlator {
    Correlator::new(IncidentConfig::default()).unwrap()
}

#[test]
fn incidents_are_stored_and_logged_with_the_alert_changes() {
    let db = db();
    let t = tenant();
    let mut c = correlator();
    let spray = alert(
        "spray",
        AlertType::EndpointSpray,
        "203.0.113.7",
        "edge-a",
        10_000,
    );
    assert_eq!(
        commit(&db, &mut c, 1, &[AlertChange::Raised(spray)]),
        Committed::Stored(Some(2)),
        "the alert, then the incident opened"
    );
    let inj = alert("inj", AlertType::Injection, "203.0.113.7", "edge-b", 20_000);
    commit(&db, &mut c, 2, &[AlertChange::Raised(inj)]);
    let log = db.alert_log_after(&t, 0, 100).unwrap();
    let kinds: Vec<(ChangeKind, Option<IncidentChangeKind>)> = log
        .iter()
        .map(|(_, r)| (r.kind, r.incident.as_ref().map(|i| i.change)))
        .collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::Raised, None),
            (ChangeKind::Incident, Some(IncidentChangeKind::Opened)),
            (ChangeKind::Raised, None),
            (ChangeKind::Incident, Some(IncidentChangeKind::Updated)),
        ]
    );
    let page = db
        .list_incidents(&t, &IncidentFilter::default(), None, 10, 1_000)
        .unwrap();
    assert_eq!(page.incidents.len(), 1, "one attacker, one incident");
    let rec = &page.incidents[0];
    assert_eq!(rec.facts.alert_ids, ["spray", "inj"]);
    assert_eq!(
        rec.facts.sensors.iter().collect::<Vec<_>>(),
        ["edge-a", "edge-b"]
    );
    assert_eq!(rec.facts.severity, Severity::High, "progression escalates");
    assert_eq!(
        (rec.state, rec.status),
        (IncidentState::Open, AlertStatus::Active)
    );
    assert_eq!(rec.opened_at_ms, 1_001);
    // Each alert names its incident: its record, and its own log entry already.
    for id in ["spray", "inj"] {
        let a = db.get_alert(&t, id).unwrap().unwrap();
        assert_eq!(a.incident_id, rec.facts.id, "{id}");
    }
    let raised = log[0].1.alert.as_ref().unwrap();
    assert_eq!(
        raised.incident_id, rec.facts.id,
        "the raised entry names it"
    );
    assert_eq!(
        db.get_incident(&t, &rec.facts.id).unwrap().as_ref(),
        Some(rec)
    );

    // The same entry stored again (a re-run after a crash) writes nothing.
    let again = alert("x", AlertType::Injection, "198.51.100.1", "edge-a", 30_000);
    assert_eq!(
        commit(&db, &mut correlator(), 2, &[AlertChange::Raised(again)]),
        Committed::AlreadyDone
    );
    assert_eq!(db.alert_log_after(&t, 0, 100).unwrap().len(), 4);
}

#[test]
fn operator_status_is_logged_and_survives_correlator_updates() {
    let db = db();
    let t = tenant();
    let mut c = correlator();
    let a = alert("a", AlertType::EndpointSpray, "203.0.113.7", "s1", 10_000);
    commit(&db, &mut c, 1, &[AlertChange::Raised(a.clone())]);
    let id = c.open_incidents().next().unwrap().id.clone();
    let (rec, cursor) = db
        .update_incident_status(
            &t,
            &id,
            AlertStatus::Acknowledged,
            "token:op",
            "looking",
            77,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.status, rec.status_at_ms),
        (AlertStatus::Acknowledged, 77)
    );
    let (_, logged) = db.alert_log_after(&t, cursor - 1, 1).unwrap().remove(0);
    let entry = logged.incident.unwrap();
    assert_eq!(entry.change, IncidentChangeKind::Status);
    assert_eq!(entry.incident.status_comment, "looking");
    // The correlator updates the facts; the operator's status stands.
    let mut later = a;
    later.last_seen_ms = 50_000;
    commit(&db, &mut c, 2, &[AlertChange::Updated(later)]);
    let rec = db.get_incident(&t, &id).unwrap().unwrap();
    assert_eq!(rec.facts.last_seen_ms, 50_000);
    assert_eq!(rec.status, AlertStatus::Acknowledged);
    assert_eq!(rec.status_by, "token:op");
    assert!(
        db.update_incident_status(&t, "nope", AlertStatus::Resolved, "x", "", 1)
            .unwrap()
            .is_none()
    );
}

#[test]
fn listings_filter_and_page_newest_first() {
    let db = db();
    let t = tenant();
    let mut c = correlator();
    // Three attackers, one alert each (each its own incident), an hour and more apart in
    // address only: 10 s apart in time.
    let alerts = [
        alert("a1", AlertType::EndpointSpray, "203.0.113.1", "s1", 10_000),
        alert("a2", AlertType::Injection, "203.0.113.2", "s2", 20_000),
        alert("a3", AlertType::BruteForce, "203.0.113.3", "s1", 30_000),
    ];
    for (i, a) in alerts.iter().enumerate() {
        commit(&db, &mut c, i as u64 + 1, &[AlertChange::Raised(a.clone())]);
    }
    let list = |f: IncidentFilter| -> Vec<String> {
        db.list_incidents(&t, &f, None, 10, 1_000)
            .unwrap()
            .incidents
            .iter()
            .map(|r| r.facts.alert_ids.join(","))
            .collect()
    };
    assert_eq!(list(IncidentFilter::default()), ["a3", "a2", "a1"]);
    let by_sensor = IncidentFilter {
        sensor: Some("s1".into()),
        ..Default::default()
    };
    assert_eq!(list(by_sensor), ["a3", "a1"]);
    let by_actor = IncidentFilter {
        actor: Some("203.0.113.2".into()),
        ..Default::default()
    };
    assert_eq!(list(by_actor), ["a2"]);
    let by_time = IncidentFilter {
        since_ms: 15_000,
        until_ms: 30_000,
        ..Default::default()
    };
    assert_eq!(list(by_time), ["a2"]);
    let id = db
        .list_incidents(&t, &IncidentFilter::default(), None, 1, 1_000)
        .unwrap()
        .incidents[0]
        .facts
        .id
        .clone();
    db.update_incident_status(&t, &id, AlertStatus::Resolved, "op", "", 5)
        .unwrap();
    let resolved = IncidentFilter {
        status: Some(AlertStatus::Resolved),
        ..Default::default()
    };
    assert_eq!(list(resolved), ["a3"]);
    let high = IncidentFilter {
        min_severity: Some(Severity::High),
        ..Default::default()
    };
    assert!(list(high).is_empty(), "single medium alerts stay medium");
    // Pages of one continue where the last stopped.
    let first = db
        .list_incidents(&t, &IncidentFilter::default(), None, 1, 1_000)
        .unwrap();
    let second = db
        .list_incidents(
            &t,
            &IncidentFilter::default(),
            first.next_token.as_deref(),
            1,
            1_000,
        )
        .unwrap();
    assert_eq!(second.incidents[0].facts.alert_ids, ["a2"]);
    // Another tenant sees nothing.
    let other = TenantId::new("other").unwrap();
    assert!(
        db.list_incidents(&other, &IncidentFilter::default(), None, 10, 1_000)
            .unwrap()
            .incidents
            .is_empty()
    );
}

#[test]
fn merged_and_closed_incidents_are_recorded() {
    let db = db();
    let t = tenant();
    let config = IncidentConfig {
        window_ms: 60_000,
        quiet_close_ms: 60_000,
        ..Default::default()
    };
    let mut c = Correlator::new(config).unwrap();
    // Two addresses, then a principal seen from both: the incidents merge.
    let a = alert("a", AlertType::EndpointSpray, "203.0.113.1", "s1", 10_000);
    let b = alert("b", AlertType::EndpointSpray, "203.0.113.2", "s2", 11_000);
    commit(
        &db,
        &mut c,
        1,
        &[AlertChange::Raised(a), AlertChange::Raised(b)],
    );
    let mut bridge = alert("c", AlertType::Injection, "203.0.113.2", "s1", 12_000);
    bridge.actors = vec![];
    bridge.actor.principal = Some("feed".into());
    let mut bridge2 = alert("d", AlertType::Injection, "203.0.113.1", "s1", 12_500);
    bridge2.actor.principal = Some("feed".into());
    commit(
        &db,
        &mut c,
        2,
        &[AlertChange::Raised(bridge), AlertChange::Raised(bridge2)],
    );
    let all = db
        .list_incidents(&t, &IncidentFilter::default(), None, 10, 1_000)
        .unwrap()
        .incidents;
    assert_eq!(all.len(), 1, "merged incidents are not listed");
    assert_eq!(all[0].facts.alert_ids.len(), 4);
    let log = db.alert_log_after(&t, 0, 100).unwrap();
    let merged: Vec<_> = log
        .iter()
        .filter_map(|(_, r)| r.incident.as_ref())
        .filter(|i| i.change == IncidentChangeKind::Merged)
        .collect();
    assert_eq!(merged.len(), 1);
    let gone = db
        .get_incident(&t, &merged[0].incident.facts.id)
        .unwrap()
        .unwrap();
    assert_eq!(gone.state, IncidentState::Merged);
    assert_eq!(gone.merged_into, all[0].facts.id);
    // The survivor took the absorbed incident's alerts over.
    for id in ["a", "b", "c", "d"] {
        let a = db.get_alert(&t, id).unwrap().unwrap();
        assert_eq!(a.incident_id, all[0].facts.id, "{id}");
    }
    // Quiet for longer than the quiet period: closed.
    let closed: Vec<_> = c.tick(200_000).into_iter().map(|i| (0, i)).collect();
    db.commit_analysis(&AnalysisCommit {
        first_seq: 3,
        seq: 3,
        tenant: &t,
        changes: &[],
        incidents: &closed,
        suppressed: &[],
        billing: &[],
        now_ms: 9,
    })
    .unwrap();
    let rec = db.get_incident(&t, &all[0].facts.id).unwrap().unwrap();
    assert_eq!((rec.state, rec.closed_at_ms), (IncidentState::Closed, 9));
    // Retention removes both records (the merged one and the survivor) and their pointers.
    assert_eq!(
        db.purge_incidents(&t, 12_000).unwrap(),
        0,
        "last seen 12.5 s"
    );
    assert_eq!(db.purge_incidents(&t, 13_000).unwrap(), 2);
    assert!(db.get_incident(&t, &rec.facts.id).unwrap().is_none());
    assert!(db.get_incident(&t, &gone.facts.id).unwrap().is_none());
}
