//! Detection end to end: the seeded generator's benign traffic and attacks go through the real
//! sensor into the real controller, and the alerts come out of the Alerts service.
//!
//! - every staged attack raises its alert type on the right endpoint and actor, and the same
//!   recorded traffic tailed live raises the same alerts as its replay;
//! - benign traffic alone (a seed the thresholds were not tuned on) raises no medium or high
//!   alert;
//! - a controller killed with `kill -9` while traffic flows ends with the same alerts, each
//!   once, as an uninterrupted run;
//! - a watcher that disconnects and resumes from its cursor misses and repeats nothing; a
//!   suppressed alert never surfaces; an expired suppression stops suppressing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::traffic::scenario::{Attack, Config, MALICIOUS_IP, Truth, nginx_scenario};
use picket_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The generator's learning stretch is 10 minutes; the controller learns for the same.
const LEARNING: &str = "600";

fn intel_file(dir: &Path) -> PathBuf {
    let path = dir.join("intel.txt");
    std::fs::write(&path, format!("# test list\n{MALICIOUS_IP}\n")).unwrap();
    path
}

async fn detecting_stack(dir_for_intel: &Path) -> Stack {
    let intel = intel_file(dir_for_intel);
    Stack::start_with(&[
        "--learning-period-secs",
        LEARNING,
        "--threat-intel",
        intel.to_str().unwrap(),
    ])
    .await
}

fn write_scenario(path: &Path, cfg: &Config) -> Vec<Truth> {
    let (lines, truth) = nginx_scenario(cfg);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    truth
}

/// Whether `alert` reports `truth`: same type, the attacked endpoint when the attack had one,
/// and an attacker among its actors when the attack came from few addresses.
fn reports(alert: &pb::Alert, truth: &Truth) -> bool {
    if alert.r#type != truth.attack.type_id() || alert.host != truth.host {
        return false;
    }
    if let Some(t) = truth.template
        && alert.template != t
    {
        return false;
    }
    if truth.clients.len() > 3 {
        return true;
    }
    let ips: BTreeSet<String> = alert
        .actor
        .iter()
        .chain(&alert.actors)
        .map(|a| a.ip.clone())
        .collect();
    truth.clients.iter().any(|c| ips.contains(&c.to_string()))
}

fn describe(alerts: &[pb::Alert]) -> String {
    alerts
        .iter()
        .map(|a| format!("  {} [{}]", alert_key(a), a.severity))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_raises_its_alert_live_and_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(11);
    cfg.attacks = Attack::ALL.to_vec();
    let file = tmp.path().join("scenario.json");
    let truth = write_scenario(&file, &cfg);
    assert_eq!(truth.len(), Attack::ALL.len());

    let replayed = detecting_stack(tmp.path()).await;
    replay_file(&replayed, &file, "replay");
    wait_analyzed(&replayed.controller).await;
    let alerts = all_alerts(&replayed.url(), &replayed.reader_token).await;
    let missed: Vec<String> = truth
        .iter()
        .filter(|t| !alerts.iter().any(|a| reports(a, t)))
        .map(|t| format!("{:?} on {:?} from {:?}", t.attack, t.template, t.clients))
        .collect();
    assert!(
        missed.is_empty(),
        "attacks without their alert:\n  {}\nalerts raised:\n{}",
        missed.join("\n  "),
        describe(&alerts)
    );

    // No medium or high alert blames a benign client or a benign-only endpoint.
    let attackers: BTreeSet<String> = truth
        .iter()
        .flat_map(|t| t.clients.iter().map(|c| c.to_string()))
        .collect();
    let attacked: BTreeSet<&str> = truth.iter().filter_map(|t| t.template).collect();
    let blamed: Vec<pb::Alert> = alerts
        .iter()
        .filter(|a| a.severity >= pb::Severity::Medium as i32)
        .filter(|a| match a.actor.as_ref().map(|x| x.ip.as_str()) {
            Some(ip) if !ip.is_empty() => !attackers.contains(ip),
            _ => !attacked.contains(a.template.as_str()),
        })
        .cloned()
        .collect();
    assert!(
        blamed.is_empty(),
        "medium/high alerts on benign clients:\n{}",
        describe(&blamed)
    );

    // The same recorded traffic tailed live: the same alerts.
    let live = detecting_stack(tmp.path()).await;
    let lines = std::fs::read_to_string(&file).unwrap().lines().count() as u64;
    let log = live.path("access.json");
    std::fs::copy(&file, &log).unwrap();
    let _sensor = live.file_sensor("live", &log);
    live.wait_exact("live", lines, lines).await;
    wait_analyzed(&live.controller).await;
    let live_alerts = all_alerts(&live.url(), &live.reader_token).await;
    let keys = |v: &[pb::Alert]| v.iter().map(alert_key).collect::<BTreeSet<_>>();
    assert_eq!(keys(&live_alerts), keys(&alerts), "live and replay differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn benign_traffic_raises_no_medium_or_high_alert() {
    let tmp = tempfile::tempdir().unwrap();
    // Seed 4242 was never used to tune thresholds.
    let cfg = Config::new(4242);
    let file = tmp.path().join("benign.json");
    write_scenario(&file, &cfg);
    let stack = detecting_stack(tmp.path()).await;
    replay_file(&stack, &file, "benign");
    wait_analyzed(&stack.controller).await;
    let alerts = all_alerts(&stack.url(), &stack.reader_token).await;
    let loud: Vec<pb::Alert> = alerts
        .into_iter()
        .filter(|a| a.severity >= pb::Severity::Medium as i32)
        .collect();
    assert!(
        loud.is_empty(),
        "benign traffic raised:\n{}",
        describe(&loud)
    );
}

/// Alerts as (id → count, first seen, last seen).
fn by_id(alerts: &[pb::Alert]) -> BTreeMap<String, (u64, i64, i64, String)> {
    alerts
        .iter()
        .map(|a| {
            (
                a.id.clone(),
                (a.count, a.first_seen_ms, a.last_seen_ms, alert_key(a)),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_kill9_while_analyzing_keeps_every_alert_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(23);
    cfg.duration_ms = 20 * 60_000;
    cfg.attacks = vec![
        Attack::EndpointSpray,
        Attack::Injection,
        Attack::BruteForce,
        Attack::MaliciousIp,
    ];
    let file = tmp.path().join("scenario.json");
    write_scenario(&file, &cfg);
    let all: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    // Reference: the same sensor input, no crash.
    let reference = detecting_stack(tmp.path()).await;
    let log = reference.path("access.json");
    append(&log, &all);
    let _s = reference.file_sensor("edge", &log);
    reference
        .wait_exact("edge", all.len() as u64, all.len() as u64)
        .await;
    wait_analyzed(&reference.controller).await;
    let want = by_id(&all_alerts(&reference.url(), &reference.reader_token).await);
    assert!(want.len() >= 4, "reference raised too little: {want:?}");

    // The same traffic in four parts, with a kill -9 after each of the first three.
    let mut stack = detecting_stack(tmp.path()).await;
    let log = stack.path("access.json");
    let _sensor = stack.file_sensor("edge", &log);
    let quarter = all.len().div_ceil(4);
    for (i, part) in all.chunks(quarter).enumerate() {
        append(&log, part);
        if i == 3 {
            break;
        }
        // Let part of it be committed and (maybe) analyzed, then crash.
        let handle = stack.clone_handle();
        let floor = (i * quarter) as u64;
        eventually(Duration::from_secs(30), "some progress", || {
            let handle = handle.clone();
            async move { (handle.committed("edge").await? > floor).then_some(()) }
        })
        .await;
        let (addr, dir) = (
            stack.controller.addr.clone(),
            stack.controller.data_dir.clone(),
        );
        stack.controller.proc.kill9();
        let intel = intel_file(tmp.path());
        stack.controller = ControllerProc::start_with(
            &dir,
            &addr,
            &[
                "--learning-period-secs",
                LEARNING,
                "--threat-intel",
                intel.to_str().unwrap(),
            ],
        );
    }
    stack
        .wait_exact("edge", all.len() as u64, all.len() as u64)
        .await;
    wait_analyzed(&stack.controller).await;
    let got = by_id(&all_alerts(&stack.url(), &stack.reader_token).await);
    assert_eq!(
        got, want,
        "alerts after crashes differ from an uninterrupted run"
    );
}

/// Reads changes from a watch stream until `quiet` passes without an alert change
/// (bookmarks do not count), or `max` changes arrived.
async fn drain(
    stream: &mut tonic::Streaming<pb::AlertChange>,
    quiet: Duration,
    max: usize,
) -> Vec<pb::AlertChange> {
    let mut out = Vec::new();
    let mut deadline = tokio::time::Instant::now() + quiet;
    while out.len() < max {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(c))) => {
                if c.kind != pb::alert_change::Kind::Bookmark as i32 {
                    out.push(c);
                    deadline = tokio::time::Instant::now() + quiet;
                }
            }
            Ok(Ok(None)) | Err(_) => break,
            Ok(Err(e)) => panic!("watch failed: {e}"),
        }
    }
    out
}

async fn watch(url: &str, token: &str, after: u64) -> tonic::Streaming<pb::AlertChange> {
    let mut c = alerts_client(url, token).await;
    c.watch_alerts(pb::WatchAlertsRequest {
        after_cursor: after,
        snapshot: false,
        bookmark_interval_ms: 200,
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_exactly_and_suppressions_hold_until_they_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(31);
    cfg.duration_ms = 20 * 60_000;
    cfg.attacks = vec![Attack::Injection, Attack::EndpointSpray, Attack::BruteForce];
    let file = tmp.path().join("scenario.json");
    let truth = write_scenario(&file, &cfg);
    let attacker = |a: Attack| truth.iter().find(|t| t.attack == a).unwrap().clients[0];

    let stack = detecting_stack(tmp.path()).await;
    let operator = create_token(&stack.url(), &stack.admin_token, "", pb::Role::Operator).await;
    let mut admin = alerts_client(&stack.url(), &operator).await;
    // Injection from its attacker: suppressed for good. Spray: a rule that expires first.
    admin
        .create_suppression(pb::CreateSuppressionRequest {
            rule: Some(pb::Suppression {
                cidr: format!("{}/32", attacker(Attack::Injection)),
                r#type: "injection".into(),
                comment: "pen test".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let now_ms = picket_runtime::now_ms();
    admin
        .create_suppression(pb::CreateSuppressionRequest {
            rule: Some(pb::Suppression {
                cidr: attacker(Attack::EndpointSpray).to_string(),
                expires_ms: now_ms + 1_500,
                comment: "short".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();

    let mut steady = watch(&stack.url(), &stack.reader_token, 0).await;
    let mut flaky = watch(&stack.url(), &stack.reader_token, 0).await;
    // The short rule expires before any traffic arrives.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    replay_file(&stack, &file, "edge");
    wait_analyzed(&stack.controller).await;

    let all = drain(&mut steady, Duration::from_secs(3), usize::MAX).await;
    assert!(all.len() >= 2, "too few changes: {all:?}");
    // The flaky watcher reads a few changes, drops the stream, resumes from its cursor.
    let mut seen = drain(&mut flaky, Duration::from_secs(3), 2).await;
    drop(flaky);
    let last = seen.last().map(|c| c.cursor).unwrap();
    let mut resumed = watch(&stack.url(), &stack.reader_token, last).await;
    seen.extend(drain(&mut resumed, Duration::from_secs(3), usize::MAX).await);
    let ids = |v: &[pb::AlertChange]| {
        v.iter()
            .map(|c| (c.cursor, c.alert.as_ref().map(|a| a.id.clone())))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&seen), ids(&all), "resumed watcher differs");
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));

    let alerts = all_alerts(&stack.url(), &stack.reader_token).await;
    let inj = attacker(Attack::Injection).to_string();
    assert!(
        !alerts
            .iter()
            .any(|a| a.r#type == "injection" && a.actor.as_ref().is_some_and(|x| x.ip == inj)),
        "a suppressed alert surfaced:\n{}",
        describe(&alerts)
    );
    let spray = attacker(Attack::EndpointSpray).to_string();
    assert!(
        alerts.iter().any(
            |a| a.r#type == "endpoint_spray" && a.actor.as_ref().is_some_and(|x| x.ip == spray)
        ),
        "the expired rule still suppressed the spray:\n{}",
        describe(&alerts)
    );
    assert!(alerts.iter().any(|a| a.r#type == "brute_force"));
    let rules = admin
        .list_suppressions(pb::ListSuppressionsRequest {
            include_expired: false,
        })
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(rules.len(), 1, "the expired rule is not listed: {rules:?}");
    assert!(rules[0].hits >= 1, "the injection rule counted no hit");
}
