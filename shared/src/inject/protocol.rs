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
        let (is_te, is_cl) = framing(raw_name);
        if is_te || is_cl {
            let name = raw_name.trim();
            let malformed =
                name.len() != raw_name.len() || name.contains('_') || !name.bytes().all(tchar);
            if malformed {
                found.push(hit("protocol.malformed-header-name"));
            }
        }
        // Most values hold no line break: one vectorised search decides.
        let broken = memchr::memchr2(b'\r', b'\n', value.as_bytes());
        let first = broken.map_or(*value, |i| &value[..i]);
        if is_te {
            te = true;
            if !clean_codings(first) {
                found.push(hit("protocol.obfuscated-transfer-encoding"));
            }
        } else if is_cl {
            lengths.extend(first.split(','));
        }
        // Header lines hidden in the value after a line break.
        if let Some(i) = broken {
            for (hidden, rest) in value[i..]
                .split(['\r', '\n'])
                .filter_map(|l| l.split_once(':'))
            {
                match framing(hidden) {
                    (true, _) => te = true,
                    (_, true) => lengths.extend(rest.split(',')),
                    _ => continue,
                }
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

/// Whether a header name is `Transfer-Encoding` or `Content-Length` (read leniently, as
/// [`name_is`] does). Names of other lengths or first letters are ruled out without reading
/// them: most headers are neither.
fn framing(raw_name: &str) -> (bool, bool) {
    let b = raw_name.as_bytes();
    let Some(first) = b.iter().find(|c| !c.is_ascii_whitespace()) else {
        return (false, false);
    };
    match first.to_ascii_lowercase() {
        b't' if b.len() >= 17 => (name_is(raw_name, "transfer-encoding"), false),
        b'c' if b.len() >= 14 => (false, name_is(raw_name, "content-length")),
        _ => (false, false),
    }
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
