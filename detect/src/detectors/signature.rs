//! Signature detectors: they judge single observations, late data included, with no baseline.
//!
//! - `injection`: a notable event of kind Injection. Evidence: its labels (`query:sqli.union-
//!   select`). Severity high when the answer was 2xx or 5xx (the payload reached a handler or
//!   broke it), medium otherwise (rejected: 4xx, or no status). Dedup per (actor, endpoint);
//!   count = events.
//! - `suspicious_user_agent`: a notable of kind SuspiciousAgent (label `agent:scanner:sqlmap`),
//!   or an actor summary whose agent matches an intel `ua:` pattern. Medium. Dedup per actor
//!   (its first endpoint is kept); count = events / matching actor windows.
//! - `malicious_ip`: a client address (endpoint summaries' top clients, notables) on an intel
//!   list. Medium; evidence names the list. Dedup per (address, host); count = observations
//!   (summary windows and notables). Actor summaries are not used for it: they carry no host,
//!   and every address they name is also a top client of the endpoint it called unless that
//!   endpoint had more than 64 busier clients in the same window.

use crate::alerts::Candidate;
use crate::intel::Intel;
use crate::model::{Actor, AlertType, Severity};
use picket_shared::summary::NotableKind;
use picket_shared::{ActorSummary, EndpointKey, NotableEvent};
use std::net::IpAddr;

/// Candidates of one notable event.
pub fn notable(n: &NotableEvent, intel: &Intel) -> Vec<Candidate> {
    let mut out = Vec::new();
    let actor = Actor {
        ip: n.client_ip,
        principal: n.principal.clone(),
        user_agent: None,
    };
    let who = super::actor_key(n.client_ip, n.principal.as_deref()).unwrap_or_default();
    let ep = &n.endpoint;
    let ep_id = format!("{}\u{1}{}\u{1}{}", ep.host, ep.method, ep.template);
    if n.kinds.contains(&NotableKind::Injection) {
        let severity = if (200..300).contains(&n.status) || n.status >= 500 {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut c = Candidate::new(AlertType::Injection, severity, ep, n.ts_ms);
        c.actor = actor.clone();
        c.dedup = format!("{who}\u{1}{ep_id}");
        c.evidence = n
            .labels
            .iter()
            .filter(|l| !l.starts_with("agent:"))
            .map(|l| format!("rule:{l}"))
            .collect();
        c.evidence.push(format!("status:{}", n.status));
        out.push(c);
    }
    if n.kinds.contains(&NotableKind::SuspiciousAgent) {
        let label = n.labels.iter().find(|l| l.starts_with("agent:"));
        let mut c = Candidate::new(
            AlertType::SuspiciousUserAgent,
            Severity::Medium,
            ep,
            n.ts_ms,
        );
        c.actor = Actor {
            user_agent: label.map(|l| l.trim_start_matches("agent:").to_owned()),
            ..actor.clone()
        };
        c.dedup = who.clone();
        c.evidence = label.map(|l| vec![l.clone()]).unwrap_or_default();
        out.push(c);
    }
    if let Some(ip) = n.client_ip {
        out.extend(ip_hit(ip, n.principal.as_deref(), ep, n.ts_ms, intel));
    }
    out
}

/// Candidates of one actor summary (agent patterns).
pub fn actor(a: &ActorSummary, intel: &Intel) -> Vec<Candidate> {
    let mut out = Vec::new();
    let host = EndpointKey {
        host: String::new(),
        method: String::new(),
        template: String::new(),
    };
    if let Some(agent) = &a.agent
        && let Some((list, pattern)) = intel.agent(agent)
    {
        let mut c = Candidate::new(
            AlertType::SuspiciousUserAgent,
            Severity::Medium,
            &host,
            a.window_start_ms,
        );
        c.actor = Actor {
            ip: a.client_ip,
            principal: a.principal.clone(),
            user_agent: Some(agent.clone()),
        };
        c.dedup = super::actor_key(a.client_ip, a.principal.as_deref()).unwrap_or_default();
        c.evidence = vec![format!("intel:{list}"), format!("ua-pattern:{pattern}")];
        out.push(c);
    }
    out
}

/// A malicious-IP candidate when `ip` is listed.
pub fn ip_hit(
    ip: IpAddr,
    principal: Option<&str>,
    ep: &EndpointKey,
    ts_ms: i64,
    intel: &Intel,
) -> Option<Candidate> {
    let list = intel.ip(ip)?;
    let mut c = Candidate::new(AlertType::MaliciousIp, Severity::Medium, ep, ts_ms);
    c.actor = Actor {
        ip: Some(ip),
        principal: principal.map(str::to_owned),
        user_agent: None,
    };
    c.dedup = format!("{ip}\u{1}{}", ep.host);
    c.evidence = vec![format!("intel:{list}")];
    Some(c)
}
