//! HAR (HTTP Archive 1.2) entries: request line, headers, `postData` and the response with
//! its `content.text`.

use super::{Exchange, nonneg, split_url};
use crate::identity::{Credentials, Identifier};
use crate::record::{self, RequestRecord};
use picket_shared::time;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct Har {
    pub(super) log: HarLog,
}

#[derive(Debug, Deserialize)]
pub(super) struct HarLog {
    #[serde(default)]
    pub(super) entries: Vec<HarEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HarEntry {
    started_date_time: String,
    #[serde(default)]
    time: f64,
    request: HarRequest,
    #[serde(default)]
    response: Option<HarResponse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<HarHeader>,
    #[serde(default)]
    headers_size: i64,
    #[serde(default)]
    body_size: i64,
    #[serde(default)]
    post_data: Option<HarPostData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarPostData {
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct HarHeader {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarResponse {
    #[serde(default)]
    status: i64,
    #[serde(default)]
    body_size: i64,
    #[serde(default)]
    content: Option<HarContent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarContent {
    #[serde(default)]
    size: i64,
    #[serde(default)]
    mime_type: String,
    /// The response body as text (HAR writers may leave it out, or base64 it: `encoding`).
    #[serde(default)]
    text: String,
    #[serde(default)]
    encoding: String,
}

pub(super) fn har_record(
    e: &HarEntry,
    default_host: &str,
    ident: &Identifier,
) -> Result<RequestRecord, &'static str> {
    let ts_ms = time::parse_rfc3339_ms(&e.started_date_time).ok_or("bad_timestamp")?;
    let (scheme, authority, target) = split_url(&e.request.url).ok_or("bad_target")?;
    let target = record::normalize_target(target).map_err(|_| "bad_target")?;
    let status = e
        .response
        .as_ref()
        .and_then(|r| u16::try_from(r.status).ok())
        .unwrap_or(0);
    let response_bytes = e.response.as_ref().map_or(0, |r| {
        let body = nonneg(r.body_size);
        if body > 0 {
            body
        } else {
            r.content.as_ref().map_or(0, |c| nonneg(c.size))
        }
    });
    let header = |name: &str| {
        e.request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name) && !h.value.is_empty())
            .map(|h| h.value.as_str())
    };
    let mut rec = RequestRecord {
        ts_ms,
        method: record::normalize_method(&e.request.method).map_err(|_| "bad_method")?,
        host: record::normalize_host(authority, scheme, default_host),
        target: target.to_owned(),
        status,
        request_bytes: nonneg(e.request.headers_size) + nonneg(e.request.body_size),
        response_bytes,
        latency_us: if e.time.is_finite() && e.time > 0.0 {
            (e.time * 1000.0) as u64
        } else {
            0
        },
        scheme,
        ..Default::default()
    };
    let creds = Credentials {
        authorization: header("authorization"),
        api_key: header("x-api-key"),
        cookie: header("cookie").is_some(),
        user_agent: header("user-agent"),
        ..Default::default()
    };
    ident.apply(&mut rec, creds);
    let headers: Vec<(&str, &str)> = e
        .request
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    let post = e.request.post_data.as_ref();
    // Base64-encoded bodies (binary content) are not text to judge.
    let content = e
        .response
        .as_ref()
        .and_then(|r| r.content.as_ref())
        .filter(|c| c.encoding.is_empty());
    Exchange {
        headers: &headers,
        request_type: post.map(|p| p.mime_type.as_str()),
        request_body: post.map_or(&b""[..], |p| p.text.as_bytes()),
        response_type: content.map(|c| c.mime_type.as_str()),
        response_body: content.map_or(&b""[..], |c| c.text.as_bytes()),
    }
    .judge_into(&mut rec);
    Ok(rec)
}
