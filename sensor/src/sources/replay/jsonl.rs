//! Picket JSON lines: one exchange per line (format in the README).

use super::{Exchange, split_url};
use crate::identity::{Credentials, Identifier};
use crate::record::{self, RequestRecord};
use picket_shared::time;
use serde::Deserialize;

/// One Picket replay line: `{"ts": "...", "method": "GET", "url": "https://h/p?q", ...}`.
#[derive(Debug, Deserialize)]
struct JsonlLine {
    /// RFC 3339 time, or `ts_ms`.
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    ts_ms: Option<i64>,
    method: String,
    /// Absolute URL, or a path with `host` given separately.
    #[serde(alias = "uri", alias = "path")]
    url: String,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    client_ip: Option<String>,
    /// Request header names to values (strings; other JSON values are ignored).
    #[serde(default)]
    headers: std::collections::BTreeMap<String, serde_json::Value>,
    /// Response header names to values (`content-type` says how to read `response_body`).
    #[serde(default)]
    response_headers: std::collections::BTreeMap<String, serde_json::Value>,
    /// The request body as text; judged for injections and parameters like a mirrored body.
    #[serde(default)]
    request_body: Option<String>,
    /// The response body as text; examined for sensitive-data classes.
    #[serde(default)]
    response_body: Option<String>,
    /// The client's source port. Accepted so recordings that carry it read unchanged; nothing
    /// in a summary depends on it.
    #[serde(default)]
    #[allow(dead_code)]
    client_port: Option<u16>,
    #[serde(default)]
    latency_ms: Option<f64>,
    #[serde(default)]
    request_bytes: Option<u64>,
    #[serde(default)]
    response_bytes: Option<u64>,
}

pub(super) fn jsonl_record(
    line: &[u8],
    default_host: &str,
    now_ms: i64,
    ident: &Identifier,
) -> Result<RequestRecord, &'static str> {
    let j: JsonlLine = serde_json::from_slice(line).map_err(|_| "malformed_json")?;
    let ts_ms = match (&j.ts, j.ts_ms) {
        (_, Some(ms)) => ms,
        (Some(t), None) => time::parse_rfc3339_ms(t).ok_or("bad_timestamp")?,
        (None, None) => now_ms,
    };
    let (scheme, authority, target) = split_url(&j.url).ok_or("bad_target")?;
    let authority = j
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or(authority);
    let header = |name: &str| find(&j.headers, name);
    let mut rec = RequestRecord {
        ts_ms,
        method: record::normalize_method(&j.method).map_err(|_| "bad_method")?,
        host: record::normalize_host(authority, scheme, default_host),
        target: record::normalize_target(target)
            .map_err(|_| "bad_target")?
            .to_owned(),
        status: j.status.unwrap_or(0),
        request_bytes: j.request_bytes.unwrap_or(0),
        response_bytes: j.response_bytes.unwrap_or(0),
        latency_us: j
            .latency_ms
            .filter(|l| l.is_finite() && *l >= 0.0)
            .map_or(0, |l| (l * 1000.0) as u64),
        scheme,
        ..Default::default()
    };
    let creds = Credentials {
        authorization: header("authorization"),
        api_key: header("x-api-key"),
        cookie: header("cookie").is_some(),
        user: None,
        peer: j.client_ip.as_deref().and_then(record::parse_ip),
        forwarded_for: header("x-forwarded-for"),
        user_agent: header("user-agent"),
    };
    ident.apply(&mut rec, creds);
    let headers: Vec<(&str, &str)> = j
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    Exchange {
        headers: &headers,
        request_type: header("content-type"),
        request_body: j.request_body.as_deref().unwrap_or("").as_bytes(),
        response_type: find(&j.response_headers, "content-type"),
        response_body: j.response_body.as_deref().unwrap_or("").as_bytes(),
    }
    .judge_into(&mut rec);
    Ok(rec)
}

/// A header's string value, by case-insensitive name.
fn find<'a>(
    map: &'a std::collections::BTreeMap<String, serde_json::Value>,
    name: &str,
) -> Option<&'a str> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}
