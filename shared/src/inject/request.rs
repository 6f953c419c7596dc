//! Where values are found in a request: path segments, query pairs, the scanned headers,
//! cookies, and bodies (JSON keys and values, forms, documents, raw text).

use super::{
    Class, Hit, Location, Text, Verdict, decode, document, has, java, misc, protocol, prototype,
    scan_canonical, scan_into,
};

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

/// Judges a whole request: path, query, selected headers, the header set (smuggling signs)
/// and the body.
pub fn scan_request(req: &RequestParts<'_>) -> Verdict {
    let mut v = Verdict::default();
    scan_target(req.target, &mut v);
    for (name, value) in req.headers {
        scan_header(name, value, &mut v);
    }
    protocol::scan_headers(req.headers, &mut v);
    scan_body(req.content_type, req.body, &mut v);
    v
}

/// Judges one request header if it is one that carries user input ([`SCANNED_HEADERS`]). A
/// user agent made of product tokens (`curl/8.5.0`, `Mozilla/5.0 (X11; Linux x86_64) …`) is
/// judged by its comments only: product names are tool names, never commands. `Referer` and
/// `Origin` are where the client came from, never a URL the server fetches, so they are not
/// judged for SSRF.
pub fn scan_header(name: &str, value: &str, v: &mut Verdict) {
    let mut hits = Vec::new();
    let name = name.trim();
    if name.eq_ignore_ascii_case("cookie") {
        scan_pairs(value, ';', Location::Header, v, &mut hits);
    } else if name.eq_ignore_ascii_case("user-agent") {
        match crate::agents::product_comments(value) {
            Some(comments) => {
                for c in comments {
                    scan_into(c, false, Location::Header, v, &mut hits);
                }
            }
            None => scan_into(value, false, Location::Header, v, &mut hits),
        }
    } else if name.eq_ignore_ascii_case("referer") || name.eq_ignore_ascii_case("origin") {
        let before = v.findings.len();
        scan_into(value, false, Location::Header, v, &mut hits);
        let added = v.findings.split_off(before);
        v.findings
            .extend(added.into_iter().filter(|f| f.hit.class != Class::Ssrf));
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
    if document::is_document(&ct, body) {
        document::scan(&text, v, &mut hits);
    } else if has(&ct, "x-www-form-urlencoded") {
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
            // Jackson's typed arrays: `["com.sun.rowset.JdbcRowSetImpl", {…}]`.
            if let [
                serde_json::Value::String(class),
                serde_json::Value::Object(_),
                ..,
            ] = &items[..]
                && java::is_class_name(class)
            {
                v.add(&[java::CLASS_REFERENCE], Location::Body);
            }
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
                json_key(k, item, v);
                json_walk(item, depth + 1, budget, v, hits);
            }
        }
        _ => {}
    }
}

/// Keys that are attacks by themselves: MongoDB operators (`{"password": {"$ne": null}}`),
/// prototype paths (`{"__proto__": …}`, `{"constructor": {"prototype": …}}`) and polymorphic
/// type ids naming a class (`{"@type": "com.sun.rowset.JdbcRowSetImpl"}`).
fn json_key(k: &str, item: &serde_json::Value, v: &mut Verdict) {
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
    if k == "__proto__" {
        v.add(&[prototype::PROTO_KEY], Location::Body);
    } else if k == "constructor"
        && let serde_json::Value::Object(inner) = item
        && inner.contains_key("prototype")
    {
        v.add(&[prototype::CONSTRUCTOR_PROTOTYPE], Location::Body);
    } else if matches!(k, "@type" | "@class" | "$type" | "@c")
        && let serde_json::Value::String(class) = item
        && java::is_class_name(class)
    {
        v.add(&[java::CLASS_REFERENCE], Location::Body);
    }
}
