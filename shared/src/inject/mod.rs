//! Injection detection: SQL, NoSQL, OS command, path traversal, XSS, server-side template and
//! LDAP injection, on decoded path segments, query names and values, selected headers and
//! bodies. Each finding names its class, the rule that matched (a stable id such as
//! `sqli.union-select`) and where in the request it was. Detectors work on the canonical text
//! ([`decode::canonical`]) with tokenizers for SQL and markup-aware scans for the rest; see
//! `README.md` for the rule list and the measured quality.
//!
//! The verdict carries no part of the input: class names, rule ids and locations only.

pub mod decode;
mod misc;
mod shell;
mod sql;
mod xss;

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
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::Sqli,
        Class::Nosqli,
        Class::Cmdi,
        Class::Traversal,
        Class::Xss,
        Class::Ssti,
        Class::Ldapi,
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

/// A fixed keyword list for a detector. Each needle keeps the set of its bytes and of its
/// adjacent byte pairs; a search only looks for the needles the text could hold (checked
/// against the text's sets at the cost of a few word operations), each with a prebuilt
/// vectorised substring finder.
pub(crate) struct Needles {
    needles: Vec<Needle>,
}

struct Needle {
    word: &'static str,
    bytes: [u64; 4],
    /// The needle's pair bits, as (word index, mask) for the words that have any.
    pairs: Vec<(usize, u64)>,
    finder: memchr::memmem::Finder<'static>,
}

impl Needles {
    pub fn new(words: &'static [&'static str]) -> Needles {
        let needles = words
            .iter()
            .map(|w| {
                let sets = Sets::of(w);
                Needle {
                    word: w,
                    bytes: sets.bytes,
                    pairs: (0..sets.pairs.len())
                        .filter(|&i| sets.pairs[i] != 0)
                        .map(|i| (i, sets.pairs[i]))
                        .collect(),
                    finder: memchr::memmem::Finder::new(w.as_bytes()),
                }
            })
            .collect();
        Needles { needles }
    }

    /// The needles that could occur in `t`.
    fn candidates<'s>(&'s self, t: &'s Text<'_>) -> impl Iterator<Item = &'s Needle> + 's {
        self.needles.iter().filter(|n| t.sets.covers(n))
    }

    pub fn is_match(&self, t: &Text<'_>) -> bool {
        let hay = t.s.as_bytes();
        self.candidates(t).any(|n| n.finder.find(hay).is_some())
    }

    /// Every occurrence, overlapping: `(needle, start)`, grouped by needle.
    pub fn all<'t>(&'t self, t: &'t Text<'t>) -> impl Iterator<Item = (&'static str, usize)> + 't {
        let hay = t.s.as_bytes();
        self.candidates(t).flat_map(move |n| {
            let mut from = 0;
            std::iter::from_fn(move || {
                let p = from + n.finder.find(hay.get(from..)?)?;
                from = p + 1;
                Some((n.word, p))
            })
        })
    }
}

/// The bytes and the adjacent byte pairs (hashed into 1,024 bits) of a string: a string can
/// only contain a needle whose sets are covered by its own.
#[derive(Clone, Copy)]
pub(crate) struct Sets {
    bytes: [u64; 4],
    pairs: [u64; 16],
}

impl Sets {
    fn of(s: &str) -> Sets {
        let mut sets = Sets {
            bytes: [0; 4],
            pairs: [0; 16],
        };
        // The byte set is built in registers (an in-memory read-modify-write per byte would
        // chain every iteration on the previous one's store).
        let (mut ascii, mut high) = (0u128, 0u128);
        let mut prev: Option<u8> = None;
        for &c in s.as_bytes() {
            if c < 128 {
                ascii |= 1 << c;
            } else {
                high |= 1 << (c - 128);
            }
            if let Some(p) = prev {
                let h = pair_hash(p, c);
                sets.pairs[h >> 6] |= 1 << (h & 63);
            }
            prev = Some(c);
        }
        sets.bytes = [
            ascii as u64,
            (ascii >> 64) as u64,
            high as u64,
            (high >> 64) as u64,
        ];
        sets
    }

    #[inline]
    fn has_byte(&self, c: u8) -> bool {
        self.bytes[usize::from(c >> 6)] & (1 << (c & 63)) != 0
    }

    #[inline]
    fn covers(&self, needle: &Needle) -> bool {
        (needle.bytes[0] & !self.bytes[0])
            | (needle.bytes[1] & !self.bytes[1])
            | (needle.bytes[2] & !self.bytes[2])
            | (needle.bytes[3] & !self.bytes[3])
            == 0
            && needle.pairs.iter().all(|&(i, m)| m & !self.pairs[i] == 0)
    }

    /// Whether every byte and pair of `needle` occurs (without building the needle's sets).
    #[inline]
    fn may_hold(&self, needle: &[u8]) -> bool {
        needle.iter().all(|&c| self.has_byte(c))
            && needle.windows(2).all(|w| {
                let h = pair_hash(w[0], w[1]);
                self.pairs[h >> 6] & (1 << (h & 63)) != 0
            })
    }
}

#[inline]
fn pair_hash(a: u8, b: u8) -> usize {
    ((usize::from(a) << 5) ^ usize::from(b)) & 1023
}

/// Canonical text with the bytes and byte pairs it holds ([`Sets`]), computed in one pass: a
/// detector's needle search is skipped outright when a byte or pair of the needle is absent,
/// which is the common case (each value is checked against a few hundred needles).
pub(crate) struct Text<'a> {
    pub s: &'a str,
    sets: Sets,
}

impl<'a> Text<'a> {
    pub fn new(s: &'a str) -> Text<'a> {
        Text {
            s,
            sets: Sets::of(s),
        }
    }

    /// Whether byte `c` occurs.
    #[inline]
    pub fn byte(&self, c: u8) -> bool {
        self.sets.has_byte(c)
    }

    /// Whether any of `cs` occurs.
    #[inline]
    pub fn any(&self, cs: &[u8]) -> bool {
        cs.iter().any(|&c| self.byte(c))
    }

    /// Whether `needle` could occur (every byte and pair of it does), without searching.
    #[inline]
    pub fn may_have(&self, needle: &str) -> bool {
        self.sets.may_hold(needle.as_bytes())
    }

    #[inline]
    pub fn has(&self, needle: &str) -> bool {
        self.may_have(needle) && has(self.s, needle)
    }

    #[inline]
    pub fn find(&self, needle: &str) -> Option<usize> {
        if self.may_have(needle) {
            find(self.s, needle)
        } else {
            None
        }
    }
}

/// `s` without the leading ASCII bytes in `set` (a byte loop; the standard library's char
/// patterns decode UTF-8 on the way).
#[inline]
pub(crate) fn trim_start<'a>(s: &'a str, set: &[u8]) -> &'a str {
    let n = s.bytes().take_while(|c| set.contains(c)).count();
    // Every byte skipped is ASCII, so `n` is a character boundary.
    s.get(n..).unwrap_or("")
}

/// Whether the bytes around `text[start..end]` are not identifier characters.
pub(crate) fn word_at(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (start == 0 || !ident(b[start - 1])) && (end >= b.len() || !ident(b[end]))
}

/// Whether `needle` occurs in `hay`: a first-byte scan and compare, far cheaper than the
/// standard library's two-way searcher for the short needles and values judged here.
pub(crate) fn has(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// Byte position of the first `needle` in `hay`: a vectorised search for the needle's first
/// byte, then a compare.
pub(crate) fn find(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return Some(0);
    };
    if h.len() < n.len() {
        return None;
    }
    let last_start = h.len() - n.len();
    let mut i = 0;
    while i <= last_start {
        i += memchr::memchr(first, &h[i..=last_start])?;
        if &h[i..i + n.len()] == n {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Non-overlapping occurrences of `needle` in `hay`.
pub(crate) fn count(hay: &str, needle: &str) -> usize {
    let mut n = 0;
    let mut from = 0;
    while let Some(p) = find(&hay[from..], needle) {
        n += 1;
        from += p + needle.len().max(1);
        if from > hay.len() {
            break;
        }
    }
    n
}

/// Position of `word` in `text` where it is not part of a longer identifier.
pub(crate) fn find_word(text: &str, word: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(p) = find(&text[from..], word) {
        let i = from + p;
        let end = i + word.len();
        let left = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let right = end >= b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_');
        if left && right {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Bytes that every injection needs at least one of, or words some need; a value without any
/// is skipped (most API values are ids, numbers and words).
fn worth_scanning(tx: &Text<'_>) -> bool {
    tx.any(b"'\"()<>;|&`${=#*\\\n\r@/%,")
        || tx.has("..")
        || tx.has("--")
        || tx.has("union")
        || tx.has("waitfor")
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
}

/// Judges one value as a query-parameter value (percent-encoded, `+` for space).
pub fn scan_value(raw: &str) -> Verdict {
    let mut v = Verdict::default();
    scan_into(raw, true, Location::Query, &mut v, &mut Vec::new());
    v
}

fn scan_into(
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

/// Request headers whose values are scanned (others carry protocol data, not user input).
pub const SCANNED_HEADERS: &[&str] = &[
    "user-agent",
    "referer",
    "cookie",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-originating-ip",
    "x-api-version",
    "x-original-url",
    "x-rewrite-url",
    "accept-language",
    "origin",
    "from",
];

/// Most query parameters or cookie pairs scanned per request.
pub const MAX_PAIRS: usize = 64;
/// Most body bytes scanned.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request to judge; `headers` are the request headers (any case).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    pub target: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Judges a request target (path and query) only: what access logs show.
pub fn scan_target(target: &str, v: &mut Verdict) {
    let mut hits = Vec::new();
    let target = target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.is_empty()
        && path
            .bytes()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'/' | b'-' | b'_' | b'.')))
        || has(path, "..")
    {
        // The whole path for traversal, each segment for the rest.
        let text = decode::canonical(path, false);
        hits.clear();
        misc::traversal(&Text::new(&text), &mut hits);
        v.add(&hits, Location::Path);
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            scan_into(seg, false, Location::Path, v, &mut hits);
            hits.retain(|h| h.class != Class::Traversal);
        }
    } else if has(path, "/etc/") || has(path, "/.") {
        hits.clear();
        misc::traversal(&Text::new(&decode::canonical(path, false)), &mut hits);
        v.add(&hits, Location::Path);
    }
    if !query.is_empty() {
        scan_pairs(query, '&', Location::Query, v, &mut hits);
    }
}

fn scan_pairs(raw: &str, sep: char, location: Location, v: &mut Verdict, hits: &mut Vec<Hit>) {
    for kv in raw.split(sep).filter(|kv| !kv.is_empty()).take(MAX_PAIRS) {
        let (k, val) = kv.split_once('=').unwrap_or(("", kv));
        let k = k.trim_start();
        scan_into(k, true, location, v, hits);
        scan_into(val, true, location, v, hits);
    }
}

/// Judges a whole request: path, query, selected headers and the body.
pub fn scan_request(req: &RequestParts<'_>) -> Verdict {
    let mut v = Verdict::default();
    scan_target(req.target, &mut v);
    for (name, value) in req.headers {
        scan_header(name, value, &mut v);
    }
    scan_body(req.content_type, req.body, &mut v);
    v
}

/// Judges one request header if it is one that carries user input ([`SCANNED_HEADERS`]).
pub fn scan_header(name: &str, value: &str, v: &mut Verdict) {
    let mut hits = Vec::new();
    let name = name.trim();
    if name.eq_ignore_ascii_case("cookie") {
        scan_pairs(value, ';', Location::Header, v, &mut hits);
    } else if SCANNED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        scan_into(value, false, Location::Header, v, &mut hits);
    }
}

/// Judges a request body: JSON string values and keys, form fields, or the text itself.
pub fn scan_body(content_type: Option<&str>, body: &[u8], v: &mut Verdict) {
    if body.is_empty() {
        return;
    }
    let body = &body[..body.len().min(MAX_BODY_BYTES)];
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let mut hits = Vec::new();
    let trimmed = body.trim_ascii_start();
    if (has(&ct, "json") || trimmed.starts_with(b"{") || trimmed.starts_with(b"["))
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
    {
        let mut budget = MAX_PAIRS * 4;
        json_walk(&value, 0, &mut budget, v, &mut hits);
        return;
    }
    let text = String::from_utf8_lossy(body);
    if has(&ct, "x-www-form-urlencoded") {
        scan_pairs(&text, '&', Location::Body, v, &mut hits);
    } else {
        // Raw text bodies (XML, plain text, unparsable JSON): judged as one value, not decoded
        // as a query string.
        let canonical = decode::canonical(&text, false);
        scan_canonical(&canonical, &mut hits);
        v.add(&hits, Location::Body);
    }
}

fn json_walk(
    value: &serde_json::Value,
    depth: usize,
    budget: &mut usize,
    v: &mut Verdict,
    hits: &mut Vec<Hit>,
) {
    if depth > 16 || *budget == 0 {
        return;
    }
    match value {
        serde_json::Value::String(s) => {
            *budget -= 1;
            hits.clear();
            let text = decode::canonical(s, false);
            scan_canonical(&text, hits);
            v.add(hits, Location::Body);
        }
        serde_json::Value::Array(items) => {
            for item in items {
                json_walk(item, depth + 1, budget, v, hits);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                if *budget == 0 {
                    return;
                }
                *budget -= 1;
                // MongoDB operators smuggled as keys: `{"password": {"$ne": null}}`.
                if let Some(op) = k.strip_prefix('$')
                    && misc::is_mongo_op(&op.to_ascii_lowercase())
                {
                    v.add(
                        &[Hit {
                            class: Class::Nosqli,
                            rule: "nosqli.operator",
                        }],
                        Location::Body,
                    );
                }
                json_walk(item, depth + 1, budget, v, hits);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
