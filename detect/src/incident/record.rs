//! One open incident: its facts and what the correlator needs besides them (the actor keys
//! indexed for it, hashes of the actors counted). Folding an alert in, absorbing another
//! incident and recomputing the derived facts (ids, stages, severity, reason) live here.

use super::model::{IncidentFacts, IncidentKey, TimelineEntry};
use super::stages::{self, Judged};
use super::{IncidentConfig, MAX_COUNTED_ACTORS, MAX_SENSORS_PER_INCIDENT};
use crate::model::{Actor, AlertFacts, AlertType, Severity};
use crate::table::stable_hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An incident's 64-bit handle: the number its 16-hex-digit id spells.
pub type Handle = u64;

/// An open incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub handle: Handle,
    pub facts: IncidentFacts,
    /// The index keys (addresses, `p:<principal>`, or the target key) that point here, at
    /// most `max_keys_per_incident`.
    pub keys: BTreeSet<String>,
    /// Hashes of the distinct actors counted (at most [`MAX_COUNTED_ACTORS`]).
    pub actor_hashes: BTreeSet<u64>,
}

/// How an alert joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// Listed in the timeline (new, or an update of a listed alert).
    Listed,
    /// Counted but not listed: the incident held its cap of listed alerts.
    Unlisted,
}

impl Record {
    /// A new incident around its first alert (not yet folded in). The id hashes the key,
    /// the alert's id and its last seen as it opens the incident: an alert forgotten after
    /// a closed incident (see `MAX_CLOSED_ALERTS`) that changes again opens an incident with
    /// a new id.
    pub fn new(key: IncidentKey, key_text: &str, first: &AlertFacts) -> Record {
        let handle = stable_hash(&[
            b"incident",
            key_text.as_bytes(),
            first.id.as_bytes(),
            &first.last_seen_ms.to_be_bytes(),
        ]);
        Record {
            handle,
            facts: IncidentFacts {
                id: format!("{handle:016x}"),
                key,
                severity: Severity::Informational,
                alert_severity: Severity::Informational,
                actors: Vec::new(),
                actors_more: 0,
                sensors: BTreeSet::new(),
                alert_ids: Vec::new(),
                alerts_more: 0,
                stages: Vec::new(),
                timeline: Vec::new(),
                first_seen_ms: first.first_seen_ms,
                last_seen_ms: first.last_seen_ms,
                reason: String::new(),
            },
            keys: BTreeSet::new(),
            actor_hashes: BTreeSet::new(),
        }
    }

    /// Whether an alert's time range is within `window_ms` of the incident's.
    pub fn in_window(&self, f: &AlertFacts, window_ms: i64) -> bool {
        f.first_seen_ms <= self.facts.last_seen_ms.saturating_add(window_ms)
            && f.last_seen_ms >= self.facts.first_seen_ms.saturating_sub(window_ms)
    }

    /// Whether the timeline lists `alert_id`.
    pub fn lists(&self, alert_id: &str) -> bool {
        self.facts.timeline.iter().any(|e| e.alert_id == alert_id)
    }

    /// Folds an alert (new or updated) in. `count_unlisted`: whether an alert that does not
    /// fit the timeline counts as one more alert (false for an update of an alert not
    /// listed, which was counted when it was raised).
    pub fn fold(
        &mut self,
        f: &AlertFacts,
        kind: AlertType,
        config: &IncidentConfig,
        count_unlisted: bool,
    ) -> Joined {
        let severity = f.severity.unwrap_or(Severity::Informational);
        let facts = &mut self.facts;
        facts.first_seen_ms = facts.first_seen_ms.min(f.first_seen_ms);
        facts.last_seen_ms = facts.last_seen_ms.max(f.last_seen_ms);
        facts.alert_severity = facts.alert_severity.max(severity);
        let stage = stages::stage(kind);
        if let Err(at) = facts.stages.binary_search(&stage) {
            facts.stages.insert(at, stage);
        }
        for s in &f.sensors {
            if facts.sensors.len() >= MAX_SENSORS_PER_INCIDENT {
                break;
            }
            if !facts.sensors.contains(s) {
                facts.sensors.insert(s.clone());
            }
        }
        let actors = std::iter::once(&f.actor).chain(&f.actors);
        for a in actors.filter(|a| a.ip.is_some() || a.principal.is_some()) {
            self.count_actor(a, config.max_actors_per_incident);
        }
        let joined = self.place(f, kind, severity, config.max_alerts_per_incident);
        if joined == Joined::Unlisted && count_unlisted {
            self.facts.alerts_more += 1;
        }
        joined
    }

    /// Puts the alert's timeline entry in place (or updates it); `Unlisted` when full.
    fn place(&mut self, f: &AlertFacts, kind: AlertType, severity: Severity, cap: usize) -> Joined {
        let timeline = &mut self.facts.timeline;
        if let Some(at) = timeline.iter().position(|e| e.alert_id == f.id) {
            let e = &mut timeline[at];
            let moved = e.first_seen_ms != f.first_seen_ms;
            e.first_seen_ms = f.first_seen_ms;
            e.last_seen_ms = e.last_seen_ms.max(f.last_seen_ms);
            e.severity = e.severity.max(severity);
            if moved {
                timeline.sort_by(|a, b| order(a).cmp(&order(b)));
                self.facts.alert_ids = timeline.iter().map(|e| e.alert_id.clone()).collect();
            }
            return Joined::Listed;
        }
        if timeline.len() >= cap {
            return Joined::Unlisted;
        }
        let entry = TimelineEntry {
            alert_id: f.id.clone(),
            kind,
            stage: stages::stage(kind),
            first_seen_ms: f.first_seen_ms,
            last_seen_ms: f.last_seen_ms,
            severity,
            host: f.host.clone(),
            method: f.method.clone(),
            template: f.template.clone(),
        };
        let at = timeline.partition_point(|e| order(e) < order(&entry));
        timeline.insert(at, entry);
        self.facts.alert_ids.insert(at, f.id.clone());
        Joined::Listed
    }

    /// Counts a distinct actor (by address and principal); lists it while there is room.
    fn count_actor(&mut self, a: &Actor, cap: usize) {
        let ip: &[u8] = match &a.ip {
            Some(std::net::IpAddr::V4(v4)) => &v4.octets(),
            Some(std::net::IpAddr::V6(v6)) => &v6.octets(),
            None => &[],
        };
        let principal = a.principal.as_deref().unwrap_or_default();
        let h = stable_hash(&[ip, principal.as_bytes()]);
        if self.actor_hashes.contains(&h) || self.actor_hashes.len() >= MAX_COUNTED_ACTORS {
            return;
        }
        self.actor_hashes.insert(h);
        if self.facts.actors.len() < cap {
            self.facts.actors.push(Actor {
                ip: a.ip,
                principal: a.principal.clone(),
                user_agent: a.user_agent.clone(),
            });
        } else {
            self.facts.actors_more += 1;
        }
    }

    /// Folds every alert of `other` in (a merge). Returns the alerts that did not fit.
    pub fn absorb(&mut self, other: Record, config: &IncidentConfig) -> u64 {
        let o = other.facts;
        self.facts.first_seen_ms = self.facts.first_seen_ms.min(o.first_seen_ms);
        self.facts.last_seen_ms = self.facts.last_seen_ms.max(o.last_seen_ms);
        self.facts.alert_severity = self.facts.alert_severity.max(o.alert_severity);
        for s in o.stages {
            if let Err(at) = self.facts.stages.binary_search(&s) {
                self.facts.stages.insert(at, s);
            }
        }
        for s in o.sensors {
            if self.facts.sensors.len() < MAX_SENSORS_PER_INCIDENT {
                self.facts.sensors.insert(s);
            }
        }
        // Listed actors first (they take free list places), then the ones the other incident
        // counted without listing: those stay counted, not listed.
        for a in &o.actors {
            self.count_actor(a, config.max_actors_per_incident);
        }
        for h in other.actor_hashes {
            if self.actor_hashes.len() >= MAX_COUNTED_ACTORS {
                break;
            }
            if self.actor_hashes.insert(h) {
                self.facts.actors_more += 1;
            }
        }
        let mut dropped = o.alerts_more;
        for e in o.timeline {
            if self.facts.timeline.len() >= config.max_alerts_per_incident {
                dropped += 1;
                continue;
            }
            let at = self
                .facts
                .timeline
                .partition_point(|x| order(x) < order(&e));
            self.facts.alert_ids.insert(at, e.alert_id.clone());
            self.facts.timeline.insert(at, e);
        }
        self.facts.alerts_more += dropped;
        dropped - o.alerts_more
    }

    /// Recomputes what follows from the alerts: severity and reason.
    pub fn refresh(&mut self) {
        let f = &mut self.facts;
        debug_assert!(
            f.alert_ids
                .iter()
                .eq(f.timeline.iter().map(|e| &e.alert_id))
        );
        let (severity, reason) = stages::judge(&Judged {
            key: &f.key,
            timeline: &f.timeline,
            alerts: f.timeline.len() as u64 + f.alerts_more,
            worst: f.alert_severity,
            sensors: f.sensors.len(),
            actors: &f.actors,
            actors_more: f.actors_more,
        });
        f.severity = severity;
        f.reason = reason;
        debug_assert!(f.first_seen_ms <= f.last_seen_ms);
        debug_assert!(f.severity >= f.alert_severity);
    }
}

/// Timeline order: first seen, then id.
fn order(e: &TimelineEntry) -> (i64, &str) {
    (e.first_seen_ms, &e.alert_id)
}
