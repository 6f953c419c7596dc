//! Incident-update latency and correlation cost under a steady alert load.
//!
//! A controller runs in this process (real gRPC over loopback, sled on disk). A producer
//! thread stands in for the analysis worker's output stage: every 10 ms it raises `RATE / 100`
//! new alerts (actors drawn from a pool of `ACTORS` addresses, five alert types that map to
//! different kill-chain stages, two sensors), runs them through the tenant's incident
//! correlator and stores alerts and incident changes in one analysis transaction
//! (`Db::commit_analysis`), then announces the new cursor, exactly as the worker does. The
//! detection engine itself is not in the loop (alerts cannot be made at 1,000/s from traffic
//! without also measuring the engine; `detect_latency` measures that path).
//!
//! A `WatchAlerts` client matches each incident change to the alerts it lists that are still
//! waiting, and records raised → incident change on the stream. Prints p50/p99/max, the rate
//! achieved, and the correlator's and the store's cost per alert.
//!
//!   cargo bench -p picket-tests --bench incident_latency [-- SECONDS RATE ACTORS]

use picket_cli::client::connect_url;
use picket_controller::store::alerts::{AnalysisCommit, Committed};
use picket_detect::{
    Actor, AlertChange, AlertFacts, AlertType, Correlator, IncidentConfig, Severity,
};
use picket_proto::v1 as pb;
use picket_shared::TenantId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Raise instants of the alerts not yet seen in an incident change, by alert id.
type Pending = Arc<Mutex<HashMap<String, Instant>>>;

const KINDS: [AlertType; 5] = [
    AlertType::EndpointSpray,
    AlertType::Injection,
    AlertType::BruteForce,
    AlertType::ParameterEnumeration,
    AlertType::LargeResponse,
];

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn alert(n: u64, rng: &mut Rng, actors: u64, now_ms: i64) -> AlertFacts {
    let a = rng.below(actors);
    let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
    AlertFacts {
        id: format!("bench-{n}"),
        kind: Some(kind),
        severity: Some(Severity::Medium),
        host: "shop.example.com".into(),
        method: "GET".into(),
        template: format!("/api/v1/items/{}", n % 50),
        actor: Actor {
            ip: Some(std::net::Ipv4Addr::new(198, 18, (a >> 8) as u8, a as u8).into()),
            ..Default::default()
        },
        sensors: [format!("edge-{}", n % 2)].into(),
        count: 1,
        first_seen_ms: now_ms,
        last_seen_ms: now_ms,
        ..Default::default()
    }
}

/// What the producer measured.
#[derive(Default)]
struct Produced {
    alerts: u64,
    correlate: Duration,
    commit: Duration,
}

fn producer(
    state: Arc<picket_controller::state::State>,
    rate: u64,
    actors: u64,
    stop: Arc<AtomicBool>,
    pending: Pending,
) -> anyhow::Result<Produced> {
    let tenant = TenantId::new("default")?;
    let mut correlator = Correlator::new(IncidentConfig::default())?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Produced::default();
    let per_slice = (rate / 100).max(1);
    let slice = Duration::from_millis(10);
    let start = Instant::now();
    // The analysis cursor is global: continue it (the worker, idle without traffic, then
    // counts these entries as analyzed, as it would its own).
    let first = state.db.analysis_done()? + 1;
    for tick in 0u32.. {
        let seq = first + u64::from(tick);
        if stop.load(Relaxed) {
            break;
        }
        let now_ms = picket_runtime::now_ms();
        let changes: Vec<AlertChange> = (0..per_slice)
            .map(|i| AlertChange::Raised(alert(out.alerts + i, &mut rng, actors, now_ms)))
            .collect();
        {
            let raised = Instant::now();
            let mut p = pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for c in &changes {
                p.insert(c.facts().id.clone(), raised);
            }
        }
        let t = Instant::now();
        let mut incidents: Vec<_> = correlator
            .apply_batch(&changes)
            .into_iter()
            .map(|c| (changes.len(), c))
            .collect();
        incidents.extend(
            correlator
                .tick(now_ms)
                .into_iter()
                .map(|c| (changes.len(), c)),
        );
        out.correlate += t.elapsed();
        let t = Instant::now();
        let committed = state.db.commit_analysis(&AnalysisCommit {
            first_seq: seq,
            seq,
            tenant: &tenant,
            changes: &changes,
            incidents: &incidents,
            suppressed: &[],
            billing: &[],
            now_ms,
        })?;
        state.db.flush()?;
        out.commit += t.elapsed();
        if let Committed::Stored(Some(cursor)) = committed {
            state.analysis.publish(&tenant, cursor);
        }
        out.alerts += per_slice;
        let next = start + slice * (tick + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let secs = args.first().copied().unwrap_or(30);
    let rate = args.get(1).copied().unwrap_or(1_000);
    let actors = args.get(2).copied().unwrap_or(5_000).max(1);
    let dir = tempfile::tempdir()?;
    let ip = picket_tests::InProcess::start(&dir.path().join("controller")).await?;
    let reader = picket_tests::create_token(&ip.url, &ip.admin_token, "", pb::Role::Reader).await;
    let mut alerts = pb::alerts_client::AlertsClient::new(
        connect_url(&ip.url, Some(&reader), Duration::from_secs(10)).await?,
    );
    let mut stream = alerts
        .watch_alerts(pb::WatchAlertsRequest::default())
        .await?
        .into_inner();

    let (stop, pending): (Arc<AtomicBool>, Pending) = Default::default();
    let p = {
        let (state, stop, pending) = (ip.controller.state.clone(), stop.clone(), pending.clone());
        std::thread::spawn(move || producer(state, rate, actors, stop, pending))
    };
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut changes = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let Ok(Ok(Some(change))) =
            tokio::time::timeout(Duration::from_secs(1), stream.message()).await
        else {
            continue;
        };
        let arrived = Instant::now();
        let Some(inc) = change.incident.and_then(|c| c.incident) else {
            continue;
        };
        changes += 1;
        let mut p = pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in &inc.alert_ids {
            if let Some(t) = p.remove(id) {
                latencies.push(arrived.duration_since(t).as_secs_f64() * 1e3);
            }
        }
    }
    stop.store(true, Relaxed);
    let produced = p
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    let elapsed = started.elapsed().as_secs_f64();
    let left = pending.lock().map_or(0, |p| p.len());
    ip.controller.shutdown().await?;
    anyhow::ensure!(!latencies.is_empty(), "no incident change arrived");
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let per = |d: Duration| d.as_secs_f64() * 1e6 / produced.alerts.max(1) as f64;
    println!("incident-update latency: alert raised → incident change on WatchAlerts");
    println!(
        "cores          {}",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    println!(
        "load           {:.0} alerts/s for {elapsed:.0} s ({} alerts, {actors} actors)",
        produced.alerts as f64 / elapsed,
        produced.alerts
    );
    println!(
        "matched        {} alerts via {changes} incident changes ({left} not seen by the end)",
        latencies.len()
    );
    println!("p50            {:.1} ms", q(0.50));
    println!("p99            {:.1} ms", q(0.99));
    println!("max            {:.1} ms", q(1.0));
    println!("correlation    {:.1} µs per alert", per(produced.correlate));
    println!(
        "store          {:.1} µs per alert (analysis transaction + flush, 10 alerts each)",
        per(produced.commit)
    );
    Ok(())
}
