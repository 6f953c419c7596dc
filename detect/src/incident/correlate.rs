//! The correlator: routes each alert change to an open incident (by its actor keys or its
//! target key), opens, merges, closes and evicts incidents, and keeps the indexes.
//!
//! Index keys: an address (`203.0.113.66`), a principal (`p:<hash>`), or a target
//! (`t␁host␁method␁template␁pattern`); each key points to at most one open incident, the one
//! that last took it (an incident outside the window of a new alert keeps its alerts but
//! loses the key). The indexes are rebuilt from the persisted incidents on restore.

use super::model::{IncidentChange, IncidentFacts, IncidentKey, IncidentStats};
use super::record::{Joined, Record};
use super::stages;
use super::{CLOSED_ALERT_MIN_MEMORY_MS, IncidentConfig, MAX_CLOSED_ALERTS, Result};
use crate::model::{AlertChange, AlertFacts, AlertType};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the correlator persists: the open incidents, the closed alerts it still remembers,
/// the watermark and its counters. Indexes are derived from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorrelatorState {
    /// Open incidents by id.
    open: BTreeMap<String, Record>,
    /// Alert ids of closed incidents, each with the watermark after which it is forgotten.
    closed: BTreeMap<String, i64>,
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
    /// Index key → open incident id.
    by_key: HashMap<String, String>,
    /// Listed alert id → open incident id.
    by_alert: HashMap<String, String>,
    /// (last seen, id) of every open incident: what closes and what is evicted first.
    by_last: BTreeSet<(i64, String)>,
    /// (forget ms, alert id) of `state.closed`: what is forgotten first.
    closed_by_time: BTreeSet<(i64, String)>,
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
        for (id, r) in &c.state.open {
            c.by_last.insert((r.facts.last_seen_ms, id.clone()));
            for k in &r.keys {
                c.by_key.insert(k.clone(), id.clone());
            }
            for e in &r.facts.timeline {
                c.by_alert.insert(e.alert_id.clone(), id.clone());
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

    /// The open incidents, by id.
    pub fn open_incidents(&self) -> impl Iterator<Item = &IncidentFacts> {
        self.state.open.values().map(|r| &r.facts)
    }

    /// One open incident.
    pub fn incident(&self, id: &str) -> Option<&IncidentFacts> {
        self.state.open.get(id).map(|r| &r.facts)
    }

    /// Folds one alert change in; returns what changed, in order.
    pub fn apply(&mut self, change: &AlertChange) -> Vec<IncidentChange> {
        let mut out = Vec::new();
        let f = change.facts();
        self.state.stats.alert_changes += 1;
        let Some(kind) = f.kind else {
            self.state.stats.untyped += 1;
            return out;
        };
        if self.state.closed.contains_key(&f.id) {
            // Still changing: remember it for longer.
            self.remember_closed(&f.id, f.last_seen_ms);
            self.state.stats.late_changes += 1;
            return out;
        }
        if let Some(id) = self.by_alert.get(&f.id).cloned() {
            self.fold(&id, f, kind, false);
            out.extend(self.facts(&id).map(IncidentChange::Updated));
            return out;
        }
        let route = route(f, kind);
        let mut hits: Vec<(i64, String)> = Vec::new();
        for k in &route.keys {
            if let Some(id) = self.by_key.get(k)
                && let Some(r) = self.state.open.get(id)
                && r.in_window(f, self.config.window_ms)
            {
                hits.push((r.facts.first_seen_ms, id.clone()));
            }
        }
        hits.sort();
        hits.dedup();
        // An update of an alert not listed anywhere was counted when it was raised.
        let count_unlisted = matches!(change, AlertChange::Raised(_));
        let (id, opened) = match hits.split_first() {
            None => self.open(&route, f, &mut out),
            Some(((_, into), rest)) => {
                for (_, absorbed) in rest {
                    self.merge(into, absorbed, &mut out);
                }
                (into.clone(), false)
            }
        };
        self.index_keys(&id, &route.keys);
        self.fold(&id, f, kind, count_unlisted);
        out.extend(self.facts(&id).map(if opened {
            IncidentChange::Opened
        } else {
            IncidentChange::Updated
        }));
        out
    }

    /// Advances the watermark (event time, ms; never moves back) and closes the incidents
    /// quiet for `quiet_close_ms`, oldest first.
    pub fn tick(&mut self, watermark_ms: i64) -> Vec<IncidentChange> {
        let wm = self.state.watermark_ms.max(watermark_ms);
        self.state.watermark_ms = wm;
        let mut out = Vec::new();
        while let Some((last, id)) = self.by_last.first().cloned() {
            if last.saturating_add(self.config.quiet_close_ms) >= wm {
                break;
            }
            self.state.stats.closed_quiet += 1;
            out.extend(self.close(&id).map(IncidentChange::Closed));
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
    /// returns its id and whether it is new.
    fn open(
        &mut self,
        route: &Route,
        f: &AlertFacts,
        out: &mut Vec<IncidentChange>,
    ) -> (String, bool) {
        let record = Record::new(route.key.clone(), &route.keys[0], f);
        let id = record.facts.id.clone();
        if self.state.open.contains_key(&id) {
            // Same key and first alert: the alert is raised again without being listed
            // (the indexes never allow it; kept so a duplicate cannot clobber an incident).
            return (id, false);
        }
        while self.state.open.len() >= self.config.max_open_incidents {
            let Some((_, oldest)) = self.by_last.first().cloned() else {
                break;
            };
            self.state.stats.evicted += 1;
            out.extend(self.close(&oldest).map(IncidentChange::Closed));
        }
        self.by_last.insert((record.facts.last_seen_ms, id.clone()));
        self.state.open.insert(id.clone(), record);
        self.state.stats.opened += 1;
        (id, true)
    }

    /// Points the alert's keys at incident `id` (taking them from incidents outside the
    /// window), as far as its key cap allows.
    fn index_keys(&mut self, id: &str, keys: &[String]) {
        for k in keys {
            let previous = self.by_key.get(k).cloned();
            if previous.as_deref() == Some(id) {
                continue;
            }
            let Some(r) = self.state.open.get_mut(id) else {
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
            self.by_key.insert(k.clone(), id.to_owned());
        }
    }

    /// Folds an alert into open incident `id` and refreshes it.
    fn fold(&mut self, id: &str, f: &AlertFacts, kind: AlertType, count_unlisted: bool) {
        let Some(r) = self.state.open.get_mut(id) else {
            return;
        };
        let last = r.facts.last_seen_ms;
        let joined = r.fold(f, kind, &self.config, count_unlisted);
        r.refresh();
        let now = r.facts.last_seen_ms;
        match joined {
            Joined::Listed => {
                if !self.by_alert.contains_key(&f.id) {
                    self.by_alert.insert(f.id.clone(), id.to_owned());
                }
            }
            Joined::Unlisted if count_unlisted => self.state.stats.alerts_unlisted += 1,
            Joined::Unlisted => {}
        }
        self.relast(id, last, now);
    }

    /// Moves `absorbed`'s alerts and keys into `into`.
    fn merge(&mut self, into: &str, absorbed: &str, out: &mut Vec<IncidentChange>) {
        let Some(gone) = self.state.open.remove(absorbed) else {
            return;
        };
        self.by_last
            .remove(&(gone.facts.last_seen_ms, absorbed.to_owned()));
        let keys = gone.keys.clone();
        let alerts: Vec<String> = gone.facts.alert_ids.clone();
        let Some(r) = self.state.open.get_mut(into) else {
            return;
        };
        let last = r.facts.last_seen_ms;
        let unlisted = r.absorb(gone, &self.config);
        r.refresh();
        let now = r.facts.last_seen_ms;
        for k in keys {
            if r.keys.len() < self.config.max_keys_per_incident {
                r.keys.insert(k.clone());
                self.by_key.insert(k, into.to_owned());
            } else {
                self.by_key.remove(&k);
                self.state.stats.keys_unindexed += 1;
            }
        }
        for a in alerts {
            if r.lists(&a) {
                self.by_alert.insert(a, into.to_owned());
            } else {
                self.by_alert.remove(&a);
            }
        }
        self.state.stats.alerts_unlisted += unlisted;
        self.state.stats.merged += 1;
        self.relast(into, last, now);
        out.push(IncidentChange::Merged {
            into: into.to_owned(),
            absorbed: absorbed.to_owned(),
        });
    }

    /// Closes open incident `id`: forgets its keys and alerts, remembers its alert ids.
    fn close(&mut self, id: &str) -> Option<IncidentFacts> {
        let Some(r) = self.state.open.remove(id) else {
            debug_assert!(false, "closing an incident that is not open: {id}");
            self.by_last.retain(|(_, x)| x != id);
            return None;
        };
        self.by_last.remove(&(r.facts.last_seen_ms, id.to_owned()));
        for k in &r.keys {
            if self.by_key.get(k).is_some_and(|x| x == id) {
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

    /// Re-files open incident `id` under its new last-seen time.
    fn relast(&mut self, id: &str, before: i64, after: i64) {
        if before != after {
            self.by_last.remove(&(before, id.to_owned()));
            self.by_last.insert((after, id.to_owned()));
        }
    }

    /// A copy of open incident `id`'s facts.
    fn facts(&self, id: &str) -> Option<IncidentFacts> {
        let facts = self.state.open.get(id).map(|r| r.facts.clone());
        debug_assert!(
            facts.is_some(),
            "facts of an incident that is not open: {id}"
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
