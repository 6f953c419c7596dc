//! Correlator tests: scenarios through one `check()` helper (which alerts end up together)
//! here; the details (severity, reason, merges, lifecycle, bounds) in `details`, replay and
//! restore determinism in `replay`, invariants over random streams in `props`.

mod details;
mod props;
mod replay;

use super::*;
use crate::catalogue;
use crate::model::{Actor, AlertChange, AlertFacts, AlertType};
use std::collections::{BTreeMap, BTreeSet};

pub const T0: i64 = 1_800_000_000_000;
pub const MIN: i64 = 60_000;

/// One step of a scenario.
#[derive(Debug, Clone)]
pub enum Step {
    Raise(AlertFacts),
    Update(AlertFacts),
    Tick(i64),
}

/// An alert of `kind` from `ip` (and `principal`), raised at minute `at` through `sensor`,
/// with the catalogue's severity.
pub fn alert(
    id: &str,
    kind: AlertType,
    ip: &str,
    principal: &str,
    sensor: &str,
    at: i64,
) -> AlertFacts {
    AlertFacts {
        id: id.into(),
        kind: Some(kind),
        severity: Some(catalogue::entry(kind).severity),
        host: "api.example.com".into(),
        method: "GET".into(),
        template: "/v1/orders/{id}".into(),
        actor: Actor {
            ip: (!ip.is_empty()).then(|| ip.parse().expect("test address")),
            principal: (!principal.is_empty()).then(|| principal.into()),
            user_agent: None,
        },
        sensors: BTreeSet::from([sensor.to_owned()]),
        count: 1,
        first_seen_ms: T0 + at * MIN,
        last_seen_ms: T0 + at * MIN,
        ..AlertFacts::default()
    }
}

/// An actor known by its address.
pub fn actor(ip: &str) -> Actor {
    alert("", AlertType::EndpointSpray, ip, "", "", 0).actor
}

/// `n` distinct addresses 198.51.100.x (x from `from`).
pub fn pool(from: u8, n: u8) -> Vec<Actor> {
    (from..from + n)
        .map(|i| Actor {
            ip: Some(std::net::IpAddr::from([198, 51, 100, i])),
            ..Actor::default()
        })
        .collect()
}

/// What a run produced: every change, and the incidents as they stand (open or closed).
#[derive(Debug, Default, PartialEq)]
pub struct Run {
    pub changes: Vec<IncidentChange>,
    pub incidents: BTreeMap<String, IncidentFacts>,
    pub closed: BTreeSet<String>,
}

impl Run {
    pub fn absorb(&mut self, changes: Vec<IncidentChange>) {
        for c in &changes {
            match c {
                IncidentChange::Opened(f) => {
                    assert!(!self.incidents.contains_key(&f.id), "reopened {}", f.id);
                    self.incidents.insert(f.id.clone(), f.clone());
                }
                IncidentChange::Updated(f) => {
                    assert!(self.incidents.contains_key(&f.id), "unknown {}", f.id);
                    assert!(!self.closed.contains(&f.id), "updated closed {}", f.id);
                    self.incidents.insert(f.id.clone(), f.clone());
                }
                IncidentChange::Merged { into, absorbed } => {
                    assert!(
                        self.incidents.contains_key(into),
                        "merge into unknown {into}"
                    );
                    assert!(
                        self.incidents.remove(absorbed).is_some(),
                        "absorbed {absorbed}"
                    );
                }
                IncidentChange::Closed(f) => {
                    assert!(self.closed.insert(f.id.clone()), "closed twice {}", f.id);
                    self.incidents.insert(f.id.clone(), f.clone());
                }
            }
        }
        self.changes.extend(changes);
    }

    /// The alert ids of every incident, each sorted, the list sorted.
    pub fn partition(&self) -> Vec<Vec<String>> {
        let mut p: Vec<Vec<String>> = self
            .incidents
            .values()
            .map(|f| {
                let mut ids = f.alert_ids.clone();
                ids.sort();
                ids
            })
            .collect();
        p.sort();
        p
    }
}

/// Runs `steps` through `c`.
pub fn play(c: &mut Correlator, steps: &[Step], run: &mut Run) {
    for s in steps {
        let changes = match s {
            Step::Raise(f) => c.apply(&AlertChange::Raised(f.clone())),
            Step::Update(f) => c.apply(&AlertChange::Updated(f.clone())),
            Step::Tick(wm) => c.tick(*wm),
        };
        run.absorb(changes);
    }
}

/// Runs `steps` through `c`, alert changes in batches of up to `batch` (a tick ends one).
pub fn play_batched(c: &mut Correlator, steps: &[Step], batch: usize, run: &mut Run) {
    let mut pending: Vec<AlertChange> = Vec::new();
    for s in steps {
        match s {
            Step::Raise(f) => pending.push(AlertChange::Raised(f.clone())),
            Step::Update(f) => pending.push(AlertChange::Updated(f.clone())),
            Step::Tick(_) => {}
        }
        if pending.len() >= batch || matches!(s, Step::Tick(_)) {
            run.absorb(c.apply_batch(&std::mem::take(&mut pending)));
        }
        if let Step::Tick(wm) = s {
            run.absorb(c.tick(*wm));
        }
    }
    run.absorb(c.apply_batch(&pending));
}

pub fn run(steps: &[Step]) -> (Correlator, Run) {
    let mut c = Correlator::new(IncidentConfig::default()).expect("default config");
    let mut r = Run::default();
    play(&mut c, steps, &mut r);
    (c, r)
}

/// Runs `steps` with the default config and checks which alerts end up together.
fn check(name: &str, steps: &[Step], want: &[&[&str]]) {
    let (_, r) = run(steps);
    let mut want: Vec<Vec<String>> = want
        .iter()
        .map(|g| {
            let mut g: Vec<String> = g.iter().map(|s| s.to_string()).collect();
            g.sort();
            g
        })
        .collect();
    want.sort();
    assert_eq!(r.partition(), want, "{name}");
}

pub const X: &str = "203.0.113.66";
pub const Y: &str = "192.0.2.7";
pub const Z: &str = "192.0.2.8";
pub const P: &str = "5e3a0c1f9b2d4e6a8c0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c";

/// (name, steps, the alert ids of each incident).
type Scenario<'a> = (&'a str, Vec<Step>, Vec<&'a [&'a str]>);

/// The scenario table (long by nature: one entry per scenario).
#[test]
fn scenarios() {
    use AlertType as T;
    use Step::{Raise as R, Tick, Update as U};
    let cs = |id: &str, from: u8, n: u8, at: i64| AlertFacts {
        actor: Actor::default(),
        actors: pool(from, n),
        template: "/v1/login".into(),
        method: "POST".into(),
        ..alert(id, T::CredentialStuffing, "", "", "s1", at)
    };
    let hostless = |id: &str, host: &str, at: i64| AlertFacts {
        host: host.into(),
        method: String::new(),
        template: String::new(),
        ..alert(id, T::LatencySpike, "", "", "s1", at)
    };
    let suspect = |id: &str, who: &str, at: i64| AlertFacts {
        actors: vec![actor(who)],
        ..alert(id, T::UnseenParameter, "", "", "s1", at)
    };
    #[rustfmt::skip]
    let cases: Vec<Scenario> = vec![
        ("one attacker across sensors", vec![
            R(alert("a1", T::EndpointSpray, X, "", "a", 0)),
            R(alert("a2", T::Injection, X, "", "b", 5)),
            R(alert("a3", T::LargeResponse, X, "", "a", 10)),
        ], vec![&["a1", "a2", "a3"]]),
        ("two unrelated attackers", vec![
            R(alert("x1", T::EndpointSpray, X, "", "a", 0)),
            R(alert("y1", T::EndpointSpray, Y, "", "a", 1)),
            R(alert("x2", T::Injection, X, "", "a", 2)),
        ], vec![&["x1", "x2"], &["y1"]]),
        ("a principal joins its addresses", vec![
            R(alert("x", T::BruteForce, X, P, "a", 0)),
            R(alert("y", T::Injection, Y, P, "a", 1)),
            R(alert("z", T::LargeResponse, Y, "", "b", 2)),
        ], vec![&["x", "y", "z"]]),
        ("a principal bridges two incidents", vec![
            R(alert("x", T::EndpointSpray, X, "", "a", 0)),
            R(alert("y", T::Injection, Y, "", "a", 1)),
            R(alert("b", T::BruteForce, Y, P, "a", 2)),
            R(alert("c", T::LargeResponse, X, P, "a", 3)),
        ], vec![&["b", "c", "x", "y"]]),
        ("outside the window", vec![
            R(alert("early", T::EndpointSpray, X, "", "a", 0)),
            R(alert("late", T::Injection, X, "", "a", 61)),
        ], vec![&["early"], &["late"]]),
        ("within the window of the last alert", vec![
            R(alert("1", T::EndpointSpray, X, "", "a", 0)),
            R(alert("2", T::Injection, X, "", "a", 50)),
            R(alert("3", T::LargeResponse, X, "", "a", 100)),
        ], vec![&["1", "2", "3"]]),
        ("distributed stuffing keeps apart from single actors", vec![
            R(cs("cs", 1, 40, 0)),
            R(alert("bf", T::BruteForce, "198.51.100.5", "", "a", 1)),
            R(alert("x", T::Injection, X, "", "a", 2)),
            R(cs("cs2", 60, 10, 3)),
        ], vec![&["bf"], &["cs", "cs2"], &["x"]]),
        ("actor-less alerts group by target only", vec![
            R(hostless("h1", "api.example.com", 0)),
            R(hostless("h2", "shop.example.com", 1)),
            R(hostless("h3", "api.example.com", 2)),
            R(alert("x", T::LatencySpike, X, "", "a", 3)),
        ], vec![&["h1", "h3"], &["h2"], &["x"]]),
        ("quiet close, then a new incident", vec![
            R(alert("1", T::EndpointSpray, X, "", "a", 0)),
            Tick(T0 + 30 * MIN),
            R(alert("2", T::Injection, X, "", "a", 30)),
            Tick(T0 + 91 * MIN),
            R(alert("3", T::LargeResponse, X, "", "a", 92)),
        ], vec![&["1", "2"], &["3"]]),
        ("updates do not duplicate", vec![
            R(alert("1", T::EndpointSpray, X, "", "a", 0)),
            U(alert("1", T::EndpointSpray, X, "", "b", 20)),
            R(alert("1", T::EndpointSpray, X, "", "a", 0)),
        ], vec![&["1"]]),
        ("a hostile client on the same endpoints stays apart", vec![
            R(alert("innocent", T::BruteForce, X, P, "a", 0)),
            R(alert("hostile", T::Injection, Y, "ffff", "a", 0)),
            // A suspect list naming both cannot join them.
            R(AlertFacts { actors: vec![actor(X), actor(Y)],
                ..alert("pe", T::ParameterEnumeration, "", "", "a", 1) }),
            R(alert("hostile2", T::LargeResponse, Z, "ffff", "a", 2)),
        ], vec![&["hostile", "hostile2"], &["innocent"], &["pe"]]),
        ("a lone suspect is the actor", vec![
            R(suspect("u", X, 0)),
            R(alert("i", T::Injection, X, "", "a", 1)),
        ], vec![&["i", "u"]]),
        ("a late change of a closed incident's alert is dropped", vec![
            R(alert("1", T::EndpointSpray, X, "", "a", 0)),
            Tick(T0 + 61 * MIN),
            U(alert("1", T::EndpointSpray, X, "", "a", 0)),
        ], vec![&["1"]]),
        ("a closed incident's alert still changing stays remembered", vec![
            R(alert("1", T::EndpointSpray, X, "", "a", 0)),
            Tick(T0 + 61 * MIN),
            U(AlertFacts { last_seen_ms: T0 + 100 * MIN, ..alert("1", T::EndpointSpray, X, "", "a", 0) }),
            Tick(T0 + 125 * MIN),
            U(AlertFacts { last_seen_ms: T0 + 125 * MIN, ..alert("1", T::EndpointSpray, X, "", "a", 0) }),
        ], vec![&["1"]]),
        ("a closed incident's alert is forgotten after its memory", vec![
            R(alert("1", T::EndpointSpray, X, "", "a", 0)),
            Tick(T0 + 121 * MIN),
            U(AlertFacts { last_seen_ms: T0 + 121 * MIN, ..alert("1", T::EndpointSpray, X, "", "a", 0) }),
        ], vec![&["1"], &["1"]]),
    ];
    for (name, steps, want) in &cases {
        check(name, steps, want);
    }
}

/// The one open incident of a run.
pub fn only(r: &Run) -> &IncidentFacts {
    assert_eq!(r.incidents.len(), 1, "{:#?}", r.incidents);
    r.incidents.values().next().expect("one incident")
}
