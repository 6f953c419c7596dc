//! The correlator: routes each alert change to an open incident (by its actor keys or its
//! target key), opens, merges, closes and evicts incidents, and keeps the indexes.
//!
//! Index keys: an address (`203.0.113.66`), a principal (`p:<hash>`), or a target
//! (`t␁host␁method␁template␁pattern`); each key points to at most one open incident, the one
//! that last took it (an incident outside the window of a new alert keeps its alerts but
//! loses the key). The indexes are rebuilt from the persisted incidents on restore.
//! Internally an incident is known by its 64-bit handle, the number its hex id spells.

use super::model::{IncidentChange, IncidentFacts, IncidentKey, IncidentStats};
use super::record::{Handle, Joined, Record};
use super::stages;
use super::{CLOSED_ALERT_MIN_MEMORY_MS, IncidentConfig, MAX_CLOSED_ALERTS, Result};
use crate::model::{AlertChange, AlertFacts, AlertType};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What the correlator persists: the open incidents, the closed alerts it still remembers,
/// the watermark and its counters. Indexes are derived from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorrelatorState {
    /// Open incidents by handle.
    open: HashMap<Handle, Record>,
    /// Alert ids of closed incidents, each with the watermark after which it is forgotten.
    closed: HashMap<String, i64>,
    /// Newest watermark given to `tick` (event time, ms).
    watermark_ms: i64,
    stats: IncidentStats,
}

/// One tenant's incident correlator. Deterministic: the same alert changes and ticks yield
/// the same incident changes, from a fresh correlator or from a restored one.
#[derive(Debug, Clone)]
pub struct Correlator {
    config: IncidentConfig,
    state: CorrelatorState,
    /// Index key → open incident.
    by_key: HashMap<String, Handle>,
    /// Listed alert id → open incident.
    by_alert: HashMap<String, Handle>,
    /// (last seen, handle) of every open incident: what closes and what is evicted first.
    by_last: BTreeSet<(i64, Handle)>,
    /// (forget ms, alert id) of `state.closed`: what is forgotten first.
    closed_by_time: BTreeSet<(i64, String)>,
}

/// The changes of one batch, with the incidents touched but not yet reported.
#[derive(Default)]
struct Batch {
    out: Vec<IncidentChange>,
    /// Touched open incidents not yet reported, with whether they opened in this batch.
    pending: HashMap<Handle, bool>,
    /// First-touch order of `pending` (an incident reported early and touched again
    /// appears twice; `pending` reports it once).
    order: Vec<Handle>,
}

impl Batch {
    fn touch(&mut self, h: Handle, opened: bool) {
        let was = self.pending.entry(h).or_insert_with(|| {
            self.order.push(h);
            false
        });
        *was |= opened;
    }
}

/// Where an alert goes: its index keys (first one names the incident) and incident key.
struct Route {
    keys: Vec<String>,
    key: IncidentKey,
}

impl Correlator {
    /// A correlator with no incidents.
    pub fn new(config: IncidentConfig) -> Result<Correlator> {
        Correlator::restore(config, CorrelatorState::default())
    }

    /// A correlator continuing from persisted state.
    pub fn restore(config: IncidentConfig, state: CorrelatorState) -> Result<Correlator> {
        config.validate()?;
        let mut c = Correlator {
            config,
            state,
            by_key: HashMap::default(),
            by_alert: HashMap::default(),
            by_last: BTreeSet::new(),
            closed_by_time: BTreeSet::new(),
        };
        for (&h, r) in &c.state.open {
            c.by_last.insert((r.facts.last_seen_ms, h));
            for k in &r.keys {
                let had = c.by_key.insert(k.clone(), h);
                debug_assert!(had.is_none(), "key {k} in two incidents");
            }
            for e in &r.facts.timeline {
                c.by_alert.insert(e.alert_id.clone(), h);
            }
        }
        c.closed_by_time = c
            .state
            .closed
            .iter()
            .map(|(a, t)| (*t, a.clone()))
            .collect();
        Ok(c)
    }

    /// A correlator continuing from state saved with [`Correlator::to_json`].
    pub fn from_json(config: IncidentConfig, json: &[u8]) -> Result<Correlator> {
        Correlator::restore(config, serde_json::from_slice(json)?)
    }

    /// The persisted state, as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data (strings, numbers, maps with string keys): serializing cannot fail.
        serde_json::to_vec(&self.state).unwrap_or_default()
    }

    /// The state to persist.
    pub fn state(&self) -> &CorrelatorState {
        &self.state
    }

    /// The settings the correlator runs with.
    pub fn config(&self) -> &IncidentConfig {
        &self.config
    }

    /// Counters since the correlator was created (survive restore).
    pub fn stats(&self) -> &IncidentStats {
        &self.state.stats
    }

    /// The newest watermark given to [`Correlator::tick`].
    pub fn watermark_ms(&self) -> i64 {
        self.state.watermark_ms
    }

    /// The open incidents, the one quiet the longest first.
    pub fn open_incidents(&self) -> impl Iterator<Item = &IncidentFacts> {
        self.by_last
            .iter()
            .filter_map(|(_, h)| self.state.open.get(h).map(|r| &r.facts))
    }

    /// One open incident.
    pub fn incident(&self, id: &str) -> Option<&IncidentFacts> {
        let h = Handle::from_str_radix(id, 16).ok()?;
        self.state.open.get(&h).map(|r| &r.facts)
    }

    /// Folds one alert change in; returns what changed, in order.
    pub fn apply(&mut self, change: &AlertChange) -> Vec<IncidentChange> {
        self.apply_batch(std::slice::from_ref(change))
    }

    /// Folds the alert changes of one analysis in, in order, and reports each touched
    /// incident once, with its facts after the whole batch (in the order first touched);
    /// merges and evictions are reported where they happen, preceded by the pending report
    /// of the incidents they name. The incidents end up as with [`Correlator::apply`] one
    /// change at a time; only fewer intermediate facts are reported.
    pub fn apply_batch(&mut self, changes: &[AlertChange]) -> Vec<IncidentChange> {
        let mut b = Batch {
            out: Vec::with_capacity(changes.len()),
            ..Batch::default()
        };
        for c in changes {
            self.one(c, &mut b);
        }
        for h in std::mem::take(&mut b.order) {
            self.report(h, &mut b);
        }
        b.out
    }

    /// Folds one alert change in.
    fn one(&mut self, change: &AlertChange, b: &mut Batch) {
        let f = change.facts();
        self.state.stats.alert_changes += 1;
        let Some(kind) = f.kind else {
            self.state.stats.untyped += 1;
            return;
        };
        if self.state.closed.contains_key(&f.id) {
            // Still changing: remember it for longer.
            self.remember_closed(&f.id, f.last_seen_ms);
            self.state.stats.late_changes += 1;
            return;
        }
        if let Some(h) = self.by_alert.get(&f.id).copied() {
            self.fold(h, f, kind, false);
            b.touch(h, false);
            return;
        }
        let route = route(f, kind);
        // (first seen, id) orders the hits: the oldest survives a merge.
        let mut hits: Vec<(i64, &str, Handle)> = Vec::new();
        for k in &route.keys {
            if let Some(&h) = self.by_key.get(k)
                && let Some(r) = self.state.open.get(&h)
                && r.in_window(f, self.config.window_ms)
            {
                hits.push((r.facts.first_seen_ms, &r.facts.id, h));
            }
        }
        hits.sort();
        hits.dedup();
        // An update of an alert not listed anywhere was counted when it was raised.
        let count_unlisted = matches!(change, AlertChange::Raised(_));
        let hits: Vec<Handle> = hits.into_iter().map(|(_, _, h)| h).collect();
        let (h, opened) = match hits.split_first() {
            None => self.open(&route, f, b),
            Some((&into, rest)) => {
                for &absorbed in rest {
                    self.merge(into, absorbed, b);
                }
                (into, false)
            }
        };
        self.index_keys(h, &route.keys);
        self.fold(h, f, kind, count_unlisted);
        b.touch(h, opened);
    }

    /// Reports incident `h` if it is pending in the batch.
    fn report(&self, h: Handle, b: &mut Batch) {
        if let Some(opened) = b.pending.remove(&h) {
            let change = if opened {
                IncidentChange::Opened
            } else {
                IncidentChange::Updated
            };
            b.out.extend(self.facts(h).map(change));
        }
    }

    /// Advances the watermark (event time, ms; never moves back) and closes the incidents
    /// quiet for `quiet_close_ms`, oldest first.
    pub fn tick(&mut self, watermark_ms: i64) -> Vec<IncidentChange> {
        let wm = self.state.watermark_ms.max(watermark_ms);
        self.state.watermark_ms = wm;
        let mut out = Vec::new();
        while let Some(&(last, h)) = self.by_last.first() {
            if last.saturating_add(self.config.quiet_close_ms) >= wm {
                break;
            }
            self.state.stats.closed_quiet += 1;
            out.extend(self.close(h).map(IncidentChange::Closed));
        }
        while let Some((forget_ms, _)) = self.closed_by_time.first()
            && *forget_ms < wm
        {
            if let Some((_, a)) = self.closed_by_time.pop_first() {
                self.state.closed.remove(&a);
            }
        }
        out
    }

    /// Opens a new incident for the alert (evicting the one quiet the longest when full);
    /// returns its handle and whether it is new.
    fn open(&mut self, route: &Route, f: &AlertFacts, b: &mut Batch) -> (Handle, bool) {
        let record = Record::new(route.key.clone(), &route.keys[0], f);
        let h = record.handle;
        if self.state.open.contains_key(&h) {
            // Same key and first alert: the alert is raised again without being listed
            // (the indexes never allow it; kept so a duplicate cannot clobber an incident).
            return (h, false);
        }
        while self.state.open.len() >= self.config.max_open_incidents {
            let Some(&(_, oldest)) = self.by_last.first() else {
                break;
            };
            self.state.stats.evicted += 1;
            // Closed supersedes a pending update; an incident opened in this batch is
            // reported opened first.
            if b.pending.remove(&oldest) == Some(true) {
                b.out.extend(self.facts(oldest).map(IncidentChange::Opened));
            }
            b.out.extend(self.close(oldest).map(IncidentChange::Closed));
        }
        self.by_last.insert((record.facts.last_seen_ms, h));
        self.state.open.insert(h, record);
        self.state.stats.opened += 1;
        (h, true)
    }

    /// Points the alert's keys at incident `h` (taking them from incidents outside the
    /// window), as far as its key cap allows.
    fn index_keys(&mut self, h: Handle, keys: &[String]) {
        for k in keys {
            let previous = self.by_key.get(k).copied();
            if previous == Some(h) {
                continue;
            }
            let Some(r) = self.state.open.get_mut(&h) else {
                return;
            };
            if r.keys.len() >= self.config.max_keys_per_incident {
                self.state.stats.keys_unindexed += 1;
                continue;
            }
            r.keys.insert(k.clone());
            if let Some(old) = previous.and_then(|p| self.state.open.get_mut(&p)) {
                old.keys.remove(k);
            }
            self.by_key.insert(k.clone(), h);
        }
    }

    /// Folds an alert into open incident `h` and refreshes it.
    fn fold(&mut self, h: Handle, f: &AlertFacts, kind: AlertType, count_unlisted: bool) {
        let Some(r) = self.state.open.get_mut(&h) else {
            return;
        };
        let last = r.facts.last_seen_ms;
        let joined = r.fold(f, kind, &self.config, count_unlisted);
        r.refresh();
        let now = r.facts.last_seen_ms;
        match joined {
            Joined::Listed => {
                if !self.by_alert.contains_key(&f.id) {
                    self.by_alert.insert(f.id.clone(), h);
                }
            }
            Joined::Unlisted if count_unlisted => self.state.stats.alerts_unlisted += 1,
            Joined::Unlisted => {}
        }
        self.relast(h, last, now);
    }

    /// Moves `absorbed`'s alerts and keys into `into`.
    fn merge(&mut self, into: Handle, absorbed: Handle, b: &mut Batch) {
        self.report(into, b);
        self.report(absorbed, b);
        let Some(gone) = self.state.open.remove(&absorbed) else {
            return;
        };
        self.by_last.remove(&(gone.facts.last_seen_ms, absorbed));
        let keys = gone.keys.clone();
        let alerts: Vec<String> = gone.facts.alert_ids.clone();
        let absorbed_id = gone.facts.id.clone();
        let Some(r) = self.state.open.get_mut(&into) else {
            return;
        };
        let last = r.facts.last_seen_ms;
        let unlisted = r.absorb(gone, &self.config);
        r.refresh();
        let now = r.facts.last_seen_ms;
        for k in keys {
            if r.keys.len() < self.config.max_keys_per_incident {
                r.keys.insert(k.clone());
                self.by_key.insert(k, into);
            } else {
                self.by_key.remove(&k);
                self.state.stats.keys_unindexed += 1;
            }
        }
        for a in alerts {
            if r.lists(&a) {
                self.by_alert.insert(a, into);
            } else {
                self.by_alert.remove(&a);
            }
        }
        b.out.push(IncidentChange::Merged {
            into: r.facts.id.clone(),
            absorbed: absorbed_id,
        });
        self.state.stats.alerts_unlisted += unlisted;
        self.state.stats.merged += 1;
        self.relast(into, last, now);
    }

    /// Closes open incident `h`: forgets its keys and alerts, remembers its alert ids.
    fn close(&mut self, h: Handle) -> Option<IncidentFacts> {
        let Some(r) = self.state.open.remove(&h) else {
            debug_assert!(false, "closing an incident that is not open: {h:016x}");
            self.by_last.retain(|(_, x)| *x != h);
            return None;
        };
        self.by_last.remove(&(r.facts.last_seen_ms, h));
        for k in &r.keys {
            if self.by_key.get(k) == Some(&h) {
                self.by_key.remove(k);
            }
        }
        for e in &r.facts.timeline {
            self.by_alert.remove(&e.alert_id);
            self.remember_closed(&e.alert_id, e.last_seen_ms);
        }
        Some(r.facts)
    }

    /// Remembers (or keeps remembering) the alert of a closed incident, last changed at
    /// `last_seen_ms`; forgets the ones due first beyond [`MAX_CLOSED_ALERTS`].
    fn remember_closed(&mut self, alert_id: &str, last_seen_ms: i64) {
        let keep_ms = self
            .config
            .window_ms
            .saturating_mul(2)
            .max(CLOSED_ALERT_MIN_MEMORY_MS);
        let mut forget = last_seen_ms.saturating_add(keep_ms);
        if let Some(t) = self.state.closed.get(alert_id).copied() {
            self.closed_by_time.remove(&(t, alert_id.to_owned()));
            forget = forget.max(t);
        }
        self.state.closed.insert(alert_id.to_owned(), forget);
        self.closed_by_time.insert((forget, alert_id.to_owned()));
        while self.state.closed.len() > MAX_CLOSED_ALERTS {
            if let Some((_, a)) = self.closed_by_time.pop_first() {
                self.state.closed.remove(&a);
            }
        }
    }

    /// Re-files open incident `h` under its new last-seen time.
    fn relast(&mut self, h: Handle, before: i64, after: i64) {
        if before != after {
            self.by_last.remove(&(before, h));
            self.by_last.insert((after, h));
        }
    }

    /// A copy of open incident `h`'s facts.
    fn facts(&self, h: Handle) -> Option<IncidentFacts> {
        let facts = self.state.open.get(&h).map(|r| r.facts.clone());
        debug_assert!(
            facts.is_some(),
            "facts of an incident that is not open: {h:016x}"
        );
        facts
    }
}

/// Where an alert goes: its single actor's keys, or its target (see the module docs).
fn route(f: &AlertFacts, kind: AlertType) -> Route {
    let named = |a: &&crate::Actor| a.ip.is_some() || a.principal.is_some();
    let single = Some(&f.actor)
        .filter(named)
        .or_else(|| (f.actors.len() == 1).then(|| &f.actors[0]).filter(named));
    if let Some(a) = single.filter(|_| !stages::distributed(kind)) {
        let mut keys = Vec::with_capacity(2);
        if let Some(ip) = a.ip {
            keys.push(ip.to_string());
        }
        if let Some(p) = &a.principal {
            keys.push(format!("p:{p}"));
        }
        let key = IncidentKey::Actor {
            actor: keys[0].clone(),
        };
        return Route { keys, key };
    }
    let pattern = stages::pattern(kind);
    let text = format!(
        "t\u{1}{}\u{1}{}\u{1}{}\u{1}{}",
        f.host,
        f.method,
        f.template,
        pattern.id()
    );
    Route {
        keys: vec![text],
        key: IncidentKey::Target {
            host: f.host.clone(),
            method: f.method.clone(),
            template: f.template.clone(),
            pattern,
        },
    }
}
