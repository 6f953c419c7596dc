//! `ListAlerts` at scale: stores 1,000,000 alerts in sled (one tenant) and times listing pages
//! with the filters operators use. Prints a table of p50/p99 per query.
//!
//! `cargo bench -p picket-controller --bench alert_list` (ALERTS=N overrides the count).

use picket_controller::store::Db;
use picket_controller::store::alert_query::{AlertFilter, MAX_ALERT_SCAN};
use picket_controller::store::alerts::AnalysisCommit;
use picket_controller::store::sled_store::SledStore;
use picket_detect::{Actor, AlertChange, AlertFacts, AlertStatus, AlertType, Severity};
use picket_shared::TenantId;
use std::sync::Arc;
use std::time::Instant;

fn facts(i: u64) -> AlertFacts {
    AlertFacts {
        id: format!("{i:016x}"),
        kind: Some(AlertType::ALL[(i % 16) as usize]),
        severity: Some(Severity::ALL[(i % 4) as usize]),
        host: format!("api{}.example", i % 100),
        method: "GET".into(),
        template: format!("/v1/items/{}/{{id}}", i % 1000),
        actor: Actor {
            ip: Some(std::net::IpAddr::from([
                10,
                (i >> 16) as u8,
                (i >> 8) as u8,
                i as u8,
            ])),
            principal: Some(format!("{:032x}", i % 5000)),
            user_agent: Some("curl/8.5.0".into()),
        },
        count: 3,
        first_seen_ms: 1_700_000_000_000 + i as i64 * 1000,
        last_seen_ms: 1_700_000_000_000 + i as i64 * 1000 + 500,
        evidence: vec!["rule:sqli.tautology".into(), "class:sqli".into()],
        ..Default::default()
    }
}

fn fill(db: &Db, tenant: &TenantId, n: u64) {
    const CHUNK: u64 = 2_000;
    let started = Instant::now();
    for (seq, start) in (0..n).step_by(CHUNK as usize).enumerate() {
        let changes: Vec<AlertChange> = (start..(start + CHUNK).min(n))
            .map(|i| AlertChange::Raised(facts(i)))
            .collect();
        db.commit_analysis(&AnalysisCommit {
            first_seq: seq as u64 + 1,
            seq: seq as u64 + 1,
            tenant,
            changes: &changes,
            incidents: &[],
            suppressed: &[],
            billing: &[],
            now_ms: 1,
        })
        .expect("commit");
    }
    db.flush().expect("flush");
    eprintln!(
        "stored {n} alerts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let n: u64 = std::env::var("ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::new(Arc::new(SledStore::open(dir.path()).expect("open")));
    let tenant = TenantId::new("bench").expect("tenant");
    fill(&db, &tenant, n);
    let mid = 1_700_000_000_000 + (n as i64 / 2) * 1000;
    let queries: Vec<(&str, AlertFilter)> = vec![
        ("newest, no filter", AlertFilter::default()),
        (
            "host (1 %)",
            AlertFilter {
                host: Some("api42.example".into()),
                ..Default::default()
            },
        ),
        (
            "min severity high (25 %)",
            AlertFilter {
                min_severity: Some(Severity::High),
                ..Default::default()
            },
        ),
        (
            "type (6 %)",
            AlertFilter {
                kind: Some(AlertType::Injection),
                ..Default::default()
            },
        ),
        (
            "status resolved (none)",
            AlertFilter {
                status: Some(AlertStatus::Resolved),
                ..Default::default()
            },
        ),
        (
            "actor principal (0.02 %)",
            AlertFilter {
                actor: Some(format!("{:032x}", 7)),
                ..Default::default()
            },
        ),
        (
            "time range (middle)",
            AlertFilter {
                since_ms: mid - 600_000,
                until_ms: mid,
                ..Default::default()
            },
        ),
    ];
    println!(
        "{:<28} {:>8} {:>9} {:>9}",
        "query (page 100)", "alerts", "p50 ms", "p99 ms"
    );
    for (name, f) in queries {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..200 {
            let t = Instant::now();
            let page = db
                .list_alerts(&tenant, &f, None, 100, MAX_ALERT_SCAN)
                .expect("list");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            found = page.alerts.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<28} {found:>8} {:>9.2} {:>9.2}",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
}
