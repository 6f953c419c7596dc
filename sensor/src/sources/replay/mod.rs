//! `picket-sensor replay FILE`: offline analysis of recorded traffic. Reads HAR files (HTTP
//! Archive 1.2, responses included), Picket JSON lines, nginx JSON or combined logs, and feeds
//! them through the same pipeline as live traffic. Event time comes from the records
//! (`startedDateTime`, `ts`, the log's own time), so a replay behaves like the live day.

mod har;
mod jsonl;
pub mod recording;

use super::nginx::{self, LogFormat};
use super::{Chunk, FilePosition, MAX_CHUNK_RECORDS};
use crate::identity::Identifier;
use crate::record::{RequestRecord, Scheme};
use crate::stats::{ChunkTally, SensorStats, SourceStats};
use har::{Har, har_record};
use jsonl::jsonl_record;
use std::io::{BufRead, Read, Seek, SeekFrom};
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

/// Request and response body bytes examined per exchange (recordings hold whole bodies; the
/// sensor looks at as much as the mirror source keeps by default).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The evidence a recorded exchange carries beyond its request line, judged as the mirror
/// source judges live requests: injections in headers (the User-Agent is judged by
/// [`Identifier::apply`]) and in the request body, body parameters, and the sensitive-data
/// classes of the response body. Bodies are cut at [`MAX_BODY_BYTES`].
pub(crate) struct Exchange<'a> {
    pub headers: &'a [(&'a str, &'a str)],
    pub request_type: Option<&'a str>,
    pub request_body: &'a [u8],
    pub response_type: Option<&'a str>,
    pub response_body: &'a [u8],
}

impl Exchange<'_> {
    pub(crate) fn judge_into(&self, rec: &mut RequestRecord) {
        let cut = |b: &[u8]| b.len().min(MAX_BODY_BYTES);
        let request_body = &self.request_body[..cut(self.request_body)];
        rec.content_type = picket_shared::media::header_label(self.request_type);
        let mut v = picket_shared::inject::Verdict::default();
        // Smuggling signs need the whole header set.
        picket_shared::inject::scan_headers(self.headers, &mut v);
        for (name, value) in self.headers {
            if !name.eq_ignore_ascii_case("user-agent") {
                picket_shared::inject::scan_header(name, value, &mut v);
            }
        }
        if !request_body.is_empty() {
            rec.body_params = picket_shared::params::body(self.request_type, request_body);
            picket_shared::inject::scan_body(self.request_type, request_body, &mut v);
        }
        rec.injections.extend(v.findings);
        let response_body = &self.response_body[..cut(self.response_body)];
        if !response_body.is_empty() {
            rec.response_sensitive =
                picket_shared::sensitive::classes_in_body(self.response_type, response_body);
        }
    }
}

/// Decodes one Picket JSON line as `replay` does (for tools and fuzzing).
pub fn decode_jsonl(
    line: &[u8],
    default_host: &str,
    now_ms: i64,
    ident: &Identifier,
) -> Result<RequestRecord, &'static str> {
    jsonl_record(line, default_host, now_ms, ident)
}

/// Decodes a whole HAR document into one result per entry, as `replay` does (for tools and
/// fuzzing).
pub fn decode_har(
    bytes: &[u8],
    default_host: &str,
    ident: &Identifier,
) -> Result<Vec<Result<RequestRecord, &'static str>>, serde_json::Error> {
    let har: Har = serde_json::from_slice(bytes)?;
    Ok(har
        .log
        .entries
        .iter()
        .map(|e| har_record(e, default_host, ident))
        .collect())
}

pub(crate) fn nonneg(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Splits an absolute URL into scheme, authority and target.
pub(crate) fn split_url(url: &str) -> Option<(Option<Scheme>, &str, &str)> {
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

/// Feeds a replay file into the pipeline; returns when everything was read. Every chunk
/// carries the position after its last record (a byte offset for line formats, an entry
/// count for HAR) under the recording's fingerprint, so a replay is checkpointed with the
/// spool like a tailed file and a rerun resumes after what was already delivered.
pub struct Replayer {
    pub name: Arc<str>,
    pub default_host: String,
    pub stats: Arc<SensorStats>,
    pub src: Arc<SourceStats>,
    pub out: mpsc::Sender<Chunk>,
    pub ident: Arc<Identifier>,
    /// The saved position of this source (from `positions.json` or the newest spooled batch).
    pub resume: Option<FilePosition>,
}

impl Replayer {
    fn send(
        &self,
        records: Vec<RequestRecord>,
        tally: &ChunkTally,
        position: FilePosition,
        record_ends: Vec<u64>,
    ) {
        self.stats.record(&self.src, tally);
        debug_assert_eq!(records.len(), record_ends.len());
        let _ = self.out.blocking_send(Chunk {
            can_wait: true,
            source: self.name.clone(),
            records,
            position: Some(position),
            record_ends,
        });
    }

    /// Reads the whole file (blocking), from where an earlier replay of the same recording
    /// stopped.
    pub fn run(&self, path: &Path, format: ReplayFormat) -> Result<(), ReplayError> {
        let shown = path.display().to_string();
        let read_err = |e| ReplayError::Read(shown.clone(), e);
        let mut file = std::fs::File::open(path).map_err(read_err)?;
        let id = recording::fingerprint(&file).map_err(read_err)?;
        let start = recording::start_at(&self.name, id, self.resume);
        file.seek(SeekFrom::Start(0)).map_err(read_err)?;
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
            return self.run_har(path, &shown, id, start);
        }
        reader.seek(SeekFrom::Start(start)).map_err(read_err)?;
        let mut offset = start;
        let at = |offset| FilePosition { inode: id, offset };
        let now = picket_runtime::now_ms();
        let ctx = nginx::LineContext {
            default_host: &self.default_host,
            now_ms: now,
            ident: &self.ident,
        };
        let mut records = Vec::new();
        let mut ends = Vec::new();
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
            offset += n as u64;
            if line.len() > MAX_REPLAY_LINE_BYTES && !line.ends_with(b"\n") {
                tally.reject("line_too_long");
                // Skip the rest of the over-long line.
                let mut sink = Vec::new();
                offset += reader
                    .read_until(b'\n', &mut sink)
                    .map_err(|e| ReplayError::Read(shown.clone(), e))?
                    as u64;
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
                    ends.push(offset);
                }
                Err(reason) => tally.reject(reason),
            }
            if records.len() >= MAX_CHUNK_RECORDS {
                let ends = std::mem::take(&mut ends);
                self.send(std::mem::take(&mut records), &tally, at(offset), ends);
                tally = ChunkTally::default();
            }
        }
        if offset > start {
            self.send(records, &tally, at(offset), ends);
        }
        Ok(())
    }

    /// HAR is one document: read whole, then its entries after the first `start`.
    fn run_har(&self, path: &Path, shown: &str, id: u64, start: u64) -> Result<(), ReplayError> {
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
        let skip = usize::try_from(start).unwrap_or(usize::MAX);
        let mut done = start;
        for entries in har
            .log
            .entries
            .get(skip..)
            .unwrap_or_default()
            .chunks(MAX_CHUNK_RECORDS)
        {
            let mut tally = ChunkTally::default();
            let mut records = Vec::with_capacity(entries.len());
            let mut ends = Vec::with_capacity(entries.len());
            for e in entries {
                done += 1;
                match har_record(e, &self.default_host, &self.ident) {
                    Ok(r) => {
                        tally.accept();
                        records.push(r);
                        ends.push(done);
                    }
                    Err(reason) => tally.reject(reason),
                }
            }
            let position = FilePosition {
                inode: id,
                offset: done,
            };
            self.send(records, &tally, position, ends);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_shared::sensitive::Sensitive;

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

    #[test]
    fn jsonl_bodies_headers_and_responses_are_judged() {
        let line = br#"{"ts_ms":1,"method":"POST","url":"https://shop.example/api/login","status":200,"client_port":51234,
            "headers":{"content-type":"application/json","referer":"https://x/?q=1' union select password from users--"},
            "request_body":"{\"user\":{\"$ne\":null},\"password\":{\"$gt\":\"\"}}",
            "response_headers":{"Content-Type":"application/json"},
            "response_body":"{\"email\":\"ann@example.com\",\"card\":\"4111 1111 1111 1111\"}"}"#;
        let r = jsonl_record(line, "d", 0, &ident()).unwrap();
        let rules: Vec<String> = r
            .injections
            .iter()
            .map(|f| format!("{}:{}", f.location.as_str(), f.hit.rule))
            .collect();
        assert!(
            rules.iter().any(|x| x.starts_with("body:nosqli")),
            "{rules:?}"
        );
        assert!(
            rules.iter().any(|x| x.starts_with("header:sqli")),
            "{rules:?}"
        );
        let names: Vec<&str> = r.body_params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let mut classes = r.response_sensitive.clone();
        classes.sort();
        assert_eq!(classes, vec![Sensitive::Email, Sensitive::PaymentCard]);
        // A benign exchange with bodies carries no finding.
        let benign = br#"{"ts_ms":1,"method":"POST","url":"https://shop.example/api/orders","headers":{"content-type":"application/json"},
            "request_body":"{\"sku\":\"AB-1\",\"qty\":2,\"note\":\"leave at the door, please\"}",
            "response_body":"{\"id\":42,\"status\":\"created\"}"}"#;
        let r = jsonl_record(benign, "d", 0, &ident()).unwrap();
        assert!(
            r.injections.is_empty() && r.response_sensitive.is_empty(),
            "{r:?}"
        );
        assert_eq!(r.body_params.len(), 3);
        // The request's media type travels as its label only.
        assert_eq!(r.content_type, Some("json"));
    }

    #[test]
    fn har_response_content_is_examined_unless_base64() {
        let har = r#"{"log":{"entries":[
            {"startedDateTime":"2026-11-21T10:00:00Z","time":1,
             "request":{"method":"POST","url":"https://a.example/search","headers":[{"name":"Content-Type","value":"application/x-www-form-urlencoded"}],
                        "postData":{"mimeType":"application/x-www-form-urlencoded","text":"q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"}},
             "response":{"status":200,"content":{"size":40,"mimeType":"text/html","text":"<p>ssn 123-45-6789</p>"}}},
            {"startedDateTime":"2026-11-21T10:00:00Z","time":1,
             "request":{"method":"GET","url":"https://a.example/x"},
             "response":{"status":200,"content":{"size":40,"mimeType":"text/plain","text":"amFuZUBleGFtcGxlLmNvbQ==","encoding":"base64"}}}
        ]}}"#;
        let h: Har = serde_json::from_str(har).unwrap();
        let r = har_record(&h.log.entries[0], "d", &ident()).unwrap();
        assert!(
            r.injections.iter().any(|f| f.hit.rule.starts_with("xss")),
            "{r:?}"
        );
        assert_eq!(r.response_sensitive, vec![Sensitive::UsSsn]);
        assert_eq!(r.content_type, Some("form"));
        let r = har_record(&h.log.entries[1], "d", &ident()).unwrap();
        assert!(r.response_sensitive.is_empty());
        assert_eq!(r.content_type, None, "no body, no media type");
    }
}
