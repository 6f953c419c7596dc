//! Attacks by actors: reconnaissance, enumeration, injection, credential attacks, a
//! bypass, a listed address and scanners. Attackers come from the documentation ranges
//! (RFC 5737), so no real address is ever named.

use super::benign::{self, BALANCE, Ep, LOGIN, ORDER, PRODUCT, PRODUCTS, SEARCH, USER};
use super::{Attack, HOST, LogRecord, MALICIOUS_IP, Truth};
use crate::traffic::{Rng, apis};
use std::net::Ipv4Addr;

/// A TEST-NET-2 address (198.51.100.`n`).
fn net2(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, n)
}

/// The truth of an attack on one endpoint (`ep`) or on many (`None`).
fn truth(
    attack: Attack,
    ep: Option<&Ep>,
    clients: Vec<Ipv4Addr>,
    principals: Vec<String>,
) -> Truth {
    Truth {
        attack,
        host: HOST,
        method: ep.map(|e| e.method),
        template: ep.map(|e| e.template),
        clients,
        principals,
        start_ms: 0,
        end_ms: 0,
        requests: 0,
    }
}

/// The `i`-th of `n` moments spread evenly over `window`, with a little jitter.
fn at(rng: &mut Rng, window: (i64, i64), i: usize, n: usize) -> i64 {
    let span = (window.1 - window.0).max(1);
    let step = span / n.max(1) as i64;
    window.0 + span * i as i64 / n.max(1) as i64 + rng.below(step.max(1) as u64) as i64
}

/// An attacker's request: `ep`'s figures, tagged with `attack`.
fn hostile(
    rng: &mut Rng,
    attack: Attack,
    ep: &Ep,
    t: i64,
    target: String,
    ip: Ipv4Addr,
) -> LogRecord {
    let mut r = benign::record(rng, ep, t, target, ip);
    r.attack = Some(attack);
    r
}

/// Paths a sprayer tries: dictionary words and random strings under the API's prefixes.
const SPRAY_PREFIXES: [&str; 5] = ["", "/api", "/api/v1", "/api/v2", "/payments/v2"];

/// 250 made-up paths from one address in the slot: 404s, 405s for real paths with the
/// wrong method, 403 for admin panels.
pub(super) fn endpoint_spray(rng: &mut Rng, window: (i64, i64), out: &mut Vec<LogRecord>) -> Truth {
    let ip = net2(23);
    let n = 250;
    for i in 0..n {
        let t = at(rng, window, i, n);
        let (method, path, status) = if rng.chance(120) {
            let ep = [PRODUCTS, SEARCH, BALANCE][rng.below(3) as usize];
            (
                ["PUT", "DELETE", "PATCH"][rng.below(3) as usize],
                ep.template.to_owned(),
                405,
            )
        } else {
            let word = if rng.chance(600) {
                (*rng.pick(apis::DICTIONARY)).to_owned()
            } else {
                random_word(rng)
            };
            let ext = [".php", ".bak", ".json", "", "", ""][rng.below(6) as usize];
            let path = format!("{}/{word}{ext}", rng.pick(&SPRAY_PREFIXES));
            let status = if word.contains("admin") { 403 } else { 404 };
            ("GET", path, status)
        };
        let mut r = hostile(rng, Attack::EndpointSpray, &PRODUCT, t, path, ip);
        r.method = method;
        r.status = status;
        r.response_bytes = 150;
        r.user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        out.push(r);
    }
    truth(Attack::EndpointSpray, None, vec![ip], Vec::new())
}

/// Five to ten lower-case letters and digits.
fn random_word(rng: &mut Rng) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..5 + rng.below(6))
        .map(|_| A[rng.below(A.len() as u64) as usize] as char)
        .collect()
}

/// One client with a valid token walking 200 consecutive order numbers: mostly 404 (no such
/// order) and 403 (someone else's), now and then 200.
pub(super) fn parameter_enumeration(
    rng: &mut Rng,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let ip = net2(41);
    let token = benign::user_token(7);
    let n = 200;
    let first = 40_000 + rng.below(10_000);
    for i in 0..n {
        let t = at(rng, window, i, n);
        let target = format!("/api/v1/orders/{}", first + i as u64);
        let mut r = hostile(rng, Attack::ParameterEnumeration, &ORDER, t, target, ip);
        r.authorization = Some(token.clone());
        r.user_agent = "python-requests/2.32.3";
        (r.status, r.response_bytes) = enum_answer(rng, 600, 300);
        out.push(r);
    }
    truth(
        Attack::ParameterEnumeration,
        Some(&ORDER),
        vec![ip],
        vec![token],
    )
}

/// An enumerated object's answer: 404 with `missing` ‰, 403 with `foreign` ‰, else 200.
fn enum_answer(rng: &mut Rng, missing: u64, foreign: u64) -> (u16, u64) {
    let x = rng.below(1000);
    if x < missing {
        (404, 90)
    } else if x < missing + foreign {
        (403, 70)
    } else {
        (200, benign::jitter(rng, ORDER.resp_bytes))
    }
}

/// Thirty addresses, each with its own account, each walking 15–30 order numbers of a shared
/// range: mostly 404.
pub(super) fn distributed_enumeration(
    rng: &mut Rng,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let (mut clients, mut principals) = (Vec::new(), Vec::new());
    let base = 60_000 + rng.below(10_000);
    for c in 0..30u8 {
        let ip = net2(100 + c);
        let token = format!("Bearer tk_bot_{c:02}e1d2c3b4a5968778");
        let n = 15 + rng.below(16) as usize;
        for i in 0..n {
            let t = at(rng, window, i, n);
            let id = base + u64::from(c) * 40 + i as u64;
            let target = format!("/api/v1/orders/{id}");
            let mut r = hostile(
                rng,
                Attack::DistributedParameterEnumeration,
                &ORDER,
                t,
                target,
                ip,
            );
            r.authorization = Some(token.clone());
            r.user_agent = "okhttp/4.12.0";
            (r.status, r.response_bytes) = enum_answer(rng, 800, 120);
            out.push(r);
        }
        clients.push(ip);
        principals.push(token);
    }
    truth(
        Attack::DistributedParameterEnumeration,
        Some(&ORDER),
        clients,
        principals,
    )
}

/// SQL injection, XSS and path traversal payloads (percent-encoded, as a client sends them)
/// for the search's `q` parameter.
pub(super) const PAYLOADS: [&str; 12] = [
    "%27%20OR%20%271%27%3D%271",
    "1%27%20UNION%20SELECT%20username%2C%20password%20FROM%20users--",
    "%27%3B%20DROP%20TABLE%20orders%3B--",
    "1%20AND%20SLEEP(5)",
    "%22%3E%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E",
    "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
    "javascript%3Aalert(1)",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "....%2F%2F....%2F%2Fetc%2Fshadow",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fwindows%2fwin.ini",
    "admin%27--",
    "%3Csvg%2Fonload%3Dalert(1)%3E",
];

/// Sixty searches from one address, each carrying a payload in `q`; the API answers 400, 500
/// or an empty 200.
pub(super) fn injection(rng: &mut Rng, window: (i64, i64), out: &mut Vec<LogRecord>) -> Truth {
    let ip = net2(77);
    let n = 60;
    for i in 0..n {
        let t = at(rng, window, i, n);
        let target = format!("/api/v1/search?q={}&limit=20", PAYLOADS[i % PAYLOADS.len()]);
        let mut r = hostile(rng, Attack::Injection, &SEARCH, t, target, ip);
        r.status = [400, 500, 200][rng.below(3) as usize];
        r.response_bytes = if r.status == 200 { 40 } else { 120 };
        r.user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        out.push(r);
    }
    truth(Attack::Injection, Some(&SEARCH), vec![ip], Vec::new())
}

/// Three hundred failed logins (401) for one user from one address.
pub(super) fn brute_force(rng: &mut Rng, window: (i64, i64), out: &mut Vec<LogRecord>) -> Truth {
    let ip = net2(9);
    let user = apis::user_name(0);
    let n = 300;
    for i in 0..n {
        let t = at(rng, window, i, n);
        let mut r = hostile(
            rng,
            Attack::BruteForce,
            &LOGIN,
            t,
            LOGIN.template.into(),
            ip,
        );
        r.authorization = Some(super::basic(&user, &format!("guess{i:04}")));
        r.status = 401;
        r.response_bytes = 60;
        r.user_agent = "python-requests/2.32.3";
        out.push(r);
    }
    truth(Attack::BruteForce, Some(&LOGIN), vec![ip], vec![user])
}

/// A hundred addresses (TEST-NET-1), each trying three to five different leaked user names
/// once: 401 almost always.
pub(super) fn credential_stuffing(
    rng: &mut Rng,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let (mut clients, mut principals) = (Vec::new(), Vec::new());
    for c in 0..100u8 {
        let ip = Ipv4Addr::new(192, 0, 2, c + 1);
        let n = 3 + rng.below(3) as usize;
        for i in 0..n {
            let t = at(rng, window, i, n);
            let user = format!(
                "{}{}",
                apis::user_name(1000 + usize::from(c) * 5 + i),
                70 + c % 30
            );
            let mut r = hostile(
                rng,
                Attack::CredentialStuffing,
                &LOGIN,
                t,
                LOGIN.template.into(),
                ip,
            );
            r.authorization = Some(super::basic(&user, "Summer2024!"));
            (r.status, r.response_bytes) = if rng.chance(15) {
                (200, 520)
            } else {
                (401, 60)
            };
            r.user_agent = benign::AGENTS[usize::from(c) % benign::AGENTS.len()];
            out.push(r);
            principals.push(user);
        }
        clients.push(ip);
    }
    truth(
        Attack::CredentialStuffing,
        Some(&LOGIN),
        clients,
        principals,
    )
}

/// Twenty requests without credentials to the balance, which users always call with a token,
/// answered 200.
pub(super) fn auth_bypass(rng: &mut Rng, window: (i64, i64), out: &mut Vec<LogRecord>) -> Truth {
    let ip = net2(150);
    let n = 20;
    for i in 0..n {
        let t = at(rng, window, i, n);
        let mut r = hostile(
            rng,
            Attack::AuthBypass,
            &BALANCE,
            t,
            BALANCE.template.into(),
            ip,
        );
        r.user_agent = "curl/8.5.0";
        out.push(r);
    }
    truth(Attack::AuthBypass, Some(&BALANCE), vec![ip], Vec::new())
}

/// Thirty ordinary-looking catalogue views from the threat-intel address.
pub(super) fn malicious_ip(rng: &mut Rng, window: (i64, i64), out: &mut Vec<LogRecord>) -> Truth {
    let n = 30;
    for i in 0..n {
        let t = at(rng, window, i, n);
        let target = benign::target(rng, &PRODUCT, 0, 1);
        out.push(hostile(
            rng,
            Attack::MaliciousIp,
            &PRODUCT,
            t,
            target,
            MALICIOUS_IP,
        ));
    }
    truth(Attack::MaliciousIp, None, vec![MALICIOUS_IP], Vec::new())
}

/// Scanner agents (sqlmap, Nikto) as the tools send them.
pub(super) const SCANNER_AGENTS: [&str; 2] = [
    "sqlmap/1.8.4#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:001234)",
];

/// Sixty requests to real endpoints with scanner agents (plain targets: the agent is the
/// signal).
pub(super) fn suspicious_user_agent(
    rng: &mut Rng,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    let ip = net2(88);
    let n = 60;
    for i in 0..n {
        let t = at(rng, window, i, n);
        let ep = [PRODUCT, PRODUCTS, SEARCH, USER][rng.below(4) as usize];
        let target = benign::target(rng, &ep, 3, 10);
        let mut r = hostile(rng, Attack::SuspiciousUserAgent, &ep, t, target, ip);
        r.user_agent = SCANNER_AGENTS[i % 2];
        if ep.auth {
            r.status = 401;
            r.response_bytes = 60;
        }
        out.push(r);
    }
    truth(Attack::SuspiciousUserAgent, None, vec![ip], Vec::new())
}
