//! Drives the template learner over generated traffic, the way the sensor's aggregator does
//! (status and client with every request), and measures what an inventory would show.

use super::{Kind, Phase, Request};
use picket_shared::learn::{Evidence, LearnerLimits, TemplateLearner};
use std::collections::{HashMap, HashSet};

/// Requests an endpoint must have landed in its own template before it counts as established.
pub const ESTABLISHED_AFTER: u64 = 20;

/// What the inventory shows in one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseFigures {
    /// Requests of real clients.
    pub real: u64,
    /// Of those, the ones templated as the endpoint the API routed them to.
    pub real_in_own: u64,
    /// Real endpoints called in the phase.
    pub real_endpoints: usize,
    /// Of those, the ones whose count of real clients' calls in the inventory is exact (no
    /// real call lost to another template, none of another endpoint's gained).
    pub exact: usize,
    /// Endpoints (host, method, template) the inventory lists for the phase.
    pub listed: usize,
}

impl PhaseFigures {
    /// Share (percent) of real requests in their own template.
    pub fn share_pct(&self) -> f64 {
        self.real_in_own as f64 * 100.0 / self.real.max(1) as f64
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub phases: Vec<(Phase, PhaseFigures)>,
    /// Requests of an established endpoint that later landed in another template.
    pub recut: u64,
    /// Requests to paths no endpoint serves.
    pub made_up: u64,
    /// Distinct such paths (method and path).
    pub made_up_paths: usize,
    /// Of those, the ones templated into a real endpoint without parameters, where they
    /// would hide from a spray detector (in a parameter's place they are a miss of that
    /// endpoint, visible as such).
    pub made_up_hidden: u64,
    /// Of those, the ones templated into a real endpoint's parameter (`/products/admin` as
    /// `/products/{id}`): counted there, as a call of that endpoint would be.
    pub made_up_in_params: u64,
    /// Endpoints the made-up paths are listed as.
    pub made_up_listed: usize,
    /// Positions the learner tracks at the end, and the most it may track.
    pub positions: usize,
    pub max_positions: usize,
    /// Learning positions the learner evicted for room.
    pub evicted: u64,
    /// Real endpoints whose requests went elsewhere, with where (for reading failures).
    pub misplaced: Vec<(String, String, u64)>,
    /// Real endpoints whose call count is not exact: phase, endpoint, true and listed count.
    pub inexact: Vec<(Phase, String, u64, u64)>,
}

impl Figures {
    pub fn phase(&self, p: Phase) -> &PhaseFigures {
        static EMPTY: PhaseFigures = PhaseFigures {
            real: 0,
            real_in_own: 0,
            real_endpoints: 0,
            exact: 0,
            listed: 0,
        };
        self.phases
            .iter()
            .find(|(q, _)| *q == p)
            .map_or(&EMPTY, |(_, f)| f)
    }
}

type Key = (&'static str, &'static str, String);

#[derive(Default)]
struct Tally {
    real: u64,
    real_in_own: u64,
    /// Real clients' requests by the endpoint the API routed them to.
    truth: HashMap<Key, u64>,
    /// Real clients' requests by the endpoint the learner put them in.
    learned: HashMap<Key, u64>,
    /// Every endpoint the inventory lists in the phase.
    listed: HashSet<Key>,
}

/// Templates every request of `traffic` with a fresh learner and measures the result.
pub fn run(traffic: &[Request], limits: LearnerLimits) -> Figures {
    let mut learner = TemplateLearner::new(limits);
    let mut tallies: HashMap<Phase, Tally> = HashMap::new();
    let mut landed: HashMap<Key, u64> = HashMap::new();
    let mut misplaced: HashMap<(String, String), u64> = HashMap::new();
    let mut f = Figures {
        max_positions: limits.max_positions,
        ..Default::default()
    };
    let mut made_up: Vec<Key> = Vec::new();
    let mut made_up_paths: HashSet<(&str, &str)> = HashSet::new();
    let mut real: HashSet<Key> = HashSet::new();
    let mut out = String::new();
    for r in traffic {
        let evidence = Evidence {
            status: r.status,
            client: u64::from(r.client),
        };
        learner.template_into(r.host, &r.target, evidence, &mut out);
        let t = tallies.entry(Phase::of(r.ts_ms)).or_default();
        let key = (r.host, r.method, out.clone());
        t.listed.insert(key.clone());
        let (Kind::Real, Some(truth)) = (r.kind, r.template) else {
            if r.template.is_none() {
                made_up.push(key);
                made_up_paths.insert((r.method, r.target.as_str()));
            }
            continue;
        };
        let own = (r.host, r.method, truth.to_owned());
        real.insert(own.clone());
        t.real += 1;
        *t.truth.entry(own.clone()).or_default() += 1;
        *t.learned.entry(key).or_default() += 1;
        let count = landed.entry(own).or_default();
        if out == truth {
            t.real_in_own += 1;
            *count += 1;
        } else {
            // An endpoint that had settled in its template lost a request to another one.
            f.recut += u64::from(*count >= ESTABLISHED_AFTER);
            let endpoint = format!("{} {truth}", r.method);
            *misplaced.entry((endpoint, out.clone())).or_default() += 1;
        }
    }
    f.made_up = made_up.len() as u64;
    f.made_up_paths = made_up_paths.len();
    f.made_up_hidden = made_up
        .iter()
        .filter(|k| real.contains(*k) && !k.2.contains("{id}"))
        .count() as u64;
    f.made_up_in_params =
        made_up.iter().filter(|k| real.contains(*k)).count() as u64 - f.made_up_hidden;
    f.made_up_listed = made_up.iter().collect::<HashSet<_>>().len();
    for p in Phase::ALL {
        if let Some(t) = tallies.get(&p) {
            let pf = phase_figures(p, t, &mut f.inexact);
            f.phases.push((p, pf));
        }
    }
    f.positions = learner.positions();
    f.evicted = learner.evicted();
    let mut misplaced: Vec<_> = misplaced.into_iter().map(|((a, b), n)| (a, b, n)).collect();
    misplaced.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.cmp(b)));
    f.misplaced = misplaced;
    f
}

/// A phase's figures; endpoints whose count is not exact go to `inexact`.
fn phase_figures(
    p: Phase,
    t: &Tally,
    inexact: &mut Vec<(Phase, String, u64, u64)>,
) -> PhaseFigures {
    let mut exact = 0;
    let mut keys: Vec<_> = t.truth.iter().collect();
    keys.sort();
    for (k, n) in keys {
        let listed = t.learned.get(k).copied().unwrap_or(0);
        if listed == *n {
            exact += 1;
        } else {
            inexact.push((p, format!("{} {}", k.1, k.2), *n, listed));
        }
    }
    PhaseFigures {
        real: t.real,
        real_in_own: t.real_in_own,
        real_endpoints: t.truth.len(),
        exact,
        listed: t.listed.len(),
    }
}
