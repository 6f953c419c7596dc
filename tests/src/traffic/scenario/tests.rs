#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use picket_shared::inject::{Verdict, scan_target};

fn all_attacks(seed: u64) -> Config {
    Config {
        attacks: Attack::ALL.to_vec(),
        ..Config::new(seed)
    }
}

#[test]
fn same_seed_same_lines_other_seed_other_lines() {
    let (a, ta) = nginx_scenario(&all_attacks(1));
    let (b, tb) = nginx_scenario(&all_attacks(1));
    assert_eq!((a.clone(), ta), (b, tb));
    let (c, _) = nginx_scenario(&all_attacks(2));
    assert_ne!(a, c);
}

#[test]
fn benign_only_has_no_attack_records_and_no_truth() {
    let s = build(&Config::new(3));
    assert!(s.truth.is_empty());
    assert!(s.records.iter().all(|r| r.attack.is_none()));
    assert!(s.records.iter().all(|r| r.client != MALICIOUS_IP));
    assert!(
        s.records
            .iter()
            .all(|r| picket_shared::agents::suspicious(r.user_agent).is_none())
    );
    // Benign traffic never calls the balance without credentials.
    assert!(
        s.records
            .iter()
            .filter(|r| r.target == "/payments/v2/balance")
            .all(|r| r.authorization.is_some())
    );
    assert!(s.records.len() > 8_000, "{}", s.records.len());
}

#[test]
fn every_attack_is_staged_after_learning_with_its_truth() {
    let cfg = all_attacks(4);
    let s = build(&cfg);
    assert!(s.records.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
    assert_eq!(s.truth.len(), Attack::ALL.len());
    for (i, t) in s.truth.iter().enumerate() {
        assert_eq!(t.attack, Attack::ALL[i]);
        let mine: Vec<&LogRecord> = s
            .records
            .iter()
            .filter(|r| r.attack == Some(t.attack))
            .collect();
        assert_eq!(mine.len(), t.requests, "{:?}", t.attack);
        assert!(t.requests >= 3, "{:?}", t.attack);
        assert!(
            t.start_ms >= cfg.start_ms + cfg.learning_ms,
            "{:?}",
            t.attack
        );
        let (s0, s1) = cfg.slot(i);
        assert!(
            t.start_ms >= s0 && t.end_ms < s1,
            "{:?} outside its slot",
            t.attack
        );
        for r in &mine {
            assert!(
                t.clients.contains(&r.client),
                "{:?} from {}",
                t.attack,
                r.client
            );
            if let Some(tpl) = t.template {
                assert_eq!(Some(r.method), t.method);
                let path = r.target.split('?').next().unwrap();
                assert!(matches(tpl, path), "{:?}: {path} is not {tpl}", t.attack);
            }
        }
    }
}

/// Whether `path` is an instance of `template`.
fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| *t == "{id}" || t == p)
}

fn staged(attack: Attack) -> Vec<LogRecord> {
    let cfg = Config {
        attacks: vec![attack],
        ..Config::new(5)
    };
    build(&cfg)
        .records
        .into_iter()
        .filter(|r| r.attack == Some(attack))
        .collect()
}

#[test]
fn attacks_carry_their_signals() {
    for r in staged(Attack::Injection) {
        let mut v = Verdict::default();
        scan_target(&r.target, &mut v);
        assert!(v.is_attack(), "not flagged: {}", r.target);
    }
    for r in staged(Attack::SuspiciousUserAgent) {
        assert!(
            picket_shared::agents::suspicious(r.user_agent).is_some(),
            "{}",
            r.user_agent
        );
    }
    let spray = staged(Attack::EndpointSpray);
    assert!(spray.iter().filter(|r| r.status >= 403).count() * 10 >= spray.len() * 9);
    let brute = staged(Attack::BruteForce);
    assert!(brute.len() >= 200 && brute.iter().all(|r| r.status == 401 && r.method == "POST"));
    let stuffing = staged(Attack::CredentialStuffing);
    let users: std::collections::HashSet<_> =
        stuffing.iter().map(|r| r.authorization.clone()).collect();
    assert!(users.len() >= 300, "{}", users.len());
    assert!(
        staged(Attack::AuthBypass)
            .iter()
            .all(|r| r.authorization.is_none() && r.status == 200)
    );
    assert!(
        staged(Attack::UnseenParameter)
            .iter()
            .all(|r| r.target.contains("is_admin="))
    );
    assert!(
        staged(Attack::LargeResponse)
            .iter()
            .all(|r| r.response_bytes >= 50 * 2_600)
    );
    let dist = staged(Attack::DistributedParameterEnumeration);
    let ips: std::collections::HashSet<_> = dist.iter().map(|r| r.client).collect();
    assert_eq!(ips.len(), 30);
    assert!(dist.iter().filter(|r| r.status == 404).count() * 2 > dist.len());
    assert!(
        staged(Attack::MaliciousIp)
            .iter()
            .all(|r| r.client == MALICIOUS_IP)
    );
}

#[test]
fn nginx_lines_carry_event_time_and_credentials() {
    let cfg = Config {
        attacks: vec![Attack::BruteForce],
        ..Config::new(6)
    };
    let (lines, truth) = nginx_scenario(&cfg);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let msec: f64 = first["msec"].as_str().unwrap().parse().unwrap();
    assert!((msec * 1000.0 - cfg.start_ms as f64).abs() < 2_000.0);
    for key in [
        "remote_addr",
        "request_method",
        "request_uri",
        "status",
        "body_bytes_sent",
        "request_length",
        "request_time",
        "http_user_agent",
        "http_authorization",
    ] {
        assert!(first.get(key).is_some(), "{key}");
    }
    let t = &truth[0];
    let brute: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["remote_addr"] == t.clients[0].to_string())
        .collect();
    assert_eq!(brute.len(), t.requests);
    assert!(brute.iter().all(|v| {
        v["http_authorization"]
            .as_str()
            .unwrap()
            .starts_with("Basic ")
    }));
    assert_eq!(base64(b"alice:secret"), "YWxpY2U6c2VjcmV0");
    assert_eq!(base64(b"ab"), "YWI=");
}

#[test]
fn bundled_sample_is_current() {
    // Regenerate with `cargo run -q -p picket-tests --bin picket-gen-sample`.
    let (lines, truth) = nginx_scenario(&demo_config());
    let (a, b, truth) = demo_gateways(&lines, &truth);
    assert!(!b.is_empty() && a.len() + b.len() == lines.len());
    let bundled = include_str!("../../../data/sample-access.json");
    assert!(
        bundled.lines().eq(a.iter().map(String::as_str)),
        "tests/data/sample-access.json is stale"
    );
    assert!(bundled.len() <= 3 << 20, "{} bytes", bundled.len());
    let bundled_b = include_str!("../../../data/sample-access-b.json");
    assert!(
        bundled_b.lines().eq(b.iter().map(String::as_str)),
        "tests/data/sample-access-b.json is stale"
    );
    let truth_file: serde_json::Value =
        serde_json::from_str(include_str!("../../../data/sample-truth.json")).unwrap();
    assert_eq!(truth_file, truth_json(&truth));
    let intel = include_str!("../../../data/threat-intel.txt");
    assert!(intel.lines().any(|l| l.trim() == MALICIOUS_IP.to_string()));
}

#[test]
fn the_sensor_parses_every_line_as_generated() {
    use picket_sensor::identity::{Identifier, PrincipalKey};
    use picket_sensor::sources::nginx::{LineContext, LogFormat, parse_line};
    let ident = Identifier::new(PrincipalKey::from_bytes([7; 32]), Vec::new());
    let ctx = LineContext {
        default_host: "default",
        now_ms: 0,
        ident: &ident,
    };
    let s = build(&all_attacks(8));
    let mut stuffing_principals = std::collections::HashSet::new();
    for r in &s.records {
        let line = nginx_json(r);
        let rec = parse_line(LogFormat::Json, line.as_bytes(), &ctx)
            .unwrap_or_else(|e| panic!("{} rejected: {line}", e.reason()));
        assert_eq!(rec.ts_ms, r.ts_ms);
        assert_eq!((rec.method.as_str(), rec.status), (r.method, r.status));
        assert_eq!(rec.client_ip, Some(std::net::IpAddr::V4(r.client)));
        assert_eq!(rec.auth_present, r.authorization.is_some(), "{line}");
        assert_eq!(rec.latency_us, r.latency_ms * 1000);
        assert_eq!(rec.response_bytes, r.response_bytes);
        if r.attack == Some(Attack::SuspiciousUserAgent) {
            assert!(rec.agent.is_some(), "{line}");
        }
        if r.attack == Some(Attack::CredentialStuffing) {
            stuffing_principals.insert(rec.principal.expect("a Basic user is a principal"));
        }
    }
    assert!(stuffing_principals.len() >= 300);
}
