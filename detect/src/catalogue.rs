//! The alert catalogue: for every [`AlertType`] its title, default severity, MITRE ATT&CK
//! tactic and technique, the Microsoft Defender for APIs alert it corresponds to (empty where
//! Defender has none), the signal it fires on and remediation for the engineer on call.
//! [`markdown`] renders the table kept in `detect/CATALOGUE.md` (a test fails when it is stale).

use crate::model::{AlertType, Severity};

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub kind: AlertType,
    pub title: &'static str,
    pub severity: Severity,
    /// MITRE ATT&CK tactic name.
    pub tactic: &'static str,
    /// MITRE ATT&CK technique id(s), `/`-separated when two fit.
    pub technique: &'static str,
    /// The Defender for APIs alert name; empty when Defender has no counterpart.
    pub defender: &'static str,
    /// What the detector looks at, in one line.
    pub signal: &'static str,
    /// What to do, for the engineer on call.
    pub remediation: &'static str,
}

/// The catalogue entry of `kind` (one data table: long by nature, one arm per type).
pub fn entry(kind: AlertType) -> Entry {
    use AlertType as T;
    use Severity as S;
    let e = |title, severity, tactic, technique, defender, signal, remediation| Entry {
        kind,
        title,
        severity,
        tactic,
        technique,
        defender,
        signal,
        remediation,
    };
    match kind {
        T::PopulationTrafficSpike => e(
            "Population-level traffic spike on an endpoint",
            S::Medium,
            "Impact",
            "T1499",
            "Suspicious population-level spike in API traffic to an API endpoint",
            "endpoint requests per minute far above its learned level and learned peaks",
            "Check whether a release, a partner job or a marketing event explains the volume. If not, rate-limit the endpoint at the gateway and look at the listed top clients; block them if they are not known callers. Watch the endpoint's error rate and latency while the spike lasts.",
        ),
        T::ClientTrafficSpike => e(
            "Traffic spike from a single client on an endpoint",
            S::Medium,
            "Impact",
            "T1499",
            "Suspicious spike in API traffic from a single IP address to an API endpoint",
            "one actor's requests per minute to an endpoint far above the endpoint's per-client level and the actor's own",
            "Identify the client (address, principal) and ask its owner whether the volume is expected. Apply a per-client rate limit at the gateway, and block the address or revoke the credential if the client is unknown.",
        ),
        T::LargeResponse => e(
            "Unusually large response payload",
            S::Medium,
            "Collection",
            "T1530",
            "Unusually large response payload transmitted between a single IP address and an API endpoint",
            "response size far above the endpoint's learned p99, or sensitive-class volume in responses far above its level",
            "Verify whether the endpoint can return unbounded result sets (missing pagination, filters the caller controls). Check what data the listed client received and whether it is entitled to it. Enforce page-size limits and field filtering on the response.",
        ),
        T::LargeRequestBody => e(
            "Unusually large request body",
            S::Low,
            "Initial Access",
            "T1190",
            "Unusually large request body transmitted between a single IP address and an API endpoint",
            "request size far above the endpoint's learned p99",
            "Check the gateway's body-size limit for the endpoint and set one close to the legitimate maximum. Look for injection or deserialization payloads from the same client in the same period.",
        ),
        T::LatencySpike => e(
            "Latency spike on an endpoint",
            S::Low,
            "Impact",
            "T1499",
            "Suspicious spike in latency for traffic between a single IP address and an API endpoint",
            "window latency p95 far above the endpoint's learned p95",
            "Check the backend's health and recent deployments first. If the slow requests come from one client, look for expensive queries it triggers (large page sizes, wildcard searches, ReDoS-prone inputs) and rate-limit it.",
        ),
        T::EndpointSpray => e(
            "Endpoint spray (reconnaissance)",
            S::Medium,
            "Reconnaissance",
            "T1595",
            "API requests spray from a single IP address to an unusually large number of distinct API endpoints",
            "one actor touches many distinct endpoints within a minute, mostly answered 404/405/403",
            "Treat the client as a scanner: block its address at the edge and review what, if anything, it got with a 2xx. Check whether the paths it probed reveal undocumented or forgotten endpoints and remove them.",
        ),
        T::ParameterEnumeration => e(
            "Parameter value enumeration (BOLA)",
            S::High,
            "Initial Access",
            "T1190",
            "Parameter value enumeration on an API endpoint",
            "one actor requests far more distinct object ids on an endpoint within 5 minutes than the endpoint's per-actor level",
            "Verify that the endpoint checks object ownership for the caller (broken object-level authorization). Revoke or suspend the principal while you check which objects it read, and rate-limit distinct object ids per caller.",
        ),
        T::DistributedParameterEnumeration => e(
            "Distributed parameter value enumeration",
            S::High,
            "Initial Access",
            "T1190",
            "Distributed parameter value enumeration on an API endpoint",
            "many actors, each mostly answered 404/403, together request many distinct object ids on one endpoint",
            "Verify object-level authorization on the endpoint and make object ids non-guessable. Block the listed addresses (often one botnet or proxy pool) and add a per-endpoint limit on distinct object ids from unauthenticated or new callers.",
        ),
        T::UnseenParameter => e(
            "Previously unseen parameter",
            S::Low,
            "Initial Access",
            "T1190",
            "Previously unseen parameters used in an API call",
            "a parameter never seen on the endpoint after learning, from few clients (mass assignment on writes)",
            "Check whether a release added the parameter; if so, nothing to do. Otherwise verify that the backend ignores or rejects unknown fields (mass assignment) and review what the client changed with it.",
        ),
        T::AnomalousParameterType => e(
            "Parameter value of anomalous type",
            S::Low,
            "Initial Access",
            "T1190",
            "Parameter values with anomalous data types in an API call",
            "a learned parameter whose values had consistent structured shapes arrives with an incompatible shape",
            "Enforce the parameter's type with schema validation at the gateway or in the handler. Look for injection or fuzzing from the same client in the same period.",
        ),
        T::Injection => e(
            "Injection attempt",
            S::High,
            "Initial Access",
            "T1190/T1059",
            "",
            "a sensor signature (SQL, NoSQL, command, traversal, XSS, SSTI, LDAP, …) matched a request",
            "Check the listed rule ids against the endpoint's code: parameterized queries, no shell or template evaluation of input. If the answer was 2xx or 5xx, assume the payload may have reached the backend and review its logs. Block the client if it keeps probing.",
        ),
        T::BruteForce => e(
            "Brute force",
            S::High,
            "Credential Access",
            "T1110.001",
            "",
            "one actor gets many 401/403 answers on an endpoint within a minute",
            "Lock or step up the targeted accounts and rate-limit failed logins per address and per account. Block the address if it is not a known client; a misconfigured client with an expired token shows up as one principal on a normal endpoint (low severity).",
        ),
        T::CredentialStuffing => e(
            "Credential stuffing or password spraying",
            S::High,
            "Credential Access",
            "T1110.004/T1110.003",
            "",
            "many actors or principals fail on one endpoint within a minute, failure ratio far above its level",
            "Enable bot protection or CAPTCHA on the login flow and rate-limit failures per address range. Force password resets for accounts that logged in successfully from the listed addresses, and check breached-password lists.",
        ),
        T::AuthBypass => e(
            "Authentication bypass",
            S::High,
            "Initial Access",
            "T1190",
            "",
            "2xx answers without credentials on an endpoint learned as authenticated",
            "Check the endpoint's authentication middleware and recent routing changes: an unauthenticated caller got data. Block the route at the gateway until fixed and review what the unauthenticated requests returned.",
        ),
        T::MaliciousIp => e(
            "Access from a malicious or anonymizing address",
            S::Medium,
            "Command and Control",
            "T1090.003",
            "Access from a suspicious IP address to an API endpoint",
            "a client address is on a loaded threat-intelligence list (Tor exit nodes, blocklists)",
            "Decide whether the API should accept traffic from this list; if not, block it at the edge. Review what the address did (other alerts for the same actor) before closing.",
        ),
        T::SuspiciousUserAgent => e(
            "Suspicious user agent",
            S::Medium,
            "Reconnaissance",
            "T1595.002",
            "Suspicious user agent detected",
            "a scanner or payload user agent (sensor label) or an agent matching an intel `ua:` pattern",
            "Block the client: scanner agents are rarely legitimate on production APIs. Check the same actor's injection and spray alerts to see how far the scan got.",
        ),
    }
}

/// Every entry, in [`AlertType::ALL`] order.
pub fn all() -> Vec<Entry> {
    AlertType::ALL.into_iter().map(entry).collect()
}

/// The catalogue as a Markdown table (the content of `detect/CATALOGUE.md`).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Picket alert catalogue\n\nGenerated by `picket_detect::catalogue::markdown()`; \
         a unit test fails when this file is stale.\n\n\
         | type id | severity | MITRE | Defender for APIs alert | signal |\n|---|---|---|---|---|\n",
    );
    for e in all() {
        let defender = if e.defender.is_empty() {
            "—"
        } else {
            e.defender
        };
        out.push_str(&format!(
            "| `{}` | {} | {} {} | {} | {} |\n",
            e.kind.id(),
            e.severity.as_str(),
            e.tactic,
            e.technique,
            defender,
            e.signal
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_an_entry_with_remediation() {
        for e in all() {
            assert!(
                !e.title.is_empty() && !e.technique.is_empty(),
                "{:?}",
                e.kind
            );
            let sentences = e.remediation.matches(". ").count() + 1;
            assert!((2..=4).contains(&sentences), "{:?}: {sentences}", e.kind);
        }
    }

    #[test]
    fn catalogue_file_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/CATALOGUE.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        if on_disk != markdown() {
            if std::env::var_os("PICKET_BLESS").is_some() {
                std::fs::write(path, markdown()).expect("write catalogue");
                return;
            }
            panic!("detect/CATALOGUE.md is stale: rerun with PICKET_BLESS=1");
        }
    }
}
