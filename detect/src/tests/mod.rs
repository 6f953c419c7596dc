//! Engine tests over generated traffic. Seeds 1 and 2 were used while tuning; seed 4242 was
//! kept out of tuning and is asserted on as well.

mod attacks;
mod lifecycle;
mod props;
mod traffic;

use crate::model::{AlertChange, AlertFacts, AlertType, Severity};
use crate::{Context, DetectConfig, Engine, Input, Output, Suppression};
use std::collections::BTreeMap;
use traffic::{Item, MIN, T0, Traffic};

pub fn config() -> DetectConfig {
    DetectConfig {
        learning_period_ms: 10 * MIN,
        lateness_ms: 30_000,
        dedup_window_ms: 3_600_000,
    }
}

/// Alerts as they stand after a run, by id; and everything else a run produced.
#[derive(Default)]
pub struct Run {
    pub alerts: BTreeMap<String, AlertFacts>,
    pub suppressed: Vec<(String, String)>,
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    pub late: u64,
}

impl Run {
    pub fn absorb(&mut self, out: Output) {
        for c in out.changes {
            if let AlertChange::Updated(f) = &c {
                assert!(
                    self.alerts.contains_key(&f.id),
                    "update of an unknown alert {}",
                    f.id
                );
            }
            let f = c.facts().clone();
            self.alerts.insert(f.id.clone(), f);
        }
        self.suppressed.extend(out.suppressed);
        for w in out.writes {
            match w.value {
                Some(v) => self.state.insert(w.key, v),
                None => self.state.remove(&w.key),
            };
        }
        self.late += out.late;
    }

    /// (type, template, actor ip, count) of every alert, sorted.
    pub fn summary(&self) -> Vec<(AlertType, String, Option<std::net::IpAddr>, u64)> {
        let mut v: Vec<_> = self
            .alerts
            .values()
            .map(|f| {
                (
                    f.kind.expect("kind"),
                    f.template.clone(),
                    f.actor.ip,
                    f.count,
                )
            })
            .collect();
        v.sort();
        v
    }

    pub fn serious(&self) -> Vec<&AlertFacts> {
        self.alerts
            .values()
            .filter(|f| f.severity >= Some(Severity::Medium))
            .collect()
    }
}

/// Feeds `batch` to the engine as one input from `sensor`.
pub fn feed(engine: &mut Engine, sensor: &str, batch: &[Item], ctx: &Context<'_>) -> Output {
    let (mut eps, mut actors, mut notables) = (Vec::new(), Vec::new(), Vec::new());
    for i in batch {
        match i {
            Item::Summary(k, s) => eps.push((k.clone(), (**s).clone())),
            Item::Actor(a) => actors.push(a.clone()),
            Item::Notable(n) => notables.push(n.clone()),
        }
    }
    let input = Input {
        sensor,
        arrival_ms: 0,
        window_ms: traffic::WINDOW_MS as u32,
        endpoints: &eps,
        actors: &actors,
        notables: &notables,
    };
    engine.analyze(&input, ctx)
}

/// The start time of an item.
pub fn ts(i: &Item) -> i64 {
    match i {
        Item::Summary(_, s) => s.window_start_ms,
        Item::Actor(a) => a.window_start_ms,
        Item::Notable(n) => n.ts_ms,
    }
}

/// Cuts the stream into batches of whole windows.
pub fn by_window(items: &[Item]) -> Vec<&[Item]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        if i == items.len()
            || ts(&items[i]) / traffic::WINDOW_MS != ts(&items[start]) / traffic::WINDOW_MS
        {
            out.push(&items[start..i]);
            start = i;
        }
    }
    out
}

/// Cuts the stream into batches of whole minutes.
pub fn by_minute(items: &[Item]) -> Vec<&[Item]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        if i == items.len() || ts(&items[i]) / MIN != ts(&items[start]) / MIN {
            out.push(&items[start..i]);
            start = i;
        }
    }
    out
}

pub fn run_batches(engine: &mut Engine, batches: &[&[Item]], ctx: &Context<'_>) -> Run {
    let mut run = Run::default();
    for b in batches {
        run.absorb(feed(engine, "s1", b, ctx));
    }
    run
}

fn stream(seed: u64, minutes: i64, attacks: &[(AlertType, i64)]) -> Vec<Item> {
    let mut t = Traffic::default();
    traffic::benign(&mut t, seed, minutes);
    for (kind, at) in attacks {
        attacks::attack(&mut t, *kind, *at);
    }
    t.finish()
}

fn ctx_with<'a>(intel: &'a crate::intel::Intel, sup: &'a [Suppression]) -> Context<'a> {
    Context {
        intel,
        suppressions: sup,
        now_ms: 0,
    }
}

#[test]
fn benign_traffic_raises_nothing_medium_or_high() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    for seed in [1, 2, 4242] {
        let items = stream(seed, 32, &[]);
        let mut e = Engine::new(config());
        let run = run_batches(&mut e, &by_minute(&items), &ctx);
        let serious = run.serious();
        assert!(serious.is_empty(), "seed {seed}: {serious:#?}");
        let low: Vec<_> = run
            .alerts
            .values()
            .map(|f| (f.kind, f.template.clone(), f.actor.ip))
            .collect();
        // The expired-token script is the one expected low alert.
        assert!(
            low.iter()
                .all(|(k, _, _)| *k == Some(AlertType::BruteForce)),
            "seed {seed}: {low:?}"
        );
    }
}

#[test]
fn attacks_on_volume_and_recon_raise_their_type_with_endpoint_and_actor() {
    check_attacks(&AlertType::ALL[..8]);
}

#[test]
fn attacks_on_parameters_auth_and_signatures_raise_their_type_with_endpoint_and_actor() {
    check_attacks(&AlertType::ALL[8..]);
}

/// For each kind: benign traffic (seed 7) plus that attack raises the kind, with the
/// attack's endpoint, actor and severity, and blames no benign user at medium or high.
fn check_attacks(kinds: &[AlertType]) {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let at = T0 + 20 * MIN;
    let mut failures = Vec::new();
    for &kind in kinds {
        let mut t = Traffic::default();
        traffic::benign(&mut t, 7, 25);
        let want = attacks::attack(&mut t, kind, at);
        let items = t.finish();
        let mut e = Engine::new(config());
        let run = run_batches(&mut e, &by_minute(&items), &ctx);
        let ok = run.alerts.values().any(|f| {
            f.kind == Some(kind)
                && f.severity == Some(severity_of(kind))
                && (want.template.is_empty() || f.template == want.template)
                && match want.ip {
                    Some(ip) => f.actor.ip == ip.parse().ok(),
                    None => true,
                }
        });
        // No medium or high alert blames a benign user (10.0.0.0/8) while the attack runs.
        for f in run.serious() {
            if f.actor
                .ip
                .is_some_and(|ip| ip.to_string().starts_with("10."))
            {
                failures.push(format!("{kind:?}: benign actor blamed: {f:?}"));
            }
        }
        if !ok {
            let got: Vec<_> = run
                .alerts
                .values()
                .filter(|f| f.severity >= Some(Severity::Medium) || f.kind == Some(kind))
                .map(|f| (f.kind, f.template.clone(), f.actor.ip, f.severity))
                .collect();
            failures.push(format!("{kind:?}: got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The severity each generated attack must get.
fn severity_of(kind: AlertType) -> Severity {
    use AlertType as A;
    match kind {
        A::LargeRequestBody | A::LatencySpike => Severity::Low,
        A::PopulationTrafficSpike
        | A::ClientTrafficSpike
        | A::LargeResponse
        | A::EndpointSpray
        | A::UnseenParameter
        | A::AnomalousParameterType
        | A::MaliciousIp
        | A::SuspiciousUserAgent => Severity::Medium,
        A::ParameterEnumeration
        | A::DistributedParameterEnumeration
        | A::Injection
        | A::BruteForce
        | A::CredentialStuffing
        | A::AuthBypass => Severity::High,
    }
}

#[test]
fn look_alikes_stay_low_and_api_changes_are_learned() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let mut t = Traffic::default();
    traffic::benign(&mut t, 1, 16);
    // A release adds `query:currency` and eight clients use it in the same window.
    for u in 0..8 {
        let w = traffic::who(&format!("10.0.1.{u}"), Some(&format!("u{u}")));
        let mut r = traffic::req(T0 + 13 * MIN + u, 200);
        r.params = vec![
            ("query:page", picket_shared::shape::Shape::Int),
            ("query:currency", picket_shared::shape::Shape::TextShort),
        ];
        t.add(&traffic::ep("GET", "/api/products"), &w, r);
    }
    let items = t.finish();
    let run = run_batches(&mut Engine::new(config()), &by_minute(&items), &ctx);
    assert!(
        !run.alerts
            .values()
            .any(|f| f.kind == Some(AlertType::UnseenParameter)),
        "{:?}",
        run.summary()
    );
    // The script with an expired token is a low brute force, nothing more.
    let script = run
        .alerts
        .values()
        .find(|f| f.actor.ip == "10.0.8.8".parse().ok())
        .expect("script alert");
    assert_eq!(
        (script.kind, script.severity),
        (Some(AlertType::BruteForce), Some(Severity::Low))
    );
    assert!(
        script.count >= 5,
        "one occurrence per minute: {}",
        script.count
    );
}

fn mixed() -> Vec<Item> {
    stream(
        3,
        36,
        &[
            (AlertType::Injection, T0 + 12 * MIN),
            (AlertType::ParameterEnumeration, T0 + 15 * MIN),
            (AlertType::PopulationTrafficSpike, T0 + 21 * MIN),
            (AlertType::EndpointSpray, T0 + 23 * MIN),
            (AlertType::BruteForce, T0 + 24 * MIN),
            (AlertType::CredentialStuffing, T0 + 26 * MIN),
            (AlertType::Injection, T0 + 30 * MIN),
            (AlertType::LargeResponse, T0 + 31 * MIN),
        ],
    )
}

#[test]
fn batch_splits_give_the_same_alerts() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let items = mixed();
    let a = run_batches(&mut Engine::new(config()), &by_minute(&items), &ctx);
    let chunks: Vec<&[Item]> = items.chunks(97).collect();
    let b = run_batches(&mut Engine::new(config()), &chunks, &ctx);
    let big: Vec<&[Item]> = items.chunks(1_000).collect();
    let c = run_batches(&mut Engine::new(config()), &big, &ctx);
    assert!(a.alerts.len() >= 6, "{:?}", a.summary());
    assert_eq!(a.summary(), b.summary());
    assert_eq!(a.summary(), c.summary());
    assert_eq!(
        a.alerts.keys().collect::<Vec<_>>(),
        b.alerts.keys().collect::<Vec<_>>()
    );
}

#[test]
fn restored_engine_behaves_like_the_one_that_never_stopped() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let items = mixed();
    let batches = by_minute(&items);
    let mut never = Engine::new(config());
    let whole = run_batches(&mut never, &batches, &ctx);
    for cut in [batches.len() / 3, batches.len() * 2 / 3] {
        let mut first = Engine::new(config());
        let mut run = run_batches(&mut first, &batches[..cut], &ctx);
        let state: Vec<(Vec<u8>, Vec<u8>)> = run.state.clone().into_iter().collect();
        let mut second = Engine::restore(config(), state).expect("restore");
        assert_eq!(second.stats(), first.stats());
        for b in &batches[cut..] {
            run.absorb(feed(&mut second, "s1", b, &ctx));
        }
        assert_eq!(run.alerts, whole.alerts, "cut at {cut}");
        assert_eq!(run.state, whole.state, "cut at {cut}");
        assert_eq!(second.stats(), never.stats());
    }
}

#[test]
fn writes_follow_what_the_input_touched() {
    let intel = attacks::intel();
    let ctx = ctx_with(&intel, &[]);
    let items = stream(1, 12, &[]);
    let mut e = Engine::new(config());
    let run = run_batches(&mut e, &by_window(&items), &ctx);
    assert!(run.state.len() > 50);
    let one = &items[items.len() - 1..];
    let out = feed(&mut e, "s1", one, &ctx);
    assert!(
        out.writes.len() <= 4,
        "{} writes for one item",
        out.writes.len()
    );
}

/// A tenth of the documented scale (the bench builds the whole of it in release): state
/// grows linearly, 10,000 endpoints and 100,000 actors stay under 200 MB.
#[test]
fn memory_bound_for_10k_endpoints_and_100k_actors() {
    let size = props::big_state(1_000, 10_000);
    eprintln!("{size:?} total {} bytes", size.total_bytes());
    assert_eq!(size.endpoints, 1_000);
    assert!(size.actors >= 10_000);
    assert!(
        size.total_bytes() * 10 < 200 * 1000 * 1000,
        "{}",
        size.total_bytes()
    );
}
