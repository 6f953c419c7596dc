//! The detectors, grouped by the data they judge. Each module's doc comment states its rules
//! and thresholds; the thresholds are named constants.
//!
//! Common rules: baseline detectors stay silent until `learning_period_ms` of event time has
//! passed since the endpoint's first event ("armed"); signature detectors (`signature`,
//! brute force) judge everything, late data included. Threshold detectors fire while the
//! running minute (or 5-minute horizon) count crosses the threshold, once per bucket, and each
//! crossing bucket counts one occurrence of the alert.

pub mod actor;
pub mod authn;
pub mod enumeration;
pub mod params;
pub mod signature;
pub mod volume;

use crate::model::Actor;
use std::net::IpAddr;

/// One client of an endpoint summary (top clients with the same address folded together).
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The actor key: the address, else `p:<principal>`.
    pub key: String,
    pub ip: Option<IpAddr>,
    /// The busiest principal of the address.
    pub principal: Option<String>,
    pub principals: Vec<String>,
    pub requests: u64,
    pub auth_failures: u64,
    pub errors: u64,
    pub distinct_refs: u64,
    pub sample: Vec<u32>,
}

impl Client {
    pub fn actor(&self) -> Actor {
        Actor {
            ip: self.ip,
            principal: self.principal.clone(),
            user_agent: None,
        }
    }
}

/// The actor key of an address / principal pair.
pub fn actor_key(ip: Option<IpAddr>, principal: Option<&str>) -> Option<String> {
    match (ip, principal) {
        (Some(ip), _) => Some(ip.to_string()),
        (None, Some(p)) => Some(format!("p:{p}")),
        (None, None) => None,
    }
}

/// Whether a template looks like an authentication endpoint.
pub fn auth_like(template: &str) -> bool {
    let t = template.to_ascii_lowercase();
    [
        "login", "signin", "sign-in", "token", "oauth", "session", "auth", "password",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// The clients of a summary, folded by actor key, busiest first.
pub fn clients(s: &picket_shared::EndpointSummary) -> Vec<Client> {
    let mut out: Vec<Client> = Vec::new();
    for c in &s.top_clients {
        let Some(key) = actor_key(c.client_ip, c.principal.as_deref()) else {
            continue;
        };
        let i = match out.iter().position(|x| x.key == key) {
            Some(i) => i,
            None => {
                out.push(Client {
                    key,
                    ip: c.client_ip,
                    principal: c.principal.clone(),
                    ..Client::default()
                });
                out.len() - 1
            }
        };
        let x = &mut out[i];
        x.requests = x.requests.saturating_add(c.requests);
        x.auth_failures = x.auth_failures.saturating_add(c.auth_failures);
        x.errors = x.errors.saturating_add(c.errors);
        x.distinct_refs = x.distinct_refs.saturating_add(c.distinct_object_refs);
        if let Some(p) = &c.principal
            && !x.principals.contains(p)
            && x.principals.len() < crate::state::MAX_ACTOR_PRINCIPALS
        {
            x.principals.push(p.clone());
        }
        crate::state::kmv_merge(&mut x.sample, &c.ref_sample, crate::state::KMV_K);
    }
    out.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.key.cmp(&b.key)));
    out
}

/// The client explaining most of `total`, if it holds at least half of it.
pub fn dominant(clients: &[Client], total: u64) -> Option<&Client> {
    clients
        .first()
        .filter(|c| c.requests * 2 >= total && total > 0)
}

/// The clients of a summary as the sensor keyed them, (address, principal) pairs: object
/// references are judged per principal, so users behind one address stay apart.
pub fn principals(s: &picket_shared::EndpointSummary) -> Vec<Client> {
    s.top_clients
        .iter()
        .filter(|c| !c.ref_sample.is_empty())
        .filter_map(|c| {
            let ip = c.client_ip.map(|i| i.to_string()).unwrap_or_default();
            let p = c.principal.as_deref().unwrap_or("");
            (!ip.is_empty() || !p.is_empty()).then(|| Client {
                key: format!("{ip}/{p}"),
                ip: c.client_ip,
                principal: c.principal.clone(),
                principals: Vec::new(),
                requests: c.requests,
                auth_failures: c.auth_failures,
                errors: c.errors,
                distinct_refs: c.distinct_object_refs,
                sample: c.ref_sample.clone(),
            })
        })
        .collect()
}
