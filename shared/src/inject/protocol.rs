//! Request smuggling signs, judged over a request's whole header set: both `Content-Length`
//! and `Transfer-Encoding`, several `Content-Length`s that disagree (or one that is not a
//! number), a transfer coding list that is not a clean list of known codings ending in
//! `chunked` (`xchunked`, `chunked, identity`, a tab or quote around it), and header names
//! with whitespace or bytes outside the token grammar (`Transfer-Encoding : chunked`,
//! ` Transfer-Encoding`, `Content_Length`), which front and back ends read differently. A
//! framing header hidden after a line break inside another header's value
//! (`X: X\nTransfer-Encoding: chunked`) is one too: a lenient server splits the value into
//! two header lines.

use super::{Class, Hit, Location, Verdict};

const fn hit(rule: &'static str) -> Hit {
    Hit {
        class: Class::Protocol,
        rule,
    }
}

/// Transfer codings a server knows.
const CODINGS: &[&str] = &[
    "chunked",
    "gzip",
    "deflate",
    "compress",
    "x-gzip",
    "x-compress",
    "br",
    "zstd",
];

fn tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Judges a request's header set (names in any case, values as received).
pub fn scan_headers(headers: &[(&str, &str)], v: &mut Verdict) {
    let mut found = Vec::new();
    let mut lengths: Vec<&str> = Vec::new();
    let mut te = false;
    for (raw_name, value) in headers.iter().take(256) {
        let name = raw_name.trim();
        let malformed = name.len() != raw_name.len() || name.is_empty() || !name.bytes().all(tchar);
        let is_te = name_is(name, "transfer-encoding");
        let is_cl = !is_te && name_is(name, "content-length");
        if (malformed || name.contains('_')) && (is_te || is_cl) {
            found.push(hit("protocol.malformed-header-name"));
        }
        let mut lines = value.split(['\r', '\n']);
        let value = lines.next().unwrap_or("");
        if is_te {
            te = true;
            if !clean_codings(value) {
                found.push(hit("protocol.obfuscated-transfer-encoding"));
            }
        } else if is_cl {
            lengths.extend(value.split(','));
        }
        // Header lines hidden in the value after a line break.
        for (hidden, rest) in lines.filter_map(|l| l.split_once(':')) {
            if name_is(hidden, "transfer-encoding") {
                te = true;
                found.push(hit("protocol.hidden-framing-header"));
            } else if name_is(hidden, "content-length") {
                lengths.extend(rest.split(','));
                found.push(hit("protocol.hidden-framing-header"));
            }
        }
    }
    if te && !lengths.is_empty() {
        found.push(hit("protocol.cl-te-conflict"));
    }
    let trimmed: Vec<&str> = lengths
        .iter()
        .map(|l| l.trim_matches([' ', '\t']))
        .collect();
    if trimmed
        .iter()
        .any(|l| l.is_empty() || !l.bytes().all(|c| c.is_ascii_digit()))
    {
        found.push(hit("protocol.invalid-content-length"));
    } else if trimmed
        .windows(2)
        .any(|w| w[0].trim_start_matches('0') != w[1].trim_start_matches('0'))
    {
        found.push(hit("protocol.content-length-conflict"));
    }
    v.add(&found, Location::Header);
}

/// Whether `name`, without whitespace, case-insensitively and with `_` read as `-`, is `want`.
fn name_is(name: &str, want: &str) -> bool {
    let mut got = name.bytes().filter(|c| !c.is_ascii_whitespace()).map(|c| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    });
    want.bytes().all(|w| got.next() == Some(w)) && got.next().is_none()
}

/// `chunked`, `gzip, chunked`: known codings separated by commas and single spaces, `chunked`
/// last.
fn clean_codings(value: &str) -> bool {
    let value = value.trim_matches(' ');
    if value.bytes().any(|c| c != b' ' && !tchar(c) && c != b',') {
        return false;
    }
    let codings: Vec<String> = value
        .split(',')
        .map(|c| c.trim_matches(' ').to_ascii_lowercase())
        .collect();
    codings.iter().all(|c| CODINGS.contains(&c.as_str()))
        && codings.last().is_some_and(|c| c == "chunked")
        && codings.iter().filter(|c| *c == "chunked").count() == 1
}
