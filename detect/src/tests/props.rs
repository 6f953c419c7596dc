//! Property tests and the state-size fixture.

use crate::state::{KMV_K, kmv_estimate, kmv_merge};
use crate::{Context, Engine, Input, StateSize};
use picket_shared::shape::Shape;
use picket_shared::summary::{ClientActivity, ParamStats};
use picket_shared::{EndpointKey, EndpointSummary};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// An engine state with `endpoints` endpoints and `actors` actors (each the client of one
/// endpoint), two windows 5 minutes apart so the first is absorbed into the baselines.
pub fn big_state(endpoints: usize, actors: usize) -> StateSize {
    let mut e = Engine::new(super::config());
    let intel = crate::intel::Intel::default();
    let ctx = Context {
        intel: &intel,
        suppressions: &[],
        now_ms: 0,
    };
    let per = actors.div_ceil(endpoints.max(1));
    for round in 0..2i64 {
        let t = super::traffic::T0 + round * 5 * super::traffic::MIN;
        let eps: Vec<(EndpointKey, EndpointSummary)> = (0..endpoints)
            .map(|i| (key(i), summary(i, t, per)))
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

fn key(i: usize) -> EndpointKey {
    EndpointKey {
        host: format!("api{}.example.com", i % 10),
        method: "GET".into(),
        template: format!("/api/v1/resource{i}/{{id}}"),
    }
}

fn summary(i: usize, t: i64, clients: usize) -> EndpointSummary {
    let mut s = EndpointSummary {
        requests: 100,
        statuses: BTreeMap::from([(200, 90), (404, 5), (401, 5)]),
        window_start_ms: t,
        auth_present: 95,
        ..Default::default()
    };
    for v in 0..100u64 {
        s.latency_us_hist.record(10_000 + v * 500);
        s.request_bytes_hist.record(200 + v * 3);
        s.response_bytes_hist.record(1_000 + v * 50);
    }
    for p in [
        "query:page",
        "query:q",
        "path:id",
        "query:sort",
        "query:limit",
    ] {
        let shapes = BTreeMap::from([(Shape::Int, 50), (Shape::TextShort, 50)]);
        s.params.insert(p.into(), ParamStats { count: 100, shapes });
    }
    for c in 0..clients {
        let n = i * clients + c;
        s.top_clients.push(ClientActivity {
            client_ip: Some(std::net::IpAddr::from([
                10,
                (n >> 16) as u8,
                (n >> 8) as u8,
                n as u8,
            ])),
            principal: Some(format!("{n:064x}")),
            requests: 10,
            ref_sample: (0..8)
                .map(|r| (n as u32).wrapping_mul(2_654_435_761).wrapping_add(r))
                .collect(),
            ..Default::default()
        });
    }
    s
}

proptest! {
    #[test]
    fn intel_parsing_never_panics_and_names_the_file(text in ".{0,400}") {
        let (_, errors) = crate::intel::Intel::parse("list.txt", &text);
        for e in errors {
            prop_assert!(e.starts_with("list.txt:"));
        }
    }

    #[test]
    fn kmv_is_exact_below_k_and_close_above(n in 1usize..5_000) {
        let mut sketch = Vec::new();
        for chunk in (0..n as u64).collect::<Vec<_>>().chunks(40) {
            let mut part: Vec<u32> = chunk
                .iter()
                .map(|v| (super::traffic::Rng(*v).next() >> 32) as u32)
                .collect();
            part.sort_unstable();
            part.truncate(KMV_K);
            kmv_merge(&mut sketch, &part, KMV_K);
        }
        let est = kmv_estimate(&sketch, KMV_K);
        if n < KMV_K {
            prop_assert_eq!(est as usize, n);
        } else {
            prop_assert!(est > n as f64 * 0.3 && est < n as f64 * 3.0, "{} vs {}", est, n);
        }
    }
}

fn short_stream() -> Vec<super::traffic::Item> {
    use super::traffic::{MIN, T0, Traffic, benign};
    use crate::AlertType as A;
    let mut t = Traffic::default();
    benign(&mut t, 5, 14);
    for (kind, at) in [
        (A::ParameterEnumeration, T0 + 11 * MIN),
        (A::Injection, T0 + 11 * MIN),
        (A::EndpointSpray, T0 + 12 * MIN),
        (A::BruteForce, T0 + 12 * MIN),
    ] {
        super::attacks::attack(&mut t, kind, at);
    }
    t.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Any cut into batches, with a restart anywhere, gives the alerts of one batch per window.
    #[test]
    fn any_split_and_restart_gives_the_same_alerts(size in 1usize..300, cut in 0.0f64..1.0) {
        let items = short_stream();
        let intel = super::attacks::intel();
        let ctx = super::ctx_with(&intel, &[]);
        let reference = super::run_batches(&mut Engine::new(super::config()), &super::by_window(&items), &ctx);
        prop_assert!(reference.alerts.len() >= 4);
        let batches: Vec<&[super::traffic::Item]> = items.chunks(size).collect();
        let at = (batches.len() as f64 * cut) as usize;
        let mut first = Engine::new(super::config());
        let mut run = super::run_batches(&mut first, &batches[..at], &ctx);
        let state: Vec<(Vec<u8>, Vec<u8>)> = run.state.clone().into_iter().collect();
        let mut second = Engine::restore(super::config(), state).expect("restore");
        for b in &batches[at..] {
            run.absorb(super::feed(&mut second, "s1", b, &ctx));
        }
        prop_assert_eq!(run.summary(), reference.summary());
    }
}
