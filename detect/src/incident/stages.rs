//! The kill-chain stage and attack pattern of every alert type, and how an incident's
//! severity and reason follow from its alerts.
//!
//! Stage mapping (the MITRE tactic of `crate::catalogue` where it names a step against the
//! API; the deviations say why):
//!
//! | alert type | stage | catalogue tactic |
//! |---|---|---|
//! | `endpoint_spray` | reconnaissance | Reconnaissance |
//! | `suspicious_user_agent` | reconnaissance | Reconnaissance |
//! | `malicious_ip` | reconnaissance | Command and Control: the tactic describes the attacker's infrastructure (a proxy, Tor), not a step against the API; it is known from first contact, so it marks the start of the chain |
//! | `unseen_parameter` | reconnaissance | Initial Access: a parameter the API never saw is a probe for what it accepts (mass-assignment fuzzing), low severity and also fired by releases, so it must not count as getting in |
//! | `injection` | exploitation | Initial Access |
//! | `auth_bypass` | exploitation | Initial Access |
//! | `anomalous_parameter_type` | exploitation | Initial Access |
//! | `parameter_enumeration` | exploitation | Initial Access: walking object ids exploits broken object-level authorization (BOLA), the step before reading others' data |
//! | `large_request_body` | exploitation | Initial Access: an oversized body is a delivery vehicle (overflow, deserialization payloads), as its remediation says |
//! | `brute_force` | credential_access | Credential Access |
//! | `credential_stuffing` | credential_access | Credential Access |
//! | `large_response` | collection | Collection |
//! | `distributed_parameter_enumeration` | collection | Initial Access: a pool of addresses working through the id space together is organised data harvesting |
//! | `population_traffic_spike` | impact | Impact |
//! | `client_traffic_spike` | impact | Impact |
//! | `latency_spike` | impact | Impact |
//!
//! Escalation (actor incidents only): the incident's severity is its worst alert's, raised one
//! level (informational → low → medium → high; high stays high) when either
//! - **progression**: the actor moved forward through at least [`MIN_PROGRESSION_STAGES`]
//!   distinct stages in time order (alerts ordered by first seen; a later stage at the same
//!   instant counts as forward), or
//! - **spread**: the incident holds at least two alerts and they came through at least
//!   [`MIN_SPREAD_SENSORS`] sensors (the same attacker on two gateways).
//!
//! Target incidents (distributed alerts, alerts without an actor) keep their worst alert's
//! severity: many actors on one target are not one actor's progression, and an endpoint
//! served by several gateways reaches several sensors by design.

use super::model::{IncidentKey, Pattern, Stage, TimelineEntry};
use crate::model::{Actor, AlertType, Severity};

/// Distinct stages, moving forward in time, that escalate an actor incident.
pub const MIN_PROGRESSION_STAGES: usize = 2;
/// Sensors an actor incident's alerts must come through to escalate it.
pub const MIN_SPREAD_SENSORS: usize = 2;
/// Hex characters of a hashed principal shown in a reason.
const PRINCIPAL_SHOWN_CHARS: usize = 12;
/// Alert types named in a reason without a progression.
const KINDS_SHOWN: usize = 3;

/// The kill-chain stage of an alert type (see the module table).
pub fn stage(kind: AlertType) -> Stage {
    use AlertType as T;
    match kind {
        T::EndpointSpray | T::SuspiciousUserAgent | T::MaliciousIp | T::UnseenParameter => {
            Stage::Reconnaissance
        }
        T::Injection
        | T::AuthBypass
        | T::AnomalousParameterType
        | T::ParameterEnumeration
        | T::LargeRequestBody => Stage::Exploitation,
        T::BruteForce | T::CredentialStuffing => Stage::CredentialAccess,
        T::LargeResponse | T::DistributedParameterEnumeration => Stage::Collection,
        T::PopulationTrafficSpike | T::ClientTrafficSpike | T::LatencySpike => Stage::Impact,
    }
}

/// The attack pattern of an alert type (what target-keyed incidents group by).
pub fn pattern(kind: AlertType) -> Pattern {
    use AlertType as T;
    match kind {
        T::ParameterEnumeration | T::DistributedParameterEnumeration => Pattern::Enumeration,
        T::BruteForce | T::CredentialStuffing | T::AuthBypass => Pattern::Credentials,
        T::PopulationTrafficSpike
        | T::ClientTrafficSpike
        | T::LatencySpike
        | T::LargeRequestBody
        | T::LargeResponse => Pattern::Volume,
        T::EndpointSpray
        | T::UnseenParameter
        | T::AnomalousParameterType
        | T::Injection
        | T::MaliciousIp
        | T::SuspiciousUserAgent => Pattern::Probing,
    }
}

/// Whether an alert type is many-actors-one-target by nature: its alerts form target
/// incidents even when they name a dominant actor.
pub fn distributed(kind: AlertType) -> bool {
    matches!(
        kind,
        AlertType::DistributedParameterEnumeration
            | AlertType::CredentialStuffing
            | AlertType::PopulationTrafficSpike
    )
}

/// One level up, capped at high.
pub fn raise(s: Severity) -> Severity {
    match s {
        Severity::Informational => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium | Severity::High => Severity::High,
    }
}

/// What an incident's severity and reason are computed from.
pub struct Judged<'a> {
    /// The incident's key (actor incidents escalate, target incidents do not).
    pub key: &'a IncidentKey,
    /// The listed alerts, in timeline order.
    pub timeline: &'a [TimelineEntry],
    /// Alerts in all, listed or not.
    pub alerts: u64,
    /// The worst alert severity.
    pub worst: Severity,
    /// Sensors the alerts came through.
    pub sensors: usize,
    /// The listed actors.
    pub actors: &'a [Actor],
    /// Actors counted beyond the listed ones.
    pub actors_more: u64,
}

/// The incident's severity and the reason for it.
pub fn judge(j: &Judged<'_>) -> (Severity, String) {
    let chain = if j.key.is_actor() {
        progression(j.timeline)
    } else {
        Vec::new()
    };
    let progressed = chain.len() >= MIN_PROGRESSION_STAGES;
    let spread = j.key.is_actor() && j.alerts >= 2 && j.sensors >= MIN_SPREAD_SENSORS;
    let severity = if progressed || spread {
        raise(j.worst)
    } else {
        j.worst
    };
    let mut reason = if progressed {
        chain
            .iter()
            .map(|(s, k)| format!("{} ({})", s.id(), k.id()))
            .collect::<Vec<_>>()
            .join(" → ")
    } else {
        alerts_text(j.timeline, j.alerts)
    };
    match j.key {
        IncidentKey::Actor { .. } => {
            reason.push_str(" from ");
            reason.push_str(&who(j.actors, j.actors_more));
        }
        IncidentKey::Target {
            host,
            method,
            template,
            ..
        } => {
            let target = if method.is_empty() {
                format!("host {host}")
            } else {
                format!("{method} {host}{template}")
            };
            let n = j.actors.len() as u64 + j.actors_more;
            reason.push_str(&format!(" on {target} by {}", plural(n, "actor")));
        }
    }
    if j.sensors >= MIN_SPREAD_SENSORS {
        reason.push_str(&format!(" across {} sensors", j.sensors));
    }
    let verdict = if severity > j.worst {
        format!("raised from {} to {}", j.worst.as_str(), severity.as_str())
    } else if progressed || spread {
        format!("{}, already the highest", severity.as_str())
    } else {
        format!("{}, as its worst alert", severity.as_str())
    };
    reason.push_str(": ");
    reason.push_str(&verdict);
    (severity, reason)
}

/// The longest forward chain of (stage, alert type) in time order: strictly later stages at
/// non-decreasing first-seen times. Ties go to the chain found first, so it is deterministic.
pub fn progression(timeline: &[TimelineEntry]) -> Vec<(Stage, AlertType)> {
    let mut order: Vec<&TimelineEntry> = timeline.iter().collect();
    // Same instant: lower stages first, so a step forward at one instant counts.
    order.sort_by(|a, b| {
        (a.first_seen_ms, a.stage, &a.alert_id).cmp(&(b.first_seen_ms, b.stage, &b.alert_id))
    });
    // best[s]: the longest chain found so far that ends at stage s (fixed size: a chain
    // holds at most one step per stage).
    let mut best = [Chain::default(); Stage::ALL.len()];
    for e in order {
        let s = e.stage as usize;
        let before =
            best[..s].iter().fold(
                Chain::default(),
                |acc, c| if c.len > acc.len { *c } else { acc },
            );
        if before.len + 1 > best[s].len {
            let mut c = before;
            c.steps[c.len] = Some((e.stage, e.kind));
            c.len += 1;
            best[s] = c;
        }
    }
    let longest = best.into_iter().fold(
        Chain::default(),
        |acc, c| if c.len >= acc.len { c } else { acc },
    );
    longest.steps.into_iter().flatten().collect()
}

/// A forward chain of at most one step per stage.
#[derive(Debug, Clone, Copy, Default)]
struct Chain {
    steps: [Option<(Stage, AlertType)>; Stage::ALL.len()],
    len: usize,
}

/// "3 alerts (brute_force, injection, …)": the count and the first distinct types.
fn alerts_text(timeline: &[TimelineEntry], alerts: u64) -> String {
    let mut kinds: Vec<&str> = Vec::new();
    for e in timeline {
        if !kinds.contains(&e.kind.id()) {
            kinds.push(e.kind.id());
        }
    }
    let more = kinds.len() > KINDS_SHOWN;
    kinds.truncate(KINDS_SHOWN);
    let mut text = format!("{} ({}", plural(alerts, "alert"), kinds.join(", "));
    text.push_str(if more { ", …)" } else { ")" });
    text
}

/// "203.0.113.66 and 2 more actors".
fn who(actors: &[Actor], more: u64) -> String {
    let Some(first) = actors.first() else {
        return "an unnamed actor".into();
    };
    let name = match (&first.ip, &first.principal) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(p)) => {
            let shown: String = p.chars().take(PRINCIPAL_SHOWN_CHARS).collect();
            format!("principal {shown}")
        }
        (None, None) => "an unnamed actor".into(),
    };
    let rest = (actors.len() as u64 - 1) + more;
    if rest == 0 {
        name
    } else {
        format!("{name} and {} more", plural(rest, "actor"))
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
