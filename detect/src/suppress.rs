//! Suppression rules: an operator's allowlist entry (address or network, principal, endpoint,
//! alert type; any combination, at least one) with an optional expiry.

use crate::model::{AlertFacts, AlertType};
use picket_shared::net::Cidr;
use serde::{Deserialize, Serialize};

/// One suppression rule. Every field that is set must match; at least one is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Suppression {
    pub id: String,
    /// An address or network, as text (`10.0.0.0/8`, `203.0.113.7`).
    pub cidr: Option<String>,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub method: Option<String>,
    pub template: Option<String>,
    pub kind: Option<AlertType>,
    /// Wall-clock Unix ms after which the rule no longer applies; `None` never expires.
    pub expires_ms: Option<i64>,
    pub comment: String,
    pub created_by: String,
    pub created_ms: i64,
}

impl Suppression {
    /// Whether the rule names anything at all (a rule matching everything is refused).
    pub fn is_narrowed(&self) -> bool {
        self.cidr.is_some()
            || self.principal.is_some()
            || self.host.is_some()
            || self.template.is_some()
            || self.kind.is_some()
    }

    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|e| e <= now_ms)
    }

    /// Whether the rule, unexpired at `now_ms`, swallows `alert`. An address rule matches when
    /// the alert's actor (or, for distributed alerts, every listed actor) is inside it.
    pub fn matches(&self, alert: &AlertFacts, now_ms: i64) -> bool {
        if self.expired(now_ms) || !self.is_narrowed() {
            return false;
        }
        if let Some(kind) = self.kind
            && alert.kind != Some(kind)
        {
            return false;
        }
        if let Some(host) = &self.host
            && *host != alert.host
        {
            return false;
        }
        if let Some(m) = &self.method
            && *m != alert.method
        {
            return false;
        }
        if let Some(t) = &self.template
            && *t != alert.template
        {
            return false;
        }
        if let Some(p) = &self.principal
            && alert.actor.principal.as_deref() != Some(p.as_str())
        {
            return false;
        }
        if let Some(c) = &self.cidr {
            let Ok(net) = c.parse::<Cidr>() else {
                return false;
            };
            let mut ips = std::iter::once(&alert.actor)
                .chain(&alert.actors)
                .filter_map(|a| a.ip)
                .peekable();
            if ips.peek().is_none() {
                return false;
            }
            if !ips.all(|ip| net.contains(ip)) {
                return false;
            }
        }
        true
    }
}
