//! Incidents end to end: generated traffic with staged attacks goes through real sensor
//! processes into a real controller, and incidents come out of the Alerts service and
//! `picketctl incidents`.
//!
//! - one attacker's reconnaissance (endpoint spray) through sensor A and injection through
//!   sensor B form ONE incident naming both sensors and both alerts, escalated;
//! - two unrelated attackers form two incidents;
//! - a distributed attack (many addresses, one target, one pattern) forms one incident
//!   listing its actors;
//! - every alert names the incident it belongs to (`Alert.incident_id`);
//! - the same recorded traffic replayed into two fresh controllers gives the same incident
//!   ids.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::traffic::scenario::{Attack, Config, Truth, nginx_scenario};
use picket_tests::*;
use std::path::Path;

/// The generator's learning stretch is 10 minutes; the controller learns for the same.
const LEARNING: &str = "600";

/// Benign traffic, then an endpoint spray and an injection, each from its own attacker.
fn scenario() -> (Vec<String>, Truth, Truth) {
    let mut cfg = Config::new(11);
    cfg.attacks = vec![Attack::EndpointSpray, Attack::Injection];
    let (lines, truth) = nginx_scenario(&cfg);
    let spray = truth
        .iter()
        .find(|t| t.attack == Attack::EndpointSpray)
        .unwrap()
        .clone();
    let injection = truth
        .iter()
        .find(|t| t.attack == Attack::Injection)
        .unwrap()
        .clone();
    assert_ne!(spray.clients, injection.clients, "two attackers");
    (lines, spray, injection)
}

fn from(line: &str, ip: &str) -> bool {
    line.contains(&format!("\"remote_addr\":\"{ip}\""))
}

fn write(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

async fn stack() -> Stack {
    Stack::start_with(&["--learning-period-secs", LEARNING]).await
}

async fn all_incidents(url: &str, token: &str) -> Vec<pb::Incident> {
    let mut c = alerts_client(url, token).await;
    c.list_incidents(pb::ListIncidentsRequest {
        page: Some(pb::PageRequest {
            page_size: 1000,
            page_token: String::new(),
        }),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .incidents
}

/// The incidents naming `ip` among their actors.
fn of<'a>(incidents: &'a [pb::Incident], ip: &str) -> Vec<&'a pb::Incident> {
    incidents
        .iter()
        .filter(|i| i.actors.iter().any(|a| a.ip == ip))
        .collect()
}

fn describe(incidents: &[pb::Incident]) -> String {
    incidents
        .iter()
        .map(|i| {
            format!(
                "  {} {:?} sensors={:?} alerts={:?} stages={:?} — {}",
                i.id,
                i.actors.iter().map(|a| &a.ip).collect::<Vec<_>>(),
                i.sensors,
                i.alert_ids,
                i.stages,
                i.reason
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_attacker_across_two_sensors_is_one_incident() {
    let (lines, spray, injection) = scenario();
    let attacker = spray.clients[0].to_string();
    let other = injection.clients[0].to_string();
    let s = stack().await;
    // Gateway A sees the benign traffic and the spray; gateway B sees the injection, sent
    // by the same attacker (its address rewritten to the sprayer's).
    let a: Vec<String> = lines.iter().filter(|l| !from(l, &other)).cloned().collect();
    let b: Vec<String> = lines
        .iter()
        .filter(|l| from(l, &other))
        .map(|l| l.replace(&format!("\"{other}\""), &format!("\"{attacker}\"")))
        .collect();
    assert!(!b.is_empty());
    write(&s.path("a.json"), &a);
    write(&s.path("b.json"), &b);
    replay_file(&s, &s.path("a.json"), "gateway-a");
    replay_file(&s, &s.path("b.json"), "gateway-b");
    wait_analyzed(&s.controller).await;

    let alerts = all_alerts(&s.url(), &s.reader_token).await;
    let by_type = |t: &str| -> Vec<String> {
        alerts
            .iter()
            .filter(|a| a.r#type == t)
            .filter(|a| a.actor.as_ref().is_some_and(|x| x.ip == attacker))
            .map(|a| a.id.clone())
            .collect()
    };
    let (sprays, injections) = (by_type("endpoint_spray"), by_type("injection"));
    assert!(
        !sprays.is_empty() && !injections.is_empty(),
        "both alerts raised"
    );

    let incidents = all_incidents(&s.url(), &s.reader_token).await;
    let mine = of(&incidents, &attacker);
    assert_eq!(mine.len(), 1, "one incident:\n{}", describe(&incidents));
    let i = mine[0];
    assert_eq!(
        i.sensors,
        ["gateway-a", "gateway-b"],
        "{}",
        describe(&incidents)
    );
    for id in sprays.iter().chain(&injections) {
        assert!(i.alert_ids.contains(id), "{id} in {}", describe(&incidents));
    }
    // Each alert names its incident (on listings and on the watch stream's records alike).
    for a in alerts.iter().filter(|a| i.alert_ids.contains(&a.id)) {
        assert_eq!(a.incident_id, i.id, "alert {} names its incident", a.id);
    }
    assert_eq!(i.stages[..2], ["reconnaissance", "exploitation"]);
    assert_eq!(i.severity, pb::Severity::High as i32);
    assert!(i.severity >= i.alert_severity);
    // Escalated (progression and spread), already at the top: the reason says so.
    assert!(
        i.reason.contains("reconnaissance (endpoint_spray)") && i.reason.contains("2 sensors"),
        "{}",
        i.reason
    );

    // The CLI shows it, and an operator acknowledges it.
    let json = picketctl(
        &s.url(),
        &s.reader_token,
        &["-o", "json", "incidents", "list", "--actor", &attacker],
    );
    let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listed[0]["id"], i.id.as_str());
    assert_eq!(listed[0]["severity"], "high");
    assert_eq!(listed[0]["sensors"][1], "gateway-b");
    picketctl(&s.url(), &s.admin_token, &["incidents", "ack", &i.id]);
    let got = alerts_client(&s.url(), &s.reader_token)
        .await
        .get_incident(pb::GetIncidentRequest { id: i.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let inc = got.incident.unwrap();
    assert_eq!(inc.status, pb::AlertStatus::Acknowledged as i32);
    assert_eq!(got.alerts.len(), inc.alert_ids.len());
    // A reader may not change statuses.
    let denied = alerts_client(&s.url(), &s.reader_token)
        .await
        .update_incident_status(pb::UpdateIncidentStatusRequest {
            id: i.id.clone(),
            status: pb::AlertStatus::Resolved as i32,
            comment: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_attackers_are_two_incidents_with_the_same_ids_on_replay() {
    let (lines, spray, injection) = scenario();
    let (sprayer, injector) = (
        spray.clients[0].to_string(),
        injection.clients[0].to_string(),
    );
    let mut runs = Vec::new();
    for _ in 0..2 {
        let s = stack().await;
        write(&s.path("all.json"), &lines);
        replay_file(&s, &s.path("all.json"), "gateway-a");
        wait_analyzed(&s.controller).await;
        runs.push(all_incidents(&s.url(), &s.reader_token).await);
    }
    let first = &runs[0];
    let (a, b) = (of(first, &sprayer), of(first, &injector));
    assert_eq!((a.len(), b.len()), (1, 1), "{}", describe(first));
    assert_ne!(a[0].id, b[0].id, "unrelated attackers, two incidents");
    assert!(!a[0].actors.iter().any(|x| x.ip == injector));
    let ids = |r: &[pb::Incident]| -> Vec<(String, Vec<String>)> {
        let mut v: Vec<_> = r
            .iter()
            .map(|i| (i.id.clone(), i.alert_ids.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&runs[0]), ids(&runs[1]), "the same incidents on replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributed_attack_is_one_incident_listing_its_actors() {
    let mut cfg = Config::new(23);
    cfg.attacks = vec![Attack::DistributedParameterEnumeration];
    let (lines, truth) = nginx_scenario(&cfg);
    let t = truth
        .iter()
        .find(|t| t.attack == Attack::DistributedParameterEnumeration)
        .unwrap();
    let pool: Vec<String> = t.clients.iter().map(ToString::to_string).collect();
    assert!(pool.len() >= 10, "a pool of addresses");
    let s = stack().await;
    // Half the pool reaches the API through gateway A, half through gateway B.
    let (a, b): (Vec<String>, Vec<String>) = lines
        .iter()
        .cloned()
        .partition(|l| !pool[pool.len() / 2..].iter().any(|ip| from(l, ip)));
    write(&s.path("a.json"), &a);
    write(&s.path("b.json"), &b);
    replay_file(&s, &s.path("a.json"), "gateway-a");
    replay_file(&s, &s.path("b.json"), "gateway-b");
    wait_analyzed(&s.controller).await;

    let alerts = all_alerts(&s.url(), &s.reader_token).await;
    let distributed: Vec<&pb::Alert> = alerts
        .iter()
        .filter(|a| a.r#type == "distributed_parameter_enumeration")
        .collect();
    assert!(!distributed.is_empty(), "the distributed alert is raised");
    let incidents = all_incidents(&s.url(), &s.reader_token).await;
    let holding: Vec<&pb::Incident> = incidents
        .iter()
        .filter(|i| distributed.iter().any(|a| i.alert_ids.contains(&a.id)))
        .collect();
    assert_eq!(holding.len(), 1, "one incident:\n{}", describe(&incidents));
    let i = holding[0];
    for a in &distributed {
        assert!(i.alert_ids.contains(&a.id), "{}", describe(&incidents));
        assert_eq!(a.incident_id, i.id);
    }
    // It lists the pool's addresses (many actors) and nothing but attackers.
    let listed: Vec<&str> = i.actors.iter().map(|a| a.ip.as_str()).collect();
    assert!(
        listed.len() >= 5,
        "actors listed: {listed:?}\n{}",
        describe(&incidents)
    );
    // Suspects are the clients failing on the target in the attack's horizon: the pool, plus
    // at most a few benign users whose own lookups failed then (the detector cannot tell a
    // one-off 404 from a bot's; see README "Incidents").
    let outsiders: Vec<&&str> = listed
        .iter()
        .filter(|ip| !pool.iter().any(|p| p == *ip))
        .collect();
    assert!(
        outsiders.len() * 5 <= listed.len(),
        "mostly the pool: outsiders {outsiders:?} of {listed:?}"
    );
    // The pool is not split into incidents per member: any other incident naming pool
    // members is a target incident of another pattern (a population spike on the same
    // endpoint), listing many actors itself.
    let per_actor = incidents
        .iter()
        .filter(|x| x.id != i.id && x.actors.iter().any(|a| pool.contains(&a.ip)))
        .filter(|x| x.actors.len() < 5)
        .count();
    assert_eq!(per_actor, 0, "{}", describe(&incidents));
}
