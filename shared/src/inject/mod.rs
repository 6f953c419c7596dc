//! Injection detection: SQL, NoSQL, OS command, path traversal, XSS, server-side template, LDAP,
//! Java expression/JNDI and deserialization, PHP code/wrappers/object injection, SSRF and
//! remote inclusion, XXE, CRLF/header injection, prototype pollution and server-side includes,
//! on decoded path segments, query names and values, selected headers and bodies (XML and HTML
//! bodies judged as documents), plus request smuggling signs over a whole header set. Each finding names its class, the rule that matched (a stable id such as
//! `sqli.union-select`) and where in the request it was. Detectors work on the canonical text
//! ([`decode::canonical`]) with tokenizers for SQL and markup-aware scans for the rest; see
//! `README.md` for the rule list and the measured quality.
//!
//! The verdict carries no part of the input: class names, rule ids and locations only.

mod crlf;
pub mod decode;
mod document;
mod java;
mod misc;
mod php;
mod protocol;
mod prototype;
mod request;
mod shell;
mod sql;
mod ssi;
mod ssrf;
mod text;
mod xss;
mod xxe;

pub use protocol::scan_headers;
pub use request::{
    MAX_BODY_BYTES, MAX_PAIRS, RequestParts, SCANNED_HEADERS, scan_body, scan_header, scan_request,
    scan_target,
};
pub(crate) use text::{Needles, Text, count, find, find_word, has, trim_start, word_at};

use serde::{Deserialize, Serialize};

/// An attack class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Sqli,
    Nosqli,
    Cmdi,
    Traversal,
    Xss,
    Ssti,
    Ldapi,
    Java,
    Php,
    Ssrf,
    Xxe,
    Crlf,
    Protocol,
    Prototype,
    Ssi,
}

impl Class {
    pub const ALL: [Class; 15] = [
        Class::Sqli,
        Class::Nosqli,
        Class::Cmdi,
        Class::Traversal,
        Class::Xss,
        Class::Ssti,
        Class::Ldapi,
        Class::Java,
        Class::Php,
        Class::Ssrf,
        Class::Xxe,
        Class::Crlf,
        Class::Protocol,
        Class::Prototype,
        Class::Ssi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Sqli => "sqli",
            Class::Nosqli => "nosqli",
            Class::Cmdi => "cmdi",
            Class::Traversal => "traversal",
            Class::Xss => "xss",
            Class::Ssti => "ssti",
            Class::Ldapi => "ldapi",
            Class::Java => "java",
            Class::Php => "php",
            Class::Ssrf => "ssrf",
            Class::Xxe => "xxe",
            Class::Crlf => "crlf",
            Class::Protocol => "protocol",
            Class::Prototype => "prototype",
            Class::Ssi => "ssi",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One matched rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hit {
    pub class: Class,
    /// Stable rule id, prefixed by its class (`sqli.tautology`).
    pub rule: &'static str,
}

/// Where in a request a value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Path,
    Query,
    Header,
    Body,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Body => "body",
        }
    }
}

/// A rule that matched at a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Finding {
    pub hit: Hit,
    pub location: Location,
}

/// Everything found in one value or request (deduplicated, in detection order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub findings: Vec<Finding>,
}

/// Most findings kept per request.
pub const MAX_FINDINGS: usize = 16;

impl Verdict {
    pub fn is_attack(&self) -> bool {
        !self.findings.is_empty()
    }

    /// Distinct classes, in order of first detection.
    pub fn classes(&self) -> Vec<Class> {
        let mut out = Vec::new();
        for f in &self.findings {
            if !out.contains(&f.hit.class) {
                out.push(f.hit.class);
            }
        }
        out
    }

    /// Distinct rule ids, in order of first detection.
    pub fn rules(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for f in &self.findings {
            if !out.contains(&f.hit.rule) {
                out.push(f.hit.rule);
            }
        }
        out
    }

    fn add(&mut self, hits: &[Hit], location: Location) {
        for &hit in hits {
            let f = Finding { hit, location };
            if self.findings.len() < MAX_FINDINGS && !self.findings.contains(&f) {
                self.findings.push(f);
            }
        }
    }
}

/// Bytes that every injection needs at least one of, or words some need; a value without any
/// is skipped (most API values are ids, numbers and words).
fn worth_scanning(tx: &Text<'_>) -> bool {
    tx.any(b"'\"()<>;|&`${=#*\\\n\r@/%,")
        || tx.has("..")
        || tx.has("--")
        || tx.has("union")
        || tx.has("waitfor")
        || tx.has("__proto__")
        || tx.has("prototype")
        || tx.has("aced0005")
        || tx.has("ro0ab")
        || tx.has("\\n")
}

/// Runs every detector on canonical text.
pub fn scan_canonical(text: &str, hits: &mut Vec<Hit>) {
    let tx = Text::new(text);
    if !worth_scanning(&tx) {
        // Words and spaces only: a command line (`uname -a`, `net user x`) is the one attack
        // that needs no punctuation.
        if tx.byte(b' ') {
            shell::scan(&tx, hits);
        } else {
            shell::recon_value(text, hits);
        }
        return;
    }
    sql::scan(&tx, hits);
    xss::scan(&tx, hits);
    shell::scan(&tx, hits);
    misc::traversal(&tx, hits);
    misc::ssti(&tx, hits);
    misc::nosql(&tx, hits);
    misc::ldap(&tx, hits);
    java::scan(&tx, hits);
    php::scan(&tx, hits);
    ssrf::scan(&tx, hits);
    xxe::scan(&tx, hits);
    crlf::scan(&tx, hits);
    prototype::scan(&tx, hits);
    ssi::scan(&tx, hits);
}

/// Judges one value as a query-parameter value (percent-encoded, `+` for space).
pub fn scan_value(raw: &str) -> Verdict {
    let mut v = Verdict::default();
    scan_into(raw, true, Location::Query, &mut v, &mut Vec::new());
    v
}

pub(crate) fn scan_into(
    raw: &str,
    plus_is_space: bool,
    location: Location,
    v: &mut Verdict,
    hits: &mut Vec<Hit>,
) {
    if raw.is_empty() {
        return;
    }
    // Fast path: one plain word (no space, no punctuation but `-_.:`): no detector can match
    // it except a lone reconnaissance command such as `whoami`.
    if raw
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
        && !has(raw, "..")
        && (raw.len() < 9 || !has(raw, "__proto__") && !has(raw, "prototype"))
        && !raw.starts_with("rO0AB")
        && !raw
            .get(..8)
            .is_some_and(|m| m.eq_ignore_ascii_case("aced0005"))
    {
        let mut buf = [0u8; 16];
        if raw.len() <= buf.len() {
            buf[..raw.len()].copy_from_slice(raw.as_bytes());
            buf[..raw.len()].make_ascii_lowercase();
            if let Ok(word) = std::str::from_utf8(&buf[..raw.len()]) {
                hits.clear();
                shell::recon_value(word, hits);
                v.add(hits, location);
            }
        }
        return;
    }
    let text = decode::canonical(raw, plus_is_space);
    hits.clear();
    scan_canonical(&text, hits);
    v.add(hits, location);
}

#[cfg(test)]
mod tests;
