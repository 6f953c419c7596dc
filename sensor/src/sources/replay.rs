//! `picket-sensor replay FILE`: offline analysis of recorded traffic. Reads HAR files (HTTP
//! Archive 1.2, responses included), Picket JSON lines, nginx JSON or combined logs, and feeds
//! them through the same pipeline as live traffic. Event time comes from the records
//! (`startedDateTime`, `ts`, the log's own time), so a replay behaves like the live day.

use super::nginx::{self, LogFormat};
use super::{Chunk, MAX_CHUNK_RECORDS};
use crate::identity::{Credentials, Identifier};
use crate::record::{self, RequestRecord, Scheme};
use crate::stats::{ChunkTally, SensorStats, SourceStats};
use picket_shared::time;
use serde::Deserialize;
use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Largest HAR file accepted (HAR is one JSON document, read whole), in bytes.
pub const MAX_HAR_BYTES: u64 = 512 * 1024 * 1024;
/// Longest JSON line accepted, in bytes.
pub const MAX_REPLAY_LINE_BYTES: usize = 1024 * 1024;

/// What a replay file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    /// Decide from the file name and first bytes.
    Auto,
    Har,
    /// One Picket JSON object per line (see the README).
    Jsonl,
    NginxJson,
    Combined,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("reading {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is {1} bytes; HAR files over {MAX_HAR_BYTES} bytes are not accepted")]
    TooLarge(String, u64),
    #[error("{0} is not a HAR document: {1}")]
    Har(String, serde_json::Error),
}

/// Picks the format from the extension, then from the first non-blank byte.
pub fn detect(path: &Path, first_line: &str) -> ReplayFormat {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "har" {
        return ReplayFormat::Har;
    }
    let t = first_line.trim_start();
    if t.starts_with('{') {
        if (t.contains("\"log\"") && t.contains("\"entries\"")) || t == "{" {
            return ReplayFormat::Har;
        }
        let nginx_keys = t.contains("\"request_method\"") || t.contains("\"request_uri\"");
        if nginx_keys || (t.contains("\"request\"") && !t.contains("\"method\"")) {
            return ReplayFormat::NginxJson;
        }
        return ReplayFormat::Jsonl;
    }
    ReplayFormat::Combined
}

#[derive(Debug, Deserialize)]
struct Har {
    log: HarLog,
}

#[derive(Debug, Deserialize)]
struct HarLog {
    #[serde(default)]
    entries: Vec<HarEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarEntry {
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
struct HarContent {
    #[serde(default)]
    size: i64,
}

fn nonneg(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Splits an absolute URL into scheme, authority and target.
fn split_url(url: &str) -> Option<(Option<Scheme>, &str, &str)> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        (Some(Scheme::Https), r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (Some(Scheme::Http), r)
    } else if url.starts_with('/') {
        return Some((None, "", url));
    } else {
        return None;
    };
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(cut);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    Some((
        scheme,
        authority,
        if target.is_empty() || !target.starts_with('/') {
            "/"
        } else {
            target
        },
    ))
}

fn har_record(
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
    // Smuggling signs need the whole header set.
    let headers: Vec<(&str, &str)> = (e.request.headers.iter())
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    let mut v = picket_shared::inject::Verdict::default();
    picket_shared::inject::scan_headers(&headers, &mut v);
    rec.injections.extend(v.findings);
    if let Some(pd) = &e.request.post_data {
        let text = pd.text.as_bytes();
        let body = &text[..text.len().min(MAX_BODY_BYTES)];
        rec.body_params = picket_shared::params::body(Some(&pd.mime_type), body);
        let mut v = picket_shared::inject::Verdict::default();
        picket_shared::inject::scan_body(Some(&pd.mime_type), body, &mut v);
        rec.injections.extend(v.findings);
    }
    Ok(rec)
}

/// Request-body bytes of a HAR entry examined for parameters.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    /// Header names to values (only names matter today).
    #[serde(default)]
    headers: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    latency_ms: Option<f64>,
    #[serde(default)]
    request_bytes: Option<u64>,
    #[serde(default)]
    response_bytes: Option<u64>,
}

fn jsonl_record(
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
    let header = |name: &str| {
        j.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
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
    Ok(rec)
}

/// Feeds a replay file into the pipeline; returns when everything was read.
pub struct Replayer {
    pub name: Arc<str>,
    pub default_host: String,
    pub stats: Arc<SensorStats>,
    pub src: Arc<SourceStats>,
    pub out: mpsc::Sender<Chunk>,
    pub ident: Arc<Identifier>,
}

impl Replayer {
    fn send(&self, records: Vec<RequestRecord>, tally: &ChunkTally) {
        self.stats.record(&self.src, tally);
        if !records.is_empty() {
            let _ = self.out.blocking_send(Chunk {
                source: self.name.clone(),
                records,
                position: None,
            });
        }
    }

    /// Reads the whole file (blocking).
    pub fn run(&self, path: &Path, format: ReplayFormat) -> Result<(), ReplayError> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| ReplayError::Read(shown.clone(), e))?;
        let mut reader = std::io::BufReader::new(file);
        let format = match format {
            ReplayFormat::Auto => {
                let first = reader
                    .fill_buf()
                    .map_err(|e| ReplayError::Read(shown.clone(), e))?;
                let first = String::from_utf8_lossy(&first[..first.len().min(4096)])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                detect(path, &first)
            }
            f => f,
        };
        if format == ReplayFormat::Har {
            return self.run_har(path, &shown);
        }
        let now = super::tail::now_ms();
        let ctx = nginx::LineContext {
            default_host: &self.default_host,
            now_ms: now,
            ident: &self.ident,
        };
        let mut records = Vec::new();
        let mut tally = ChunkTally::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .by_ref()
                .take(MAX_REPLAY_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| ReplayError::Read(shown.clone(), e))?;
            if n == 0 {
                break;
            }
            if line.len() > MAX_REPLAY_LINE_BYTES && !line.ends_with(b"\n") {
                tally.reject("line_too_long");
                // Skip the rest of the over-long line.
                let mut sink = Vec::new();
                reader
                    .read_until(b'\n', &mut sink)
                    .map_err(|e| ReplayError::Read(shown.clone(), e))?;
                continue;
            }
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = match format {
                ReplayFormat::Jsonl => jsonl_record(l, &self.default_host, now, &self.ident),
                ReplayFormat::NginxJson => {
                    nginx::parse_line(LogFormat::Json, l, &ctx).map_err(|r| r.reason())
                }
                _ => nginx::parse_line(LogFormat::Combined, l, &ctx).map_err(|r| r.reason()),
            };
            match parsed {
                Ok(r) => {
                    tally.accept();
                    records.push(r);
                }
                Err(reason) => tally.reject(reason),
            }
            if records.len() >= MAX_CHUNK_RECORDS {
                self.send(std::mem::take(&mut records), &tally);
                tally = ChunkTally::default();
            }
        }
        self.send(records, &tally);
        Ok(())
    }

    fn run_har(&self, path: &Path, shown: &str) -> Result<(), ReplayError> {
        let size = std::fs::metadata(path)
            .map_err(|e| ReplayError::Read(shown.into(), e))?
            .len();
        if size > MAX_HAR_BYTES {
            return Err(ReplayError::TooLarge(shown.into(), size));
        }
        let bytes = std::fs::read(path).map_err(|e| ReplayError::Read(shown.into(), e))?;
        let har: Har =
            serde_json::from_slice(&bytes).map_err(|e| ReplayError::Har(shown.into(), e))?;
        drop(bytes);
        for entries in har.log.entries.chunks(MAX_CHUNK_RECORDS) {
            let mut tally = ChunkTally::default();
            let mut records = Vec::with_capacity(entries.len());
            for e in entries {
                match har_record(e, &self.default_host, &self.ident) {
                    Ok(r) => {
                        tally.accept();
                        records.push(r);
                    }
                    Err(reason) => tally.reject(reason),
                }
            }
            self.send(records, &tally);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> Identifier {
        Identifier::new(
            crate::identity::PrincipalKey::from_bytes([2; 32]),
            Vec::new(),
        )
    }

    #[test]
    fn har_entries() {
        let har = r#"{"log":{"version":"1.2","entries":[
            {"startedDateTime":"2026-11-21T10:00:00.250Z","time":12.5,
             "request":{"method":"get","url":"https://User:pw@API.example.com/users/42?x=1","headers":[{"name":"Authorization","value":"Bearer t"}],"headersSize":100,"bodySize":0},
             "response":{"status":200,"bodySize":-1,"content":{"size":512}}},
            {"startedDateTime":"not a time","request":{"method":"GET","url":"https://a/"}}
        ]}}"#;
        let h: Har = serde_json::from_str(har).unwrap();
        let r = har_record(&h.log.entries[0], "d", &ident()).unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_str(), r.target.as_str()),
            ("GET", "api.example.com", "/users/42?x=1")
        );
        assert_eq!(
            (r.ts_ms % 1000, r.status, r.response_bytes, r.latency_us),
            (250, 200, 512, 12_500)
        );
        assert!(r.auth_present);
        assert_eq!(
            har_record(&h.log.entries[1], "d", &ident()).err(),
            Some("bad_timestamp")
        );
    }

    #[test]
    fn jsonl_lines_and_detection() {
        let l = br#"{"ts":"2026-11-21T10:00:00Z","method":"POST","url":"http://shop.example/orders","status":201,"client_ip":"81.2.69.1","headers":{"x-api-key":"k"},"latency_ms":3}"#;
        let r = jsonl_record(l, "d", 0, &ident()).unwrap();
        assert_eq!(
            (r.host.as_str(), r.status, r.latency_us),
            ("shop.example", 201, 3000)
        );
        assert!(r.auth_present);
        let r = jsonl_record(
            br#"{"method":"GET","path":"/x","host":"h.example","ts_ms":5}"#,
            "d",
            0,
            &ident(),
        )
        .unwrap();
        assert_eq!((r.host.as_str(), r.ts_ms), ("h.example", 5));
        assert_eq!(
            jsonl_record(b"{}", "d", 0, &ident()).err(),
            Some("malformed_json")
        );
        assert_eq!(
            jsonl_record(br#"{"method":"GET","url":"ftp://x"}"#, "d", 0, &ident()).err(),
            Some("bad_target")
        );
        assert_eq!(detect(Path::new("a.har"), ""), ReplayFormat::Har);
        assert_eq!(
            detect(Path::new("a.json"), r#"{"log": {"entries": []}}"#),
            ReplayFormat::Har
        );
        assert_eq!(
            detect(Path::new("a.log"), r#"{"request_method":"GET"}"#),
            ReplayFormat::NginxJson
        );
        assert_eq!(
            detect(Path::new("a.log"), r#"{"method":"GET","url":"/"}"#),
            ReplayFormat::Jsonl
        );
        assert_eq!(
            detect(Path::new("a.log"), "1.2.3.4 - - [..."),
            ReplayFormat::Combined
        );
    }
}
