//! Alert store tests: merge and operator ownership, listings, retention, the change log.

use super::alert_query::AlertFilter;
use super::alerts::{AnalysisCommit, ChangeKind, Committed};
use super::analysis_log::BillingNotice;
use super::memory::MemoryStore;
use super::{Db, Tree, keys};
use picket_detect::{Actor, AlertChange, AlertFacts, AlertStatus, AlertType, Severity};
use picket_shared::TenantId;
use std::sync::Arc;

fn db() -> Db {
    Db::new(Arc::new(MemoryStore::new()))
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn facts(id: &str, last_seen_ms: i64) -> AlertFacts {
    AlertFacts {
        id: id.into(),
        kind: Some(AlertType::Injection),
        severity: Some(Severity::Medium),
        host: "api".into(),
        method: "GET".into(),
        template: "/a".into(),
        count: 1,
        first_seen_ms: last_seen_ms,
        last_seen_ms,
        ..Default::default()
    }
}

/// Stores changes as if analysis-log entry `seq` produced them (the entry need not exist).
fn commit(db: &Db, seq: u64, changes: &[AlertChange], now_ms: i64) -> Committed {
    db.commit_analysis(&AnalysisCommit {
        first_seq: seq,
        seq,
        tenant: &tenant(),
        changes,
        incidents: &[],
        suppressed: &[],
        billing: &[],
        now_ms,
    })
    .unwrap()
}

#[test]
fn engine_updates_never_overwrite_the_operators_status() {
    let db = db();
    let t = tenant();
    assert_eq!(
        commit(&db, 1, &[AlertChange::Raised(facts("x", 100))], 5),
        Committed::Stored(Some(1))
    );
    let (rec, cursor) = db
        .update_alert_status(&t, "x", AlertStatus::Resolved, "token:op", "fixed", 7)
        .unwrap()
        .unwrap();
    assert_eq!((rec.status, cursor), (AlertStatus::Resolved, 2));
    assert!(
        db.update_alert_status(&t, "nope", AlertStatus::Resolved, "op", "", 7)
            .unwrap()
            .is_none()
    );
    let mut later = facts("x", 900);
    later.count = 5;
    assert_eq!(
        commit(&db, 2, &[AlertChange::Updated(later.clone())], 9),
        Committed::Stored(Some(3))
    );
    assert_eq!(
        commit(&db, 2, &[AlertChange::Updated(later.clone())], 9),
        Committed::AlreadyDone,
        "an entry is stored once"
    );
    let got = db.get_alert(&t, "x").unwrap().unwrap();
    assert_eq!(got.facts, later, "the engine owns the facts");
    assert_eq!(
        (got.status, got.status_by.as_str(), got.status_at_ms),
        (AlertStatus::Resolved, "token:op", 7)
    );
    assert_eq!(
        (got.status_comment.as_str(), got.raised_at_ms),
        ("fixed", 5)
    );
    // The index moved with last_seen: one record, no stale entry.
    let all = db
        .list_alerts(&t, &AlertFilter::default(), None, 10, 100)
        .unwrap();
    assert_eq!(all.alerts.len(), 1);
    let kinds: Vec<_> = db
        .alert_log_after(&t, 0, 10)
        .unwrap()
        .into_iter()
        .map(|(c, r)| (c, r.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, ChangeKind::Raised),
            (2, ChangeKind::Status),
            (3, ChangeKind::Updated)
        ]
    );
}

fn many(db: &Db) {
    let mut changes = Vec::new();
    for i in 0..60i64 {
        let mut f = facts(&format!("id{i:02}"), 1_000 + (i % 20) * 10);
        f.host = if i % 2 == 0 { "even" } else { "odd" }.into();
        f.severity = Some(Severity::ALL[(i % 4) as usize]);
        f.kind = Some(AlertType::ALL[(i % 3) as usize]);
        f.actor = Actor {
            ip: Some(format!("10.0.0.{}", i % 5).parse().unwrap()),
            principal: Some(format!("p{}", i % 7)),
            user_agent: None,
        };
        changes.push(AlertChange::Raised(f));
    }
    commit(db, 1, &changes, 1);
}

fn list_all(db: &Db, f: &AlertFilter, limit: usize, max_scan: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    for _ in 0..1_000 {
        let page = db
            .list_alerts(&tenant(), f, after.as_deref(), limit, max_scan)
            .unwrap();
        assert!(page.alerts.len() <= limit);
        out.extend(page.alerts.into_iter().map(|a| a.facts.id));
        match page.next_token {
            Some(t) => after = Some(t),
            None => return out,
        }
    }
    panic!("the listing never ended");
}

#[test]
fn listings_are_newest_first_filtered_and_paged() {
    let db = db();
    many(&db);
    let all = list_all(&db, &AlertFilter::default(), 7, 10_000);
    assert_eq!(all.len(), 60);
    let seen = |id: &str| 1_000 + (id[2..].parse::<i64>().unwrap() % 20) * 10;
    assert!(
        all.windows(2).all(|w| seen(&w[0]) >= seen(&w[1])),
        "newest first"
    );
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 60, "no duplicates across pages");

    let count = |f: AlertFilter| list_all(&db, &f, 5, 10_000).len();
    let even = AlertFilter {
        host: Some("even".into()),
        ..Default::default()
    };
    assert_eq!(count(even.clone()), 30);
    let high = AlertFilter {
        min_severity: Some(Severity::Medium),
        ..Default::default()
    };
    assert_eq!(count(high), 30);
    let kind = AlertFilter {
        kind: Some(AlertType::ALL[1]),
        ..Default::default()
    };
    assert_eq!(count(kind), 20);
    let ip = AlertFilter {
        actor: Some("10.0.0.3".into()),
        ..Default::default()
    };
    assert_eq!(count(ip), 12);
    let principal = AlertFilter {
        actor: Some("p0".into()),
        ..Default::default()
    };
    assert_eq!(count(principal), 9);
    let range = AlertFilter {
        since_ms: 1_050,
        until_ms: 1_100,
        ..Default::default()
    };
    let in_range = list_all(&db, &range, 4, 10_000);
    assert_eq!(in_range.len(), 15, "5 distinct times x 3 alerts each");
    assert!(in_range.iter().all(|id| (1_050..1_100).contains(&seen(id))));
    let status = AlertFilter {
        status: Some(AlertStatus::Resolved),
        ..Default::default()
    };
    assert_eq!(count(status), 0);

    // A scan budget of 4 returns partial pages with tokens, and still finds everything.
    let page = db.list_alerts(&tenant(), &even, None, 100, 4).unwrap();
    assert!(page.alerts.len() <= 4 && page.next_token.is_some());
    assert_eq!(list_all(&db, &even, 100, 4).len(), 30);
}

#[test]
fn retention_purges_alerts_and_their_log_and_keeps_the_oldest_cursor() {
    let db = db();
    let t = tenant();
    commit(&db, 1, &[AlertChange::Raised(facts("old", 100))], 100);
    commit(&db, 2, &[AlertChange::Raised(facts("new", 5_000))], 5_000);
    let notice = [BillingNotice {
        cycle_start_ms: 0,
        threshold_pct: 80,
    }];
    db.commit_analysis(&AnalysisCommit {
        first_seq: 3,
        seq: 3,
        tenant: &t,
        changes: &[],
        incidents: &[],
        suppressed: &[],
        billing: &notice,
        now_ms: 6_000,
    })
    .unwrap();
    assert_eq!(db.purge_alerts(&t, 1_000).unwrap(), (1, 1));
    assert!(db.get_alert(&t, "old").unwrap().is_none());
    assert!(db.get_alert(&t, "new").unwrap().is_some());
    assert!(
        db.kv
            .get(Tree::Alerts, &keys::by_id(&t, "old"))
            .unwrap()
            .is_none()
    );
    let bounds = db.alert_log_bounds(&t).unwrap();
    assert_eq!((bounds.purged, bounds.last), (1, 3));
    let rest = db.alert_log_after(&t, 0, 10).unwrap();
    assert_eq!(rest.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(rest[1].1.kind, ChangeKind::Billing);
    assert!(rest[1].1.notice.contains("80%"));
    use crate::grpc::alerts_watch::check_cursor;
    assert!(
        check_cursor(1, bounds).is_ok(),
        "resuming at the oldest kept works"
    );
    assert!(check_cursor(0, bounds).is_ok(), "0 starts at the end");
    assert!(check_cursor(3, bounds).is_ok());
    assert!(check_cursor(4, bounds).is_err(), "beyond the end");
    let purged = db.alert_log_bounds(&t).unwrap();
    let e = check_cursor(
        1,
        super::alert_query::LogBounds {
            purged: 2,
            ..purged
        },
    )
    .unwrap_err();
    assert!(
        matches!(e, crate::error::Error::OutOfRange(ref m) if m.contains("oldest cursor kept is 3")),
        "{e}"
    );
}

#[test]
fn the_log_reads_strictly_after_a_cursor() {
    let db = db();
    let t = tenant();
    for seq in 1..=5u64 {
        let f = facts(&format!("a{seq}"), seq as i64);
        commit(&db, seq, &[AlertChange::Raised(f)], seq as i64);
    }
    for after in 0..=5u64 {
        let got: Vec<u64> = db
            .alert_log_after(&t, after, 100)
            .unwrap()
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(got, ((after + 1)..=5).collect::<Vec<_>>());
    }
    assert_eq!(db.alert_log_after(&t, 1, 2).unwrap().len(), 2);
    let other = TenantId::new("other").unwrap();
    assert!(db.alert_log_after(&other, 0, 100).unwrap().is_empty());
}

#[test]
fn the_raw_prefilter_finds_exactly_the_substrings() {
    use super::time_index::contains;
    for (h, n, want) in [
        ("abcabd", "abd", true),
        ("abcab", "abd", false),
        ("aaab", "aab", true),
        ("x", "", true),
        ("", "a", false),
        ("ab", "abc", false),
    ] {
        assert_eq!(contains(h.as_bytes(), n.as_bytes()), want, "{h} {n}");
    }
}
