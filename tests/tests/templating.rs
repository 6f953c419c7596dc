//! Templating a client cannot poison: an hour of generated shop traffic with a sprayer, an
//! enumerator and a scanner, templated by the sensor's learner exactly as the aggregator calls
//! it (status and client with every request). Asserted on the test seed; the thresholds were
//! tuned on the development seed only.

use picket_shared::learn::LearnerLimits;
use picket_tests::traffic::measure::{self, Figures};
use picket_tests::traffic::{self, Api, DEV_SEED, Kind, Phase, Scenario, TEST_SEED};

fn figures(attackers: bool, limits: LearnerLimits) -> Figures {
    let requests = traffic::generate(Scenario {
        api: Api::Shop,
        seed: TEST_SEED,
        attackers,
    });
    measure::run(&requests, limits)
}

/// Real endpoints keep their requests and exact counts before, during and after the attacks.
fn assert_unpoisoned(f: &Figures) {
    for p in [Phase::Before, Phase::During, Phase::After] {
        let pf = f.phase(p);
        assert!(pf.real > 1_000, "{}: {} real requests", p.name(), pf.real);
        assert!(
            pf.share_pct() >= 99.0,
            "{}: {:.2} % of real requests in their own template; misplaced: {:?}",
            p.name(),
            pf.share_pct(),
            &f.misplaced[..f.misplaced.len().min(10)]
        );
        assert_eq!(
            pf.exact,
            pf.real_endpoints,
            "{}: inexact endpoints {:?}",
            p.name(),
            f.inexact
        );
    }
    // The first minutes learn the name-like parameters; typed ones are right from the start.
    assert!(f.phase(Phase::Warmup).share_pct() >= 90.0);
    assert_eq!(
        f.recut, 0,
        "established templates re-cut: {:?}",
        f.misplaced
    );
}

#[test]
fn attackers_do_not_poison_the_templates() {
    let f = figures(true, LearnerLimits::default());
    assert_unpoisoned(&f);
    let calm = figures(false, LearnerLimits::default());
    assert_unpoisoned(&calm);
    // Until the first attack, both hours are templated alike.
    for p in [Phase::Warmup, Phase::Before] {
        assert_eq!(f.phase(p).real_in_own, calm.phase(p).real_in_own);
        assert_eq!(f.phase(p).listed, calm.phase(p).listed);
    }
}

#[test]
fn attack_paths_stay_visible() {
    let f = figures(true, LearnerLimits::default());
    assert!(f.made_up > 900, "{} made-up requests", f.made_up);
    // None merges into a real literal endpoint. Typed values (`/internal/v1/orders/1042`)
    // and guesses in a real parameter's place (`/api/v1/products/backup`) are templated; the
    // rest stay endpoints of their own.
    assert_eq!(f.made_up_hidden, 0);
    assert!(
        f.made_up_listed * 2 >= f.made_up_paths,
        "{} made-up paths listed as {} endpoints",
        f.made_up_paths,
        f.made_up_listed
    );
    assert!(f.phase(Phase::During).listed > 500);
}

#[test]
fn memory_stays_bounded() {
    let f = figures(true, LearnerLimits::default());
    assert!(f.positions <= f.max_positions);
    // 404s create no learning state: the attackers add only what their few real hits teach.
    let calm = figures(false, LearnerLimits::default());
    assert!(
        f.positions <= calm.positions + 16,
        "{} positions with attackers, {} without",
        f.positions,
        calm.positions
    );
    // A table far too small for the API still holds its bound and counts its evictions.
    let tight = LearnerLimits {
        max_positions: 16,
        ..LearnerLimits::default()
    };
    let f = figures(true, tight);
    assert!(f.positions <= 16);
    assert!(f.evicted > 0);
}

#[test]
fn the_generator_is_deterministic_and_labelled() {
    let scenario = |seed| Scenario {
        api: Api::Shop,
        seed,
        attackers: true,
    };
    let a = traffic::generate(scenario(TEST_SEED));
    let b = traffic::generate(scenario(TEST_SEED));
    let c = traffic::generate(scenario(DEV_SEED));
    let targets = |v: &[traffic::Request]| v.iter().map(|r| r.target.clone()).collect::<Vec<_>>();
    assert_eq!(targets(&a), targets(&b));
    assert_ne!(targets(&a), targets(&c));
    let users: std::collections::HashSet<u32> = a
        .iter()
        .filter(|r| r.kind == Kind::Real)
        .map(|r| r.client)
        .collect();
    assert!(users.len() >= 200, "{} real clients", users.len());
    assert!(
        a.iter()
            .all(|r| r.kind != Kind::Real || r.template.is_some())
    );
    for kind in [Kind::Spray, Kind::Enumerate, Kind::Scan] {
        let n = a.iter().filter(|r| r.kind == kind).count();
        let missing = a
            .iter()
            .filter(|r| r.kind == kind && r.status == 404)
            .count();
        assert!(
            n >= 100 && missing * 2 > n,
            "{kind:?}: {missing} of {n} answered 404"
        );
    }
}

/// The same hour against a catch-all server that answers 200 to every path: the status says
/// nothing, so only one-vote-per-client and the locked prefixes stand between the attackers
/// and the templates.
#[test]
fn a_catch_all_server_is_not_poisoned_either() {
    let mut requests = traffic::generate(Scenario {
        api: Api::Shop,
        seed: TEST_SEED,
        attackers: true,
    });
    for r in requests.iter_mut().filter(|r| r.kind != Kind::Real) {
        r.status = 200;
    }
    let f = measure::run(&requests, LearnerLimits::default());
    assert_unpoisoned(&f);
    assert_eq!(f.made_up_hidden, 0);
}
