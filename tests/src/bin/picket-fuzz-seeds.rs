//! `picket-fuzz-seeds DIR`: writes the seed corpora of the fuzz targets (`fuzz/`) into
//! `DIR/<target>/`, built from the repository's own test data: the bundled sample traffic
//! (as nginx JSON and combined lines, Picket JSON lines, HAR documents, Envoy ALS messages,
//! mirrored HTTP requests and sealed sensor batches), the classifier's payload corpora and the
//! OpenAPI fixtures. `fuzz/run.sh` runs it before fuzzing.

use picket_sensor::aggregate::{AggregateLimits, Aggregator};
use picket_sensor::identity::{Identifier, PrincipalKey};
use picket_sensor::sources::Chunk;
use picket_sensor::sources::als::wire;
use picket_sensor::sources::nginx::{LineContext, LogFormat, parse_line};
use prost::Message;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Sample lines taken per line-based target.
const LINES: usize = 200;
/// Payloads taken per classifier corpus file.
const PAYLOADS_PER_FILE: usize = 40;

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("usage: picket-fuzz-seeds DIR"))?,
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut lines = Vec::new();
    for f in ["sample-access.json", "sample-access-b.json"] {
        let text = std::fs::read_to_string(repo.join("tests/data").join(f))?;
        let all: Vec<&str> = text.lines().collect();
        let step = (all.len() / LINES).max(1);
        lines.extend(all.iter().step_by(step).map(|l| l.to_string()));
    }
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    let mut w = Writer { out, count: 0 };
    for (i, l) in lines.iter().enumerate() {
        w.put("nginx_json", i, l.as_bytes())?;
        w.put("json_line", i, l.as_bytes())?;
    }
    for (i, v) in parsed.iter().enumerate() {
        w.put("nginx_combined", i, combined(v).as_bytes())?;
        w.put("picket_jsonl", i, picket_jsonl(v).as_bytes())?;
        w.put("mirror_request", i, &mirrored(v, i))?;
    }
    for (i, group) in parsed.chunks(5).enumerate() {
        w.put("har", i, har(group).to_string().as_bytes())?;
        w.put("als_message", i, &als(group).encode_to_vec())?;
    }
    for (i, b) in batches(&lines).iter().enumerate() {
        w.put("batch_convert", i, b)?;
    }
    classifier_seeds(&repo, &mut w)?;
    openapi_seeds(&repo, &mut w)?;
    println!("wrote {} seeds", w.count);
    Ok(())
}

struct Writer {
    out: PathBuf,
    count: usize,
}

impl Writer {
    fn put(&mut self, target: &str, i: usize, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir)?;
        self.count += 1;
        std::fs::write(dir.join(format!("seed-{i:05}")), bytes)
    }
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}

fn ts_ms(v: &Value) -> i64 {
    picket_shared::time::parse_epoch_seconds_ms(field(v, "msec")).unwrap_or(0)
}

/// The line in nginx's `combined` format.
fn combined(v: &Value) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ms = ts_ms(v);
    let (y, m, d) = picket_shared::time::civil_from_days(ms.div_euclid(86_400_000));
    let secs = ms.rem_euclid(86_400_000) / 1000;
    format!(
        r#"{} - - [{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000] "{} {} HTTP/1.1" {} {} "-" "{}""#,
        field(v, "remote_addr"),
        MONTHS[(m as usize).saturating_sub(1) % 12],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        field(v, "request_method"),
        field(v, "request_uri"),
        field(v, "status"),
        field(v, "body_bytes_sent"),
        field(v, "http_user_agent"),
    )
}

fn url(v: &Value) -> String {
    let scheme = Some(field(v, "scheme"))
        .filter(|s| !s.is_empty())
        .unwrap_or("https");
    format!("{scheme}://{}{}", field(v, "host"), field(v, "request_uri"))
}

fn picket_jsonl(v: &Value) -> String {
    json!({
        "ts_ms": ts_ms(v),
        "method": field(v, "request_method"),
        "url": url(v),
        "status": field(v, "status").parse::<u16>().unwrap_or(0),
        "client_ip": field(v, "remote_addr"),
        "headers": {
            "user-agent": field(v, "http_user_agent"),
            "authorization": field(v, "http_authorization"),
            "content-type": "application/json",
        },
        "request_body": "{\"q\":\"1 OR 1=1\"}",
        "response_headers": {"content-type": "application/json"},
        "response_body": "{\"email\":\"a@example.com\"}",
    })
    .to_string()
}

/// The request as a gateway mirrors it, with a JSON body on every other one.
fn mirrored(v: &Value, i: usize) -> Vec<u8> {
    let body = if i.is_multiple_of(2) {
        r#"{"name":"x","note":"<script>alert(1)</script>"}"#
    } else {
        ""
    };
    let mut req = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nX-Real-IP: {}\r\nUser-Agent: {}\r\n",
        field(v, "request_method"),
        field(v, "request_uri"),
        field(v, "host"),
        field(v, "remote_addr"),
        field(v, "http_user_agent"),
    );
    let auth = field(v, "http_authorization");
    if !auth.is_empty() {
        req.push_str(&format!("Authorization: {auth}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    req.into_bytes()
}

fn har(group: &[Value]) -> Value {
    let entries: Vec<Value> = group
        .iter()
        .map(|v| {
            json!({
                "startedDateTime": picket_shared::time::format_rfc3339_ms(ts_ms(v)),
                "time": 12.5,
                "request": {
                    "method": field(v, "request_method"),
                    "url": url(v),
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "User-Agent", "value": field(v, "http_user_agent")}],
                    "queryString": [],
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "response": {
                    "status": field(v, "status").parse::<u16>().unwrap_or(0),
                    "content": {"size": 20, "mimeType": "application/json", "text": "{\"ok\":true}"},
                    "headers": [],
                    "bodySize": 20,
                },
            })
        })
        .collect();
    json!({"log": {"version": "1.2", "creator": {"name": "seed", "version": "1"}, "entries": entries}})
}

fn als(group: &[Value]) -> wire::StreamAccessLogsMessage {
    let entries = group
        .iter()
        .map(|v| {
            let ms = ts_ms(v);
            let method = match field(v, "request_method") {
                "GET" => 1,
                "HEAD" => 2,
                "POST" => 3,
                "PUT" => 4,
                "DELETE" => 5,
                "PATCH" => 9,
                _ => 0,
            };
            wire::HttpAccessLogEntry {
                common_properties: Some(wire::AccessLogCommon {
                    downstream_remote_address: Some(wire::Address {
                        address: Some(wire::AddressKind::SocketAddress(wire::SocketAddress {
                            address: field(v, "remote_addr").to_owned().into(),
                        })),
                    }),
                    start_time: Some(prost_types::Timestamp {
                        seconds: ms / 1000,
                        nanos: (ms % 1000) as i32 * 1_000_000,
                    }),
                    time_to_last_downstream_tx_byte: None,
                    duration: Some(prost_types::Duration {
                        seconds: 0,
                        nanos: 4_000_000,
                    }),
                }),
                request: Some(wire::HttpRequestProperties {
                    request_method: method,
                    scheme: "https".into(),
                    authority: field(v, "host").to_owned().into(),
                    path: field(v, "request_uri").to_owned().into(),
                    user_agent: field(v, "http_user_agent").to_owned().into(),
                    request_headers_bytes: 300,
                    request_headers: vec![wire::HeaderEntry {
                        key: "authorization".into(),
                        value: field(v, "http_authorization").to_owned().into(),
                    }],
                    ..Default::default()
                }),
                response: Some(wire::HttpResponseProperties {
                    response_code: Some(wire::UInt32Value {
                        value: field(v, "status").parse().unwrap_or(0),
                    }),
                    response_body_bytes: 120,
                }),
            }
        })
        .collect();
    wire::StreamAccessLogsMessage {
        log_entries: Some(wire::LogEntries::HttpLogs(wire::HttpAccessLogEntries {
            log_entry: entries,
        })),
    }
}

/// Sealed batches of the sample lines, encoded as the sensor sends them.
fn batches(lines: &[String]) -> Vec<Vec<u8>> {
    let ident = Identifier::new(PrincipalKey::from_bytes([7; 32]), Vec::new());
    let ctx = LineContext {
        default_host: "seed.example",
        now_ms: 0,
        ident: &ident,
    };
    let mut out = Vec::new();
    for (i, group) in lines.chunks(40).enumerate() {
        let records = group
            .iter()
            .filter_map(|l| parse_line(LogFormat::Json, l.as_bytes(), &ctx).ok())
            .collect();
        let mut chunk = Chunk {
            source: "seed".into(),
            records,
            position: None,
            record_ends: Vec::new(),
            can_wait: true,
        };
        let mut agg = Aggregator::new(AggregateLimits::default());
        agg.fill(&mut chunk);
        let sealed = agg.seal();
        let counters = picket_shared::SensorCounters::default();
        let b =
            picket_sensor::grpc::batch("seed-1", 1, i as u64 + 1, &sealed, &counters, "".into());
        out.push(b.encode_to_vec());
    }
    out
}

/// Payloads of the classifier corpora, each prefixed with the selector byte of where it sits
/// (see `fuzz/fuzz_targets/classifier.rs`).
fn classifier_seeds(repo: &Path, w: &mut Writer) -> anyhow::Result<()> {
    let mut files = Vec::new();
    collect(&repo.join("shared/testdata"), &mut files)?;
    files.sort();
    let mut i = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let jsonl = f.extension().is_some_and(|e| e == "jsonl");
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(PAYLOADS_PER_FILE)
        {
            let (selector, payload) = if jsonl {
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                let selector = match field(&v, "kind") {
                    "query" => 0u8,
                    "path" | "target" => 1,
                    "header" => 2,
                    _ => match field(&v, "content_type") {
                        t if t.contains("json") => 3 | (1 << 2),
                        t if t.contains("xml") => 3 | (3 << 2),
                        t if t.contains("form") => 3 | (2 << 2),
                        _ => 3,
                    },
                };
                (selector, field(&v, "text").to_owned())
            } else {
                (0u8, line.to_owned())
            };
            let mut bytes = vec![selector];
            bytes.extend_from_slice(payload.as_bytes());
            w.put("classifier", i, &bytes)?;
            i += 1;
        }
    }
    Ok(())
}

/// The OpenAPI fixtures, prefixed with their format's selector byte (0 YAML, 1 JSON).
fn openapi_seeds(repo: &Path, w: &mut Writer) -> anyhow::Result<()> {
    let mut files = Vec::new();
    collect(&repo.join("openapi/tests/data"), &mut files)?;
    collect(&repo.join("tests/data/openapi"), &mut files)?;
    files.sort();
    let mut i = 0;
    for f in files {
        let selector = match f.extension().and_then(|e| e.to_str()) {
            Some("json") => 1u8,
            Some("yaml" | "yml") => 0,
            _ => continue,
        };
        let body = std::fs::read(&f)?;
        if body.len() > 256 * 1024 {
            continue;
        }
        let mut bytes = vec![selector];
        bytes.extend_from_slice(&body);
        w.put("openapi_import", i, &bytes)?;
        i += 1;
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}
