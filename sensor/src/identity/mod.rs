//! Who sent a request: the client address (through trusted proxies) and the principal
//! ([`principal`]), resolved once per credential and cached; user agents judged once per value.

pub mod agent;
pub mod principal;

pub use agent::AgentProduct;
pub use picket_shared::net::Cidr;
pub use principal::{AuthScheme, KEY_FILE, Principal, PrincipalKey, jwt_sub};
use std::collections::HashMap;
use std::net::IpAddr;

/// Raw credential material of one request, borrowed from the source; never stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    pub authorization: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub cookie: bool,
    /// A user name already decoded by the gateway (nginx `$remote_user`).
    pub user: Option<&'a str>,
    pub peer: Option<IpAddr>,
    pub forwarded_for: Option<&'a str>,
    /// The `User-Agent`, judged for scanners and payloads (only the label and the first
    /// product token are kept).
    pub user_agent: Option<&'a str>,
}

/// Credentials remembered by the principal cache before it starts over.
pub const PRINCIPAL_CACHE_ENTRIES: usize = 8_192;

/// Seeded hasher and `credential hash → (scheme, principal)`.
type PrincipalCache = (
    std::hash::RandomState,
    HashMap<u64, (AuthScheme, Option<Principal>), foldhash::fast::RandomState>,
);

/// Resolves client addresses and principals for every source of one sensor.
#[derive(Debug)]
pub struct Identifier {
    key: PrincipalKey,
    trusted: Vec<Cidr>,
    /// Credentials repeat request after request: remember their scheme and principal (keyed by
    /// a process-seeded 64-bit hash of the credential, so the cache holds no credential).
    cache: std::sync::Mutex<PrincipalCache>,
    /// User agents repeat even more: their suspicious-agent label and injection findings, keyed
    /// by a process-seeded hash of the header.
    agents: std::sync::Mutex<AgentCache>,
    /// Judge user agents for injections.
    scan_injections: bool,
}

/// Seeded hasher and `user-agent hash → (label, findings)`.
type AgentCache = (
    std::hash::RandomState,
    HashMap<u64, (Option<&'static str>, Vec<picket_shared::inject::Finding>)>,
);

/// User agents remembered by the agent cache before it starts over.
pub const AGENT_CACHE_ENTRIES: usize = 4_096;

impl Clone for Identifier {
    fn clone(&self) -> Self {
        Self::new(self.key.clone(), self.trusted.clone())
            .with_injection_scanning(self.scan_injections)
    }
}

impl Identifier {
    pub fn new(key: PrincipalKey, trusted: Vec<Cidr>) -> Self {
        // SipHash keys the credential hash (a collision would merge two principals); the
        // cache's own buckets only need a cheap hash of that already keyed value.
        let cache = std::sync::Mutex::new((std::hash::RandomState::new(), HashMap::default()));
        let agents = std::sync::Mutex::new((std::hash::RandomState::new(), HashMap::new()));
        Self {
            key,
            trusted,
            cache,
            agents,
            scan_injections: true,
        }
    }

    /// Whether user agents are judged for injections (on by default).
    pub fn with_injection_scanning(mut self, on: bool) -> Self {
        self.scan_injections = on;
        self
    }

    /// The suspicious-agent label and the injection findings of a user agent, cached.
    fn judge_agent(&self, ua: &str) -> (Option<&'static str>, Vec<picket_shared::inject::Finding>) {
        use std::hash::BuildHasher;
        let mut cache = self
            .agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = cache.0.hash_one(ua);
        if let Some(hit) = cache.1.get(&h) {
            return hit.clone();
        }
        let label = picket_shared::agents::suspicious(ua);
        let mut v = picket_shared::inject::Verdict::default();
        if self.scan_injections {
            picket_shared::inject::scan_header("user-agent", ua, &mut v);
        }
        if cache.1.len() >= AGENT_CACHE_ENTRIES {
            cache.1.clear();
        }
        cache.1.insert(h, (label, v.findings.clone()));
        (label, v.findings)
    }

    fn identify_cached(&self, c: &Credentials<'_>) -> (AuthScheme, Option<Principal>) {
        use std::hash::BuildHasher;
        if c.authorization.is_none() && c.api_key.is_none() {
            return self.key.identify(None, None, c.cookie);
        }
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = cache.0.hash_one((c.authorization, c.api_key, c.cookie));
        if let Some(hit) = cache.1.get(&h) {
            return *hit;
        }
        let found = self.key.identify(c.authorization, c.api_key, c.cookie);
        if cache.1.len() >= PRINCIPAL_CACHE_ENTRIES {
            cache.1.clear();
        }
        cache.1.insert(h, found);
        found
    }

    /// Fills `client_ip`, `auth`, `principal`, `auth_present` and the agent's label and
    /// product of a record.
    pub fn apply(&self, rec: &mut crate::record::RequestRecord, c: Credentials<'_>) {
        rec.client_ip = client_ip(c.peer, c.forwarded_for, &self.trusted);
        let (mut scheme, mut principal) = self.identify_cached(&c);
        if let (AuthScheme::None | AuthScheme::Cookie, Some(user)) =
            (scheme, c.user.filter(|u| !u.is_empty() && *u != "-"))
        {
            scheme = AuthScheme::Basic;
            principal = Some(self.key.principal(AuthScheme::Basic, user.as_bytes()));
        }
        rec.auth = scheme;
        rec.principal = principal;
        if let Some(ua) = c.user_agent.filter(|ua| !ua.is_empty() && *ua != "-") {
            let (label, findings) = self.judge_agent(ua);
            rec.agent = label;
            rec.agent_product = AgentProduct::of(ua);
            rec.injections.extend(findings);
        }
        rec.auth_present = scheme != AuthScheme::None;
    }
}

/// The client of a request: the connection peer, unless it is a trusted proxy, in which case
/// `X-Forwarded-For` is walked from the right past every trusted hop.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = peer?;
    if trusted.is_empty() || !trusted.iter().any(|c| c.contains(peer)) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        let Some(ip) = crate::record::parse_ip(hop) else {
            break;
        };
        client = ip;
        if !trusted.iter().any(|c| c.contains(ip)) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_principals() {
        let k = PrincipalKey::fixed(7);
        // base64("alice:secret") and base64("alice:other") name the same user.
        let (s1, p1) = k.identify(Some("Basic YWxpY2U6c2VjcmV0"), None, false);
        let (_, p2) = k.identify(Some("Basic YWxpY2U6b3RoZXI="), None, false);
        assert_eq!((s1, p1), (AuthScheme::Basic, p2));
        // {"sub":"user-42"} in two different tokens is one principal.
        let jwt_a = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2ln";
        let jwt_b = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjoxfQ.b3RoZXI";
        let (s, pa) = k.identify(Some(&format!("Bearer {jwt_a}")), None, false);
        let (_, pb) = k.identify(Some(&format!("bearer {jwt_b}")), None, false);
        assert_eq!((s, pa), (AuthScheme::Jwt, pb));
        assert_eq!(jwt_sub(jwt_a).as_deref(), Some("user-42"));
        let (s, p) = k.identify(Some("Bearer opaque-token"), None, false);
        assert_eq!(s, AuthScheme::Bearer);
        assert_ne!(p, pa);
        assert_eq!(k.identify(None, Some("key-1"), false).0, AuthScheme::ApiKey);
        assert_eq!(k.identify(None, None, true), (AuthScheme::Cookie, None));
        assert_eq!(
            k.identify(Some("-"), Some(""), false),
            (AuthScheme::None, None)
        );
        // Another installation's key gives other principals.
        assert_ne!(
            PrincipalKey::fixed(8)
                .identify(None, Some("key-1"), false)
                .1,
            k.identify(None, Some("key-1"), false).1
        );
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = PrincipalKey::load_or_create(dir.path()).unwrap();
        let b = PrincipalKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.0, b.0);
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn forwarded_for_through_trusted_proxies() {
        let trusted: Vec<Cidr> = ["10.0.0.0/8", "127.0.0.1"]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(
            client_ip(ip("10.1.1.1"), Some("81.2.69.1, 10.0.0.5"), &trusted),
            ip("81.2.69.1")
        );
        // A spoofed left-most entry is ignored: only hops past trusted proxies count.
        assert_eq!(
            client_ip(ip("10.1.1.1"), Some("6.6.6.6, 81.2.69.1"), &trusted),
            ip("81.2.69.1")
        );
        assert_eq!(
            client_ip(ip("81.2.69.9"), Some("6.6.6.6"), &trusted),
            ip("81.2.69.9")
        );
        assert_eq!(client_ip(ip("10.1.1.1"), None, &trusted), ip("10.1.1.1"));
        assert_eq!(
            client_ip(ip("81.2.69.9"), Some("1.1.1.1"), &[]),
            ip("81.2.69.9")
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!(
            "::ffff:10.0.0.1"
                .parse::<IpAddr>()
                .is_ok_and(|a| trusted[0].contains(a))
        );
    }
}

#[cfg(test)]
mod agent_tests {
    use super::*;
    use crate::record::RequestRecord;

    fn apply(ident: &Identifier, ua: &str) -> RequestRecord {
        let mut rec = RequestRecord::default();
        ident.apply(
            &mut rec,
            Credentials {
                user_agent: Some(ua),
                ..Default::default()
            },
        );
        rec
    }

    #[test]
    fn user_agents_are_labelled_and_judged_once_per_value() {
        let ident = Identifier::new(PrincipalKey::fixed(3), Vec::new());
        let shellshock = "() { :;}; /bin/bash -c 'id'";
        for _ in 0..3 {
            let rec = apply(&ident, shellshock);
            assert!(
                rec.injections
                    .iter()
                    .any(|f| f.hit.rule == "cmdi.shellshock"),
                "{:?}",
                rec.injections
            );
        }
        assert_eq!(apply(&ident, "sqlmap/1.7").agent, Some("scanner:sqlmap"));
        let browser = apply(&ident, "Mozilla/5.0 (X11; Linux x86_64)");
        assert!(browser.injections.is_empty() && browser.agent.is_none());
        let off =
            Identifier::new(PrincipalKey::fixed(3), Vec::new()).with_injection_scanning(false);
        let rec = apply(&off, shellshock);
        assert!(rec.injections.is_empty());
    }
}
