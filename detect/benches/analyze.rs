//! The detection engine alone, on one core: endpoint summaries per second and represented
//! requests per second for dense traffic (few endpoints, many requests per summary) and
//! sparse traffic (about one request per endpoint-window summary), state writes included;
//! then the state size for 10,000 endpoints and 100,000 actors. Prints medians of runs.
//!
//!   cargo bench -p picket-detect --bench analyze [-- RUNS]

use picket_detect::intel::Intel;
use picket_detect::{Context, DetectConfig, Engine, Input};
use picket_shared::shape::Shape;
use picket_shared::summary::{ClientActivity, ParamStats};
use picket_shared::{EndpointKey, EndpointSummary};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

const T0: i64 = 1_800_000_000_000;

fn key(i: usize) -> EndpointKey {
    EndpointKey {
        host: format!("api{}.example.com", i % 10),
        method: "GET".into(),
        template: format!("/api/v1/resource{i}/{{id}}"),
    }
}

fn summary(i: usize, t: i64, requests: u64, clients: usize) -> EndpointSummary {
    let mut s = EndpointSummary {
        requests,
        statuses: BTreeMap::from([(200, requests)]),
        window_start_ms: t,
        auth_present: requests,
        ..Default::default()
    };
    for v in 0..requests.min(200) {
        s.latency_us_hist.record(10_000 + v * 500);
        s.request_bytes_hist.record(200 + v * 3);
        s.response_bytes_hist.record(1_000 + v * 50);
    }
    for p in ["query:page", "path:id"] {
        let shapes = BTreeMap::from([(Shape::Int, requests)]);
        s.params.insert(
            p.into(),
            ParamStats {
                count: requests,
                shapes,
            },
        );
    }
    for c in 0..clients {
        let n = i * clients + c;
        s.top_clients.push(ClientActivity {
            client_ip: Some(IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8])),
            principal: Some(format!("{n:064x}")),
            requests: requests / clients as u64,
            ref_sample: (0..4)
                .map(|r| (n as u32).wrapping_mul(2_654_435_761).wrapping_add(r))
                .collect(),
            ..Default::default()
        });
    }
    s
}

/// Seconds to analyze `windows` one-second batches of `endpoints` summaries each.
fn run(endpoints: usize, windows: i64, requests: u64, clients: usize) -> (f64, u64, u64) {
    let config = DetectConfig {
        learning_period_ms: 60_000,
        ..DetectConfig::default()
    };
    let mut engine = Engine::new(config);
    let intel = Intel::default();
    let ctx = Context {
        intel: &intel,
        suppressions: &[],
        now_ms: 0,
    };
    let batches: Vec<Vec<(EndpointKey, EndpointSummary)>> = (0..windows)
        .map(|w| {
            (0..endpoints)
                .map(|i| (key(i), summary(i, T0 + w * 1_000, requests, clients)))
                .collect()
        })
        .collect();
    let start = Instant::now();
    let (mut n, mut reqs) = (0u64, 0u64);
    for b in &batches {
        let input = Input {
            sensor: "s1",
            arrival_ms: 0,
            window_ms: 1_000,
            endpoints: b,
            actors: &[],
            notables: &[],
        };
        let out = engine.analyze(&input, &ctx);
        std::hint::black_box(out.writes.len());
        n += b.len() as u64;
        reqs += b.iter().map(|(_, s)| s.requests).sum::<u64>();
    }
    (start.elapsed().as_secs_f64(), n, reqs)
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
    println!("| traffic | summaries/s | requests/s |");
    println!("|---|---:|---:|");
    let cases = [
        (
            "dense (5 endpoints, 1,000 req/summary, 20 clients)",
            5,
            600,
            1_000,
            20,
        ),
        (
            "sparse (2,000 endpoints, 1 req/summary, 1 client)",
            2_000,
            60,
            1,
            1,
        ),
    ];
    for (name, endpoints, windows, requests, clients) in cases {
        let mut sps = Vec::new();
        let mut rps = Vec::new();
        for _ in 0..runs {
            let (secs, n, reqs) = run(endpoints, windows, requests, clients);
            sps.push(n as f64 / secs);
            rps.push(reqs as f64 / secs);
        }
        println!("| {name} | {:.0} | {:.0} |", median(sps), median(rps));
    }
    let size = state_size(10_000, 100_000);
    println!();
    println!(
        "state for 10,000 endpoints and 100,000 actors: {} endpoints {:.1} MB, {} actors {:.1} MB, {} actor-endpoint entries {:.1} MB, total {:.1} MB",
        size.endpoints,
        size.endpoint_bytes as f64 / 1e6,
        size.actors,
        size.actor_bytes as f64 / 1e6,
        size.actor_endpoints,
        size.actor_endpoint_bytes as f64 / 1e6,
        size.total_bytes() as f64 / 1e6
    );
}

/// Two windows 5 minutes apart over `endpoints` endpoints whose top clients are `actors`
/// distinct actors (the first window absorbed into the baselines).
fn state_size(endpoints: usize, actors: usize) -> picket_detect::StateSize {
    let mut e = Engine::new(DetectConfig::default());
    let intel = Intel::default();
    let ctx = Context {
        intel: &intel,
        suppressions: &[],
        now_ms: 0,
    };
    let per = actors.div_ceil(endpoints);
    for round in 0..2 {
        let eps: Vec<_> = (0..endpoints)
            .map(|i| (key(i), summary(i, T0 + round * 300_000, 100, per)))
            .collect();
        let input = Input {
            sensor: "s1",
            arrival_ms: 0,
            window_ms: 1_000,
            endpoints: &eps,
            actors: &[],
            notables: &[],
        };
        e.analyze(&input, &ctx);
    }
    e.state_size()
}
