#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::filter::*;
use super::render::*;
use crate::{AlertsCmd, Cli, Command, SuppressionsCmd};
use clap::Parser;
use picket_proto::v1 as pb;

const NOW: i64 = 1_795_251_600_000;

fn parse(args: &[&str]) -> Cli {
    let mut argv = vec!["picketctl", "--token", "t"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).unwrap()
}

#[test]
fn alerts_arguments_parse() {
    let cli = parse(&[
        "-o",
        "json",
        "alerts",
        "list",
        "--severity",
        "medium",
        "--status",
        "active",
        "--type",
        "injection",
        "--endpoint",
        "get /users/{id}",
        "--actor",
        "203.0.113.66",
        "--since",
        "15m",
        "--limit",
        "0",
    ]);
    let Command::Alerts(AlertsCmd::List(f)) = &cli.command else {
        panic!("{:?}", cli.command)
    };
    assert_eq!(f.limit, 0);
    let req = list_request(f, NOW).unwrap();
    assert_eq!(req.min_severity, pb::Severity::Medium as i32);
    assert_eq!(req.status, pb::AlertStatus::Active as i32);
    assert_eq!(
        (req.method.as_str(), req.template.as_str()),
        ("GET", "/users/{id}")
    );
    assert_eq!(req.r#type, "injection");
    assert_eq!(req.actor, "203.0.113.66");
    assert_eq!((req.since_ms, req.until_ms), (NOW - 900_000, 0));

    let Command::Alerts(AlertsCmd::List(f)) = parse(&["alerts", "list"]).command else {
        panic!()
    };
    assert_eq!(f.limit, 50);
    let req = list_request(&f, NOW).unwrap();
    assert_eq!(req, pb::ListAlertsRequest::default());

    let cli = parse(&["alerts", "list", "--method", "post", "--template", "/login"]);
    let Command::Alerts(AlertsCmd::List(f)) = &cli.command else {
        panic!()
    };
    let req = list_request(f, NOW).unwrap();
    assert_eq!(
        (req.method.as_str(), req.template.as_str()),
        ("POST", "/login")
    );
    // --endpoint and --method together are refused.
    assert!(
        Cli::try_parse_from([
            "picketctl",
            "alerts",
            "list",
            "--endpoint",
            "GET /a",
            "--method",
            "GET"
        ])
        .is_err()
    );

    let cli = parse(&["alerts", "ack", "a-1", "--comment", "looking"]);
    let Command::Alerts(AlertsCmd::Ack(s)) = &cli.command else {
        panic!()
    };
    assert_eq!(
        (s.id.as_str(), s.comment.as_deref()),
        ("a-1", Some("looking"))
    );
    assert!(matches!(
        parse(&["alerts", "dismiss", "x"]).command,
        Command::Alerts(AlertsCmd::Dismiss(_))
    ));
    assert!(matches!(
        parse(&["alerts", "resolve", "x"]).command,
        Command::Alerts(AlertsCmd::Resolve(_))
    ));
    let cli = parse(&["alerts", "watch", "--after", "42", "--snapshot"]);
    assert!(matches!(
        cli.command,
        Command::Alerts(AlertsCmd::Watch {
            after: Some(42),
            snapshot: true
        })
    ));
}

#[test]
fn filters_refuse_bad_values() {
    for args in [
        &["alerts", "list", "--severity", "critical"][..],
        &["alerts", "list", "--status", "open"],
        &["alerts", "list", "--since", "yesterday"],
        &["alerts", "list", "--endpoint", "users"],
        &["alerts", "list", "--since", "1h", "--until", "2h"],
    ] {
        let Command::Alerts(AlertsCmd::List(f)) = parse(args).command else {
            panic!()
        };
        assert!(list_request(&f, NOW).is_err(), "{args:?}");
    }
}

#[test]
fn times_and_spans() {
    assert_eq!(parse_span_ms("90s"), Some(90_000));
    assert_eq!(parse_span_ms("15m"), Some(900_000));
    assert_eq!(parse_span_ms("2h"), Some(7_200_000));
    assert_eq!(parse_span_ms("7d"), Some(604_800_000));
    assert_eq!(parse_span_ms("1w"), Some(604_800_000));
    for bad in ["", "m", "5", "-5m", "5y", "1.5h", "99999999999999d"] {
        assert_eq!(parse_span_ms(bad), None, "{bad}");
    }
    assert_eq!(parse_past("--since", "2h", NOW).unwrap(), NOW - 7_200_000);
    assert_eq!(parse_past("--since", "1795251600000", NOW).unwrap(), NOW);
    assert_eq!(
        parse_past("--since", "2026-11-21T09:00:00Z", 0).unwrap(),
        NOW
    );
    assert_eq!(parse_expiry("30d", NOW).unwrap(), NOW + 30 * 86_400_000);
    assert_eq!(parse_expiry("2026-11-21T09:00:00Z", 0).unwrap(), NOW);
    assert!(parse_expiry("soon", NOW).is_err());
}

#[test]
fn suppression_rules_from_flags() {
    let cli = parse(&[
        "suppressions",
        "add",
        "--cidr",
        "10.0.0.0/8",
        "--endpoint",
        "GET /health",
        "--type",
        "endpoint_spray",
        "--expires",
        "1d",
        "--comment",
        "probes",
    ]);
    let Command::Suppressions(SuppressionsCmd::Add(a)) = &cli.command else {
        panic!()
    };
    let rule = suppression(a, NOW).unwrap();
    assert_eq!(rule.cidr, "10.0.0.0/8");
    assert_eq!(
        (rule.method.as_str(), rule.template.as_str()),
        ("GET", "/health")
    );
    assert_eq!(rule.r#type, "endpoint_spray");
    assert_eq!(rule.expires_ms, NOW + 86_400_000);
    assert_eq!(rule.comment, "probes");
    let Command::Suppressions(SuppressionsCmd::Add(a)) = parse(&["suppressions", "add"]).command
    else {
        panic!()
    };
    assert!(suppression(&a, NOW).is_err());
    assert!(matches!(
        parse(&["suppressions", "list", "--all"]).command,
        Command::Suppressions(SuppressionsCmd::List { all: true })
    ));
    assert!(matches!(
        parse(&["suppressions", "delete", "s1"]).command,
        Command::Suppressions(SuppressionsCmd::Delete { .. })
    ));
    assert!(comment(Some(&"x".repeat(1025))).is_err());
}

fn sample_alert() -> pb::Alert {
    pb::Alert {
        id: "al-1".into(),
        tenant: "default".into(),
        r#type: "parameter_enumeration".into(),
        title: "One client walks many order ids".into(),
        severity: pb::Severity::High as i32,
        status: pb::AlertStatus::Acknowledged as i32,
        mitre_tactic: "Initial Access".into(),
        mitre_technique: "T1190".into(),
        host: "shop.example.com".into(),
        method: "GET".into(),
        template: "/api/v1/orders/{id}".into(),
        actor: Some(pb::Actor {
            ip: "198.51.100.41".into(),
            ..Default::default()
        }),
        actors: vec![],
        sensors: vec!["edge-1".into()],
        count: 3,
        first_seen_ms: NOW,
        last_seen_ms: NOW + 60_000,
        figures: vec![pb::Figure {
            name: "distinct_ids".into(),
            observed: 200.0,
            baseline: 4.0,
            unit: "ids".into(),
        }],
        evidence: vec!["status 404: 120".into()],
        remediation: "Check object-level authorization".into(),
        status_by: "tok-1".into(),
        status_comment: "on it".into(),
        ..Default::default()
    }
}

#[test]
fn alert_json_has_every_key() {
    let v = alert_json(&sample_alert());
    for key in [
        "id",
        "type",
        "title",
        "severity",
        "status",
        "mitre_tactic",
        "mitre_technique",
        "host",
        "endpoint",
        "actor",
        "actors",
        "sensors",
        "count",
        "first_seen",
        "last_seen",
        "observed",
        "baseline",
        "figures",
        "evidence",
        "remediation",
        "defender_alert",
        "status_by",
        "status_comment",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v.get("incident_id").is_none());
    assert_eq!(v["severity"], "high");
    assert_eq!(v["status"], "acknowledged");
    assert_eq!(
        v["endpoint"],
        serde_json::json!({"method": "GET", "template": "/api/v1/orders/{id}"})
    );
    assert_eq!(
        v["actor"],
        serde_json::json!({"ip": "198.51.100.41", "principal": null, "user_agent": null})
    );
    assert_eq!(v["observed"]["distinct_ids"], 200.0);
    assert_eq!(v["baseline"]["distinct_ids"], 4.0);
    assert_eq!(v["figures"][0]["unit"], "ids");
    assert_eq!(v["first_seen"], "2026-11-21T09:00:00.000Z");
    assert_eq!(v["defender_alert"], serde_json::Value::Null);

    let host_only = pb::Alert {
        method: String::new(),
        template: String::new(),
        actor: None,
        ..sample_alert()
    };
    let v = alert_json(&host_only);
    assert_eq!(
        v["endpoint"],
        serde_json::json!({"method": null, "template": null})
    );
    assert_eq!(
        v["actor"],
        serde_json::json!({"ip": null, "principal": null, "user_agent": null})
    );
    assert_eq!(alert_row(&host_only)[4..6], ["shop.example.com", "-"]);
    let row = alert_row(&sample_alert());
    assert_eq!(
        &row[..6],
        [
            "al-1",
            "high",
            "acknowledged",
            "parameter_enumeration",
            "GET /api/v1/orders/{id}",
            "198.51.100.41"
        ]
    );
    assert!(alert_text(&sample_alert()).contains("distinct_ids 200 ids (baseline 4)"));
    for (raw, name) in [
        (1, "informational"),
        (2, "low"),
        (3, "medium"),
        (4, "high"),
        (0, "unspecified"),
    ] {
        assert_eq!(severity_name(raw), name);
    }
    for (raw, name) in [
        (1, "active"),
        (2, "acknowledged"),
        (3, "resolved"),
        (4, "dismissed"),
    ] {
        assert_eq!(status_name(raw), name);
        assert_eq!(parse_status(name).unwrap() as i32, raw);
    }
}

#[test]
fn watch_lines() {
    let change = pb::AlertChange {
        kind: pb::alert_change::Kind::Raised as i32,
        cursor: 7,
        alert: Some(sample_alert()),
        notice: String::new(),
        at_ms: NOW,
        incident: None,
    };
    let line: serde_json::Value =
        serde_json::from_str(&change_line(&change, true).unwrap()).unwrap();
    assert_eq!(
        (line["kind"].as_str(), line["cursor"].as_u64()),
        (Some("raised"), Some(7))
    );
    assert_eq!(line["alert"]["id"], "al-1");
    assert!(change_line(&change, false).unwrap().starts_with("raised"));
    let bookmark = pb::AlertChange {
        kind: pb::alert_change::Kind::Bookmark as i32,
        cursor: 9,
        ..Default::default()
    };
    assert!(change_line(&bookmark, false).is_none());
    let line: serde_json::Value =
        serde_json::from_str(&change_line(&bookmark, true).unwrap()).unwrap();
    assert_eq!(
        (line["kind"].as_str(), line["cursor"].as_u64()),
        (Some("bookmark"), Some(9))
    );
}
