//! The incident correlator alone, on one core: alert changes per second and nanoseconds per
//! change for a stream of 1,000,000 changes from about 50,000 actors over a day of event
//! time — repeat actors (each active for about half an hour, ~20 alerts), principals shared
//! by two addresses (bridges), distributed alerts on 200 endpoints, updates of recent alerts,
//! a tick every 1,000 changes — then the serialized state size. The stream is generated in
//! chunks outside the timed part. Two ways to feed it: one change per `apply` (every change
//! reports the full facts of its incident), and `apply_batch` over 100 changes (the alert
//! changes of one analysis; each touched incident reported once). Prints medians of runs.
//!
//!   cargo bench -p picket-detect --bench correlate [-- RUNS]

use picket_detect::incident::{Correlator, IncidentConfig, IncidentStats};
use picket_detect::{Actor, AlertChange, AlertFacts, AlertType, Severity};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

const T0: i64 = 1_800_000_000_000;
/// Alert changes in the stream.
const CHANGES: u64 = 1_000_000;
/// Distinct actors (addresses).
const ACTORS: u64 = 50_000;
/// Event time between changes: a day over the stream.
const STEP_MS: i64 = 86_400_000 / CHANGES as i64;
/// Changes generated (untimed) per timed chunk.
const CHUNK: u64 = 10_000;
/// A tick every this many changes.
const TICK_EVERY: u64 = 1_000;
/// Changes per `apply_batch` in the batched mode (divides `TICK_EVERY`).
const BATCH: usize = 100;
/// Recent alerts that updates pick from.
const RECENT: usize = 4_096;

/// A 64-bit mix (splitmix64), so the stream is the same on every run.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn address(a: u64) -> IpAddr {
    IpAddr::from([10, (a >> 16) as u8, (a >> 8) as u8, a as u8])
}

/// The stream generator.
struct Gen {
    i: u64,
    recent: Vec<AlertFacts>,
}

impl Gen {
    fn now(&self) -> i64 {
        T0 + self.i as i64 * STEP_MS
    }

    fn next(&mut self) -> AlertChange {
        let r = mix(self.i);
        let now = self.now();
        self.i += 1;
        // 20 %: an update of a recent alert.
        if r.is_multiple_of(5) && !self.recent.is_empty() {
            let mut f = self.recent[(r >> 8) as usize % self.recent.len()].clone();
            f.last_seen_ms = f.last_seen_ms.max(now);
            f.count += 1;
            return AlertChange::Updated(f);
        }
        let f = if r % 10 == 1 {
            self.distributed(r, now)
        } else {
            self.single(r, now)
        };
        if self.recent.len() < RECENT {
            self.recent.push(f.clone());
        } else {
            self.recent[(r >> 20) as usize % RECENT] = f.clone();
        }
        AlertChange::Raised(f)
    }

    /// An alert from one actor of the sliding active set (~1,000 actors at a time); actors
    /// 2k and 2k+1 share a principal when k is a multiple of 5, named on half of their
    /// alerts (so the principal joins them, sometimes by merging two incidents).
    fn single(&self, r: u64, now: i64) -> AlertFacts {
        const SINGLE: [AlertType; 13] = [
            AlertType::ClientTrafficSpike,
            AlertType::LargeResponse,
            AlertType::LargeRequestBody,
            AlertType::LatencySpike,
            AlertType::EndpointSpray,
            AlertType::ParameterEnumeration,
            AlertType::UnseenParameter,
            AlertType::AnomalousParameterType,
            AlertType::Injection,
            AlertType::BruteForce,
            AlertType::AuthBypass,
            AlertType::MaliciousIp,
            AlertType::SuspiciousUserAgent,
        ];
        let a = (self.i / 20 + (r >> 32) % 1_000) % ACTORS;
        let principal =
            ((a / 2).is_multiple_of(5) && (r >> 4) & 1 == 1).then(|| format!("{:064x}", a / 2));
        let kind = SINGLE[(r >> 12) as usize % SINGLE.len()];
        let actor = Actor {
            ip: Some(address(a)),
            principal,
            user_agent: None,
        };
        alert(self.i, kind, (r >> 24) % 200, actor, Vec::new(), r, now)
    }

    /// A distributed alert on one of 200 endpoints listing 16 actors.
    fn distributed(&self, r: u64, now: i64) -> AlertFacts {
        let kind = [
            AlertType::CredentialStuffing,
            AlertType::DistributedParameterEnumeration,
            AlertType::PopulationTrafficSpike,
        ][(r >> 12) as usize % 3];
        let actors = (0..16)
            .map(|j| Actor {
                ip: Some(address((r >> 40).wrapping_add(j) % ACTORS)),
                ..Actor::default()
            })
            .collect();
        alert(
            self.i,
            kind,
            (r >> 24) % 200,
            Actor::default(),
            actors,
            r,
            now,
        )
    }
}

fn alert(
    i: u64,
    kind: AlertType,
    endpoint: u64,
    actor: Actor,
    actors: Vec<Actor>,
    r: u64,
    now: i64,
) -> AlertFacts {
    AlertFacts {
        id: format!("{:016x}", mix(i ^ 0x5555)),
        kind: Some(kind),
        severity: Some(Severity::ALL[(r >> 50) as usize % 4]),
        host: format!("api{}.example.com", endpoint % 10),
        method: "GET".into(),
        template: format!("/api/v1/resource{endpoint}/{{id}}"),
        actor,
        actors,
        sensors: BTreeSet::from([format!("sensor-{}", (r >> 56) % 3)]),
        count: 1,
        first_seen_ms: now,
        last_seen_ms: now,
        ..AlertFacts::default()
    }
}

/// One run, `batch` changes per call (1: `apply`): (seconds correlating, changes,
/// serialized state bytes and open incidents at the end, seconds to serialize, stats).
fn run(batch: usize) -> (f64, u64, usize, usize, f64, IncidentStats) {
    let mut c = Correlator::new(IncidentConfig::default()).expect("default config is valid");
    let mut g = Gen {
        i: 0,
        recent: Vec::with_capacity(RECENT),
    };
    let mut secs = 0.0;
    let mut emitted = 0usize;
    while g.i < CHANGES {
        let first = g.i;
        let chunk: Vec<AlertChange> = (0..CHUNK).map(|_| g.next()).collect();
        let start = Instant::now();
        for (n, part) in chunk.chunks(batch).enumerate() {
            emitted += if batch == 1 {
                c.apply(&part[0]).len()
            } else {
                c.apply_batch(part).len()
            };
            let done = first + ((n + 1) * batch) as u64;
            if done.is_multiple_of(TICK_EVERY) {
                emitted += c.tick(T0 + done as i64 * STEP_MS).len();
            }
        }
        secs += start.elapsed().as_secs_f64();
    }
    std::hint::black_box(emitted);
    let start = Instant::now();
    let json = c.to_json();
    let ser = start.elapsed().as_secs_f64();
    let open = c.open_incidents().count();
    (secs, CHANGES, json.len(), open, ser, c.stats().clone())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    println!("| stream: 1,000,000 alert changes, ~50,000 actors, 1 day | ns/change | changes/s |");
    println!("|---|---:|---:|");
    let mut last = None;
    for (name, batch) in [
        ("one change per apply", 1),
        ("apply_batch of 100 changes", BATCH),
    ] {
        let mut ns = Vec::new();
        let mut rate = Vec::new();
        for _ in 0..runs {
            let (secs, n, bytes, open, ser, stats) = run(batch);
            ns.push(secs * 1e9 / n as f64);
            rate.push(n as f64 / secs);
            last = Some((bytes, open, ser, stats));
        }
        println!("| {name} | {:.0} | {:.0} |", median(ns), median(rate));
    }
    if let Some((bytes, open, ser, s)) = last {
        println!();
        println!(
            "opened {}, merged {}, closed quiet {}, evicted {}, alerts unlisted {}, late changes {}",
            s.opened, s.merged, s.closed_quiet, s.evicted, s.alerts_unlisted, s.late_changes
        );
        println!(
            "state at the end: {open} open incidents, {:.1} MB JSON ({:.0} B per open incident), serialized in {:.0} ms",
            bytes as f64 / 1e6,
            bytes as f64 / open.max(1) as f64,
            ser * 1e3
        );
    }
}
