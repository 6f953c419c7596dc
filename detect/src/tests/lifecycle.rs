//! Alert lifecycle: dedup, suppression, late data, several sensors, intel hits.

use super::traffic::{self, Item, MIN, T0, Traffic};
use super::{Run, attacks, by_window, config, ctx_with, feed, run_batches, stream};
use crate::model::{AlertChange, AlertFacts, AlertType, Severity};
use crate::{Context, Engine, Suppression};

fn injection_at(t: &mut Traffic, ip: &str, at: i64) {
    let w = traffic::who(ip, None);
    let e = traffic::ep("GET", "/api/search");
    t.notable(
        &e,
        &w,
        at,
        picket_shared::summary::NotableKind::Injection,
        "query:sqli.union-select",
        400,
    );
}

#[test]
fn repeats_within_the_dedup_window_update_one_alert() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let mut t = Traffic::default();
    for k in 0..5 {
        injection_at(&mut t, "203.0.113.50", T0 + k * MIN);
    }
    injection_at(
        &mut t,
        "203.0.113.50",
        T0 + 4 * MIN + config().dedup_window_ms + 1,
    );
    let items = t.finish();
    let mut e = Engine::new(config());
    let mut raised = 0;
    let mut updated = 0;
    for b in by_window(&items) {
        for c in feed(&mut e, "s1", b, &ctx).changes {
            match c {
                AlertChange::Raised(_) => raised += 1,
                AlertChange::Updated(f) => {
                    updated += 1;
                    assert_eq!(f.severity, Some(Severity::Medium));
                }
            }
        }
    }
    assert_eq!((raised, updated), (2, 4));
    assert_eq!(e.stats().alerts_raised, 2);
}

#[test]
fn suppressed_alerts_stay_suppressed_and_expired_rules_do_not_apply() {
    let intel = attacks::intel();
    let rule = Suppression {
        id: "pentest".into(),
        cidr: Some("203.0.113.0/24".into()),
        expires_ms: Some(1_000),
        ..Suppression::default()
    };
    let mut t = Traffic::default();
    for k in 0..3 {
        injection_at(&mut t, "203.0.113.50", T0 + k * MIN);
    }
    let items = t.finish();
    let batches = by_window(&items);
    let mut e = Engine::new(config());
    let sup = [rule];
    let live = Context {
        intel: &intel,
        suppressions: &sup,
        now_ms: 500,
    };
    let first = feed(&mut e, "s1", batches[0], &live);
    assert!(first.changes.is_empty());
    assert_eq!(first.suppressed.len(), 1);
    // The rule expired since, but the alert it swallowed stays swallowed.
    let later = Context {
        intel: &intel,
        suppressions: &sup,
        now_ms: 5_000,
    };
    for b in &batches[1..] {
        let out = feed(&mut e, "s1", b, &later);
        assert!(out.changes.is_empty());
        assert_eq!(out.suppressed[0].0, "pentest");
    }
    // A fresh engine with the expired rule raises.
    let mut fresh = Engine::new(config());
    let out = feed(&mut fresh, "s1", batches[0], &later);
    assert_eq!(out.changes.len(), 1);
    assert_eq!(fresh.stats().alerts_suppressed, 0);
    assert_eq!(e.stats().alerts_suppressed, 3);
}

#[test]
fn late_data_is_judged_but_not_learned() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let items = stream(1, 5, &[]);
    let mut e = Engine::new(config());
    let run = run_batches(&mut e, &by_window(&items), &ctx);
    assert_eq!(run.late, 0);
    let mut t = Traffic::default();
    let w = traffic::who("203.0.113.60", None);
    let old = T0 + MIN;
    t.add(
        &traffic::ep("GET", "/api/search"),
        &w,
        traffic::req(old, 200),
    );
    injection_at(&mut t, "203.0.113.60", old);
    let late = t.finish();
    let before = e.state_size();
    let out = feed(&mut e, "s1", &late, &ctx);
    assert_eq!(out.late, 2, "the summary and the actor summary");
    assert_eq!(e.stats().late, 2);
    assert_eq!(out.changes.len(), 1, "the injection is still judged");
    assert_eq!(e.state_size().endpoints, before.endpoints);
    // Another sensor has its own watermark: the same time is not late there.
    let out = feed(&mut e, "s2", &late[1..2], &ctx);
    assert!(matches!(late[1], Item::Actor(_)));
    assert_eq!(out.late, 0);
}

#[test]
fn one_alert_across_sensors_names_both() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let mut t = Traffic::default();
    injection_at(&mut t, "203.0.113.70", T0);
    let a = t.finish();
    let mut t = Traffic::default();
    injection_at(&mut t, "203.0.113.70", T0 + MIN);
    let b = t.finish();
    let mut e = Engine::new(config());
    let mut run = Run::default();
    run.absorb(feed(&mut e, "gw-east", &a, &ctx));
    run.absorb(feed(&mut e, "gw-west", &b, &ctx));
    assert_eq!(run.alerts.len(), 1);
    let f = run.alerts.values().next().expect("alert");
    assert_eq!(f.count, 2);
    let sensors: Vec<&str> = f.sensors.iter().map(String::as_str).collect();
    assert_eq!(sensors, ["gw-east", "gw-west"]);
}

#[test]
fn a_listed_address_gives_one_alert_naming_the_list() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let mut t = Traffic::default();
    attacks::attack(&mut t, AlertType::MaliciousIp, T0);
    attacks::attack(&mut t, AlertType::MaliciousIp, T0 + MIN);
    let items = t.finish();
    let run = run_batches(&mut Engine::new(config()), &by_window(&items), &ctx);
    let hits: Vec<&AlertFacts> = run
        .alerts
        .values()
        .filter(|f| f.kind == Some(AlertType::MaliciousIp))
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].count, 2);
    assert_eq!(hits[0].evidence, ["intel:tor-exits.txt"]);
    assert_eq!(hits[0].host, "api.example.com");
}
