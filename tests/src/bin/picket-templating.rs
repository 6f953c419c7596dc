//! Prints the templating figures: an hour of generated traffic (two seeds of the shop API and
//! the held-out payments API), without attackers, with a sprayer, an enumerator and a scanner,
//! and with the same attackers against a catch-all server that answers 200 to every path.
//! Per phase (warm-up, before, during and after the attack windows): the share of real
//! requests in their own template, the real endpoints whose count of real calls is exact, and
//! the endpoints the inventory lists. `--misses` adds where misplaced requests went.
//!
//! `cargo run -q -p picket-tests --bin picket-templating [-- --misses]`

use picket_shared::learn::LearnerLimits;
use picket_tests::traffic::measure::{self, Figures};
use picket_tests::traffic::{self, Api, DEV_SEED, Kind, Phase, Scenario, TEST_SEED};

fn main() {
    let misses = std::env::args().any(|a| a == "--misses");
    println!(
        "{:<21} {:<9} {:>7} {:>6} {:>8} {:>7} {:>6}",
        "scenario", "attackers", "phase", "real", "in own", "exact", "listed"
    );
    for (name, api, seed) in [
        ("shop, dev seed", Api::Shop, DEV_SEED),
        ("shop, test seed", Api::Shop, TEST_SEED),
        ("payments (held out)", Api::Payments, TEST_SEED),
    ] {
        for (attackers, catch_all) in [(false, false), (true, false), (true, true)] {
            let mut requests = traffic::generate(Scenario {
                api,
                seed,
                attackers,
            });
            // A catch-all server answers 200 to every path, made-up ones included.
            for r in requests
                .iter_mut()
                .filter(|r| catch_all && r.kind != Kind::Real)
            {
                r.status = 200;
            }
            let label = match (attackers, catch_all) {
                (false, _) => "no",
                (true, false) => "yes",
                (true, true) => "yes, 200",
            };
            let f = measure::run(&requests, LearnerLimits::default());
            print_figures(name, label, &f);
            if misses {
                print_misses(&f);
            }
        }
    }
}

fn print_figures(name: &str, attackers: &str, f: &Figures) {
    for p in Phase::ALL {
        let pf = f.phase(p);
        println!(
            "{:<21} {:<9} {:>7} {:>6} {:>7.2}% {:>3}/{:<3} {:>6}",
            name,
            attackers,
            p.name(),
            pf.real,
            pf.share_pct(),
            pf.exact,
            pf.real_endpoints,
            pf.listed,
        );
    }
    println!(
        "    re-cut requests {}; made-up paths {} ({} requests) listed as {} endpoints, {} in \
         real literal endpoints, {} in real parameters; learner positions {} of {}, evicted {}",
        f.recut,
        f.made_up_paths,
        f.made_up,
        f.made_up_listed,
        f.made_up_hidden,
        f.made_up_in_params,
        f.positions,
        f.max_positions,
        f.evicted
    );
}

fn print_misses(f: &Figures) {
    for (endpoint, got, n) in f.misplaced.iter().take(8) {
        println!("    {n:>6}  {endpoint}  →  {got}");
    }
    for (phase, endpoint, truth, listed) in &f.inexact {
        println!(
            "    {:<7} {endpoint}: {truth} calls, {listed} listed",
            phase.name()
        );
    }
}
