//! Alert emission: deterministic ids, deduplication and suppression.
//!
//! An alert's dedup key is its type plus a type-specific key (the actor, the endpoint, or
//! both; see each detector). An occurrence whose event time is within `dedup_window_ms` of the
//! open alert's last occurrence updates it (count, last seen, peak figures, sensors, evidence);
//! otherwise it opens a new alert whose id is the stable hash of (type, dedup key, event time
//! of the opening occurrence), so a replay yields the same ids. An alert that a suppression
//! rule swallowed when it opened stays swallowed for its whole life: its later occurrences are
//! reported in `Output.suppressed`, never as updates. Open alerts are forgotten (state key
//! deleted) once the event time has moved [`FORGET_AFTER_MS`] beyond their dedup window.

use crate::model::{Actor, AlertChange, AlertFacts, AlertType, Figure, Severity};
use crate::table::{Table, stable_hash};
use crate::{Context, Output, Stats};
use picket_shared::EndpointKey;
use serde::{Deserialize, Serialize};

/// Most open alerts kept for deduplication; the least recently seen go first (counted).
pub const MAX_OPEN_ALERTS: usize = 50_000;
/// Most evidence strings per alert.
pub const MAX_EVIDENCE: usize = 16;
/// Most listed actors per alert.
pub const MAX_ACTORS: usize = 32;
/// Most sensors named per alert.
pub const MAX_SENSORS: usize = 16;
/// Extra event time beyond the dedup window before an open alert is forgotten (late data
/// within this still updates it).
pub const FORGET_AFTER_MS: i64 = 10 * 60_000;

/// One occurrence a detector found.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub kind: AlertType,
    pub severity: Severity,
    /// The endpoint, or just a host (method and template empty) for host-level alerts.
    pub endpoint: EndpointKey,
    pub actor: Actor,
    pub actors: Vec<Actor>,
    /// What makes "the same thing" for this type (actor and/or endpoint), without the type.
    pub dedup: String,
    pub ts_ms: i64,
    pub count: u64,
    pub figures: Vec<Figure>,
    pub evidence: Vec<String>,
}

impl Candidate {
    pub fn new(kind: AlertType, severity: Severity, endpoint: &EndpointKey, ts_ms: i64) -> Self {
        Candidate {
            kind,
            severity,
            endpoint: endpoint.clone(),
            actor: Actor::default(),
            actors: Vec::new(),
            dedup: String::new(),
            ts_ms,
            count: 1,
            figures: Vec::new(),
            evidence: Vec::new(),
        }
    }

    pub fn figure(mut self, name: &str, observed: f64, baseline: f64, unit: &str) -> Self {
        self.figures.push(Figure {
            name: name.into(),
            observed,
            baseline,
            unit: unit.into(),
        });
        self
    }
}

/// An alert still open for deduplication.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Open {
    pub facts: AlertFacts,
    /// The rule that swallowed it when it opened.
    pub suppressed_by: Option<String>,
}

/// Emits `c` as a new or updated alert (or a suppressed one).
pub fn emit(
    open: &mut Table<Open>,
    c: Candidate,
    sensor: &str,
    window_ms: i64,
    ctx: &Context<'_>,
    out: &mut Output,
    stats: &mut Stats,
) {
    let key = format!("{}\u{1}{}", c.kind.id(), c.dedup);
    if let Some(o) = open.get_mut(&key)
        && c.ts_ms <= o.facts.last_seen_ms.saturating_add(window_ms)
        && c.ts_ms >= o.facts.first_seen_ms.saturating_sub(window_ms)
    {
        fold(&mut o.facts, c, sensor);
        match &o.suppressed_by {
            Some(rule) => {
                stats.alerts_suppressed += 1;
                out.suppressed.push((rule.clone(), o.facts.id.clone()));
            }
            None => {
                stats.alerts_updated += 1;
                out.changes.push(AlertChange::Updated(o.facts.clone()));
            }
        }
        return;
    }
    let id = format!(
        "{:016x}",
        stable_hash(&[
            c.kind.id().as_bytes(),
            c.dedup.as_bytes(),
            &c.ts_ms.to_be_bytes()
        ])
    );
    let mut facts = AlertFacts {
        id,
        kind: Some(c.kind),
        severity: Some(c.severity),
        host: c.endpoint.host.clone(),
        method: c.endpoint.method.clone(),
        template: c.endpoint.template.clone(),
        actor: c.actor.clone(),
        first_seen_ms: c.ts_ms,
        last_seen_ms: c.ts_ms,
        ..AlertFacts::default()
    };
    fold(&mut facts, c, sensor);
    facts.count = facts.count.max(1);
    let rule = ctx
        .suppressions
        .iter()
        .find(|s| s.matches(&facts, ctx.now_ms))
        .map(|s| s.id.clone());
    match &rule {
        Some(r) => {
            stats.alerts_suppressed += 1;
            out.suppressed.push((r.clone(), facts.id.clone()));
        }
        None => {
            stats.alerts_raised += 1;
            out.changes.push(AlertChange::Raised(facts.clone()));
        }
    }
    open.entry(&key, || Open {
        facts: AlertFacts::default(),
        suppressed_by: None,
    })
    .clone_from(&Open {
        facts,
        suppressed_by: rule,
    });
    if open.len() > MAX_OPEN_ALERTS {
        stats.evictions += open.evict_oldest(MAX_OPEN_ALERTS / 16, |o| o.facts.last_seen_ms) as u64;
    }
}

/// Folds an occurrence into an alert: count, time range, peaks, severity, sensors, actors,
/// evidence.
fn fold(f: &mut AlertFacts, c: Candidate, sensor: &str) {
    f.count = f.count.saturating_add(c.count);
    f.first_seen_ms = f.first_seen_ms.min(c.ts_ms);
    f.last_seen_ms = f.last_seen_ms.max(c.ts_ms);
    if c.severity > f.severity.unwrap_or(Severity::Informational) {
        f.severity = Some(c.severity);
    }
    if f.sensors.len() < MAX_SENSORS {
        f.sensors.insert(sensor.to_owned());
    }
    for fig in c.figures {
        match f.figures.iter_mut().find(|x| x.name == fig.name) {
            Some(x) if fig.observed > x.observed => *x = fig,
            Some(_) => {}
            None => f.figures.push(fig),
        }
    }
    for a in c.actors {
        if f.actors.len() < MAX_ACTORS && !f.actors.contains(&a) {
            f.actors.push(a);
        }
    }
    for e in c.evidence {
        if f.evidence.len() < MAX_EVIDENCE && !f.evidence.contains(&e) {
            f.evidence.push(e);
        }
    }
}

/// Forgets alerts whose dedup window (plus [`FORGET_AFTER_MS`]) ended before `now_event_ms`.
pub fn forget(open: &mut Table<Open>, now_event_ms: i64, window_ms: i64) {
    let old: Vec<String> = open
        .iter()
        .filter(|(_, o)| o.facts.last_seen_ms + window_ms + FORGET_AFTER_MS < now_event_ms)
        .map(|(k, _)| k.clone())
        .collect();
    for k in old {
        open.remove(&k);
    }
}
