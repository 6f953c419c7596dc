//! nginx access-log line parsers: the `combined` format and JSON `log_format`s keyed by
//! nginx's own variable names (see `deploy/nginx/picket.conf`).

use super::json_line;
use crate::identity::{Credentials, Identifier};
use crate::record::{self, RequestRecord, Scheme};
use picket_shared::time;
use serde::Deserialize;
use std::borrow::Cow;

/// Which line format a log file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Combined,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::Combined => "combined",
        }
    }
}

/// Why a line was rejected; the string is the counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Json,
    Combined,
    MissingField(&'static str),
    Timestamp,
    Method,
    Target,
    Utf8,
}

impl Reject {
    pub fn reason(self) -> &'static str {
        match self {
            Reject::Json => "malformed_json",
            Reject::Combined => "malformed_combined",
            Reject::MissingField(_) => "missing_field",
            Reject::Timestamp => "bad_timestamp",
            Reject::Method => "bad_method",
            Reject::Target => "bad_target",
            Reject::Utf8 => "not_utf8",
        }
    }
}

impl From<record::Invalid> for Reject {
    fn from(i: record::Invalid) -> Self {
        match i {
            record::Invalid::Method => Reject::Method,
            record::Invalid::Target => Reject::Target,
        }
    }
}

/// What a parser needs besides the line.
#[derive(Debug, Clone, Copy)]
pub struct LineContext<'a> {
    /// Host recorded when the line has none.
    pub default_host: &'a str,
    /// Stands in for a missing timestamp.
    pub now_ms: i64,
    pub ident: &'a Identifier,
}

/// Parses one line (without its newline) in `format`.
pub fn parse_line(
    format: LogFormat,
    line: &[u8],
    ctx: &LineContext<'_>,
) -> Result<RequestRecord, Reject> {
    match format {
        LogFormat::Json => parse_json(line, ctx),
        LogFormat::Combined => {
            let line = std::str::from_utf8(line).map_err(|_| Reject::Utf8)?;
            parse_combined(line, ctx)
        }
    }
}

/// A JSON scalar as nginx writes it: usually a string, sometimes an unquoted number.
#[derive(Debug, Default)]
struct Scalar<'a>(Option<Cow<'a, str>>);

impl Scalar<'_> {
    /// The value, treating nginx's empty-variable markers (`""`, `-`) as absent.
    fn get(&self) -> Option<&str> {
        self.0
            .as_deref()
            .map(trim)
            .filter(|v| !v.is_empty() && *v != "-")
    }
}

/// `str::trim`, skipped when both ends are printable ASCII (never whitespace): most values.
fn trim(v: &str) -> &str {
    let b = v.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => v,
        _ => v.trim(),
    }
}

/// Declares the nginx variables the sensor understands (every other key is ignored) and
/// how a member lands in them.
macro_rules! json_line {
    ($($field:ident),* $(,)?) => {
        /// Index of each known variable (in `JsonLine::fields` and the duplicate check).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum JsonLineField {
            $($field,)*
        }

        /// The known variables' names, by index.
        const JSON_LINE_NAMES: &[&str] = &[$(stringify!($field),)*];

        /// The nginx variables the sensor understands, from one JSON line.
        #[derive(Debug, Default)]
        struct JsonLine<'a> {
            fields: [Scalar<'a>; JSON_LINE_NAMES.len()],
        }

        impl<'a> JsonLine<'a> {
            $(
                fn $field(&self) -> &Scalar<'a> {
                    &self.fields[JsonLineField::$field as usize]
                }
            )*
        }
    };
}

/// Bit masks (bit `i` = known variable `i`) by name length and by first byte: a member's key
/// is compared with the one or two names that share both, not with every name.
const fn json_line_masks() -> ([u32; 32], [u32; 256]) {
    const { assert!(JSON_LINE_NAMES.len() <= 32) };
    let (mut by_len, mut by_first) = ([0u32; 32], [0u32; 256]);
    let mut i = 0;
    while i < JSON_LINE_NAMES.len() {
        let name = JSON_LINE_NAMES[i].as_bytes();
        assert!(name.len() < 32);
        by_len[name.len()] |= 1 << i;
        by_first[name[0] as usize] |= 1 << i;
        i += 1;
    }
    (by_len, by_first)
}

const JSON_LINE_MASKS: ([u32; 32], [u32; 256]) = json_line_masks();

/// The index of a known variable named `key`.
fn json_line_field(key: &str) -> Option<usize> {
    let b = key.as_bytes();
    let (&first, len) = (b.first()?, b.len());
    let mut candidates = JSON_LINE_MASKS.0.get(len)? & JSON_LINE_MASKS.1[usize::from(first)];
    while candidates != 0 {
        let i = candidates.trailing_zeros() as usize;
        if JSON_LINE_NAMES[i] == key {
            return Some(i);
        }
        candidates &= candidates - 1;
    }
    None
}

impl<'a> JsonLine<'a> {
    /// Reads `line`: one JSON object whose members named after a known variable hold a scalar
    /// (a known variable twice, or holding an object or array, makes the line malformed).
    fn parse(line: &'a [u8]) -> Result<Self, json_line::Malformed> {
        let mut j = JsonLine::default();
        let mut seen = 0u32;
        json_line::for_each_member(line, |key, value| {
            let Some(i) = json_line_field(&key) else {
                return Ok(());
            };
            if seen & (1 << i) != 0 {
                return Err(json_line::Malformed);
            }
            seen |= 1 << i;
            j.fields[i].0 = match value {
                json_line::Value::Scalar(v) => Some(v),
                json_line::Value::Null => None,
                json_line::Value::Nested => return Err(json_line::Malformed),
            };
            Ok(())
        })?;
        Ok(j)
    }
}

json_line!(
    remote_addr,
    time_iso8601,
    msec,
    time_local,
    host,
    http_host,
    server_name,
    scheme,
    request_method,
    request_uri,
    uri,
    request,
    status,
    body_bytes_sent,
    bytes_sent,
    request_length,
    request_time,
    http_authorization,
    http_x_api_key,
    remote_user,
    http_cookie,
    http_x_forwarded_for,
    http_user_agent,
);

fn parse_json(line: &[u8], ctx: &LineContext<'_>) -> Result<RequestRecord, Reject> {
    // serde would also accept a JSON array as a struct; a log line must be an object.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Reject::Json);
    }
    let j = JsonLine::parse(line).map_err(|_| Reject::Json)?;
    // `msec` has millisecond resolution; `time_iso8601` and `time_local` only seconds.
    let ts_ms = if let Some(t) = j.msec().get() {
        time::parse_epoch_seconds_ms(t).ok_or(Reject::Timestamp)?
    } else if let Some(t) = j.time_iso8601().get() {
        time::parse_rfc3339_ms(t).ok_or(Reject::Timestamp)?
    } else if let Some(t) = j.time_local().get() {
        time::parse_clf_ms(t).ok_or(Reject::Timestamp)?
    } else {
        ctx.now_ms
    };
    // `$request` ("GET /x HTTP/1.1") stands in when method or URI are not logged separately.
    let request_line = j.request().get().map(split_request_line);
    let method = j
        .request_method()
        .get()
        .or(request_line.and_then(|r| r.0))
        .ok_or(Reject::MissingField("request_method"))?;
    let target = j
        .request_uri()
        .get()
        .or(request_line.and_then(|r| r.1))
        .or(j.uri().get())
        .ok_or(Reject::MissingField("request_uri"))?;
    let scheme = match j.scheme().get() {
        Some("https") => Some(Scheme::Https),
        Some("http") => Some(Scheme::Http),
        _ => None,
    };
    let host = j
        .host()
        .get()
        .or(j.http_host().get())
        .or(j.server_name().get())
        .unwrap_or("");
    let mut rec = RequestRecord {
        ts_ms,
        method: record::normalize_method(method)?,
        host: record::normalize_host(host, scheme, ctx.default_host),
        target: record::normalize_target(target)?.to_owned(),
        status: j.status().get().and_then(|s| s.parse().ok()).unwrap_or(0),
        request_bytes: parse_u64(j.request_length().get()),
        response_bytes: parse_u64(j.body_bytes_sent().get().or(j.bytes_sent().get())),
        latency_us: parse_seconds_us(j.request_time().get()),
        scheme,
        ..Default::default()
    };
    ctx.ident.apply(
        &mut rec,
        Credentials {
            authorization: j.http_authorization().get(),
            api_key: j.http_x_api_key().get(),
            cookie: j.http_cookie().get().is_some(),
            user: j.remote_user().get(),
            peer: j.remote_addr().get().and_then(record::parse_ip),
            forwarded_for: j.http_x_forwarded_for().get(),
            user_agent: j.http_user_agent().get(),
        },
    );
    Ok(rec)
}

fn parse_u64(v: Option<&str>) -> u64 {
    v.and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// nginx logs durations as seconds with millisecond resolution (`0.012`).
fn parse_seconds_us(v: Option<&str>) -> u64 {
    v.and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(0, |s| (s * 1_000_000.0).round() as u64)
}

/// Splits `GET /path HTTP/1.1` into method and target.
fn split_request_line(line: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    (parts.next(), parts.next())
}

/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
/// "$http_referer" "$http_user_agent"` (extra trailing fields are ignored).
fn parse_combined(line: &str, ctx: &LineContext<'_>) -> Result<RequestRecord, Reject> {
    let (remote, rest) = line.split_once(' ').ok_or(Reject::Combined)?;
    let (_ident, rest) = rest.split_once(' ').ok_or(Reject::Combined)?;
    let (user, rest) = rest.split_once(" [").ok_or(Reject::Combined)?;
    let (time_local, rest) = rest.split_once("] \"").ok_or(Reject::Combined)?;
    let (request, rest) = split_quoted(rest).ok_or(Reject::Combined)?;
    let mut fields = rest.split_ascii_whitespace();
    let status = fields.next().ok_or(Reject::Combined)?;
    let bytes = fields.next().ok_or(Reject::Combined)?;
    let ts_ms = time::parse_clf_ms(time_local).ok_or(Reject::Timestamp)?;
    let (method, target) = split_request_line(request);
    let mut rec = RequestRecord {
        ts_ms,
        method: record::normalize_method(method.ok_or(Reject::MissingField("request"))?)?,
        host: ctx.default_host.to_owned(),
        target: record::normalize_target(target.ok_or(Reject::MissingField("request"))?)?
            .to_owned(),
        status: status.parse().map_err(|_| Reject::Combined)?,
        request_bytes: 0,
        response_bytes: bytes.parse().unwrap_or(0),
        latency_us: 0,
        ..Default::default()
    };
    // `"$http_referer" "$http_user_agent"` follow status and size.
    let tail = rest.trim_start();
    let tail = tail.split_once(' ').map_or("", |(_, t)| t).trim_start();
    let tail = tail.split_once(' ').map_or("", |(_, t)| t).trim_start();
    let user_agent = tail
        .strip_prefix('"')
        .and_then(split_quoted)
        .and_then(|(_, after)| after.strip_prefix('"'))
        .and_then(split_quoted)
        .map(|(ua, _)| ua);
    let creds = Credentials {
        user: Some(user),
        peer: record::parse_ip(remote),
        user_agent,
        ..Default::default()
    };
    ctx.ident.apply(&mut rec, creds);
    Ok(rec)
}

/// Splits at the closing quote of a quoted field, honouring nginx's `\"` escapes.
fn split_quoted(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((&s[..i], s[i + 1..].trim_start())),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn ident() -> Identifier {
        Identifier::new(
            crate::identity::PrincipalKey::from_bytes([3; 32]),
            Vec::new(),
        )
    }

    fn ctx<'a>(host: &'a str, ident: &'a Identifier) -> LineContext<'a> {
        LineContext {
            default_host: host,
            now_ms: NOW,
            ident,
        }
    }

    fn json(line: &str) -> Result<RequestRecord, Reject> {
        parse_line(LogFormat::Json, line.as_bytes(), &ctx("default", &ident()))
    }

    #[test]
    fn json_with_nginx_names() {
        let r = json(
            r#"{"remote_addr":"203.0.113.9","time_iso8601":"2024-01-31T10:00:00+00:00","host":"API.example.com","request_method":"get","request_uri":"/users/42?x=1","status":"200","body_bytes_sent":"512","request_length":"120","request_time":"0.012","http_user_agent":"curl/8","http_authorization":"Bearer abc","extra":{"nested":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(r.ts_ms, 1_706_695_200_000);
        assert_eq!(
            (r.method.as_str(), r.host.as_str()),
            ("GET", "api.example.com")
        );
        assert_eq!(r.target, "/users/42?x=1");
        assert_eq!(
            (r.status, r.response_bytes, r.request_bytes),
            (200, 512, 120)
        );
        assert_eq!(r.latency_us, 12_000);
        assert!(r.auth_present);
        assert_eq!(r.client_ip, "203.0.113.9".parse().ok());
    }

    #[test]
    fn json_tolerates_numbers_missing_fields_and_msec() {
        let r =
            json(r#"{"msec":"1706695200.5","request":"POST /a/b HTTP/1.1","status":201}"#).unwrap();
        assert_eq!(r.ts_ms, 1_706_695_200_500);
        assert_eq!(
            (r.method.as_str(), r.target.as_str(), r.status),
            ("POST", "/a/b", 201)
        );
        assert_eq!(r.host, "default");
        assert_eq!(r.client_ip, None);
        assert!(!r.auth_present);
        let r = json(r#"{"request_method":"GET","request_uri":"/","http_authorization":"-"}"#);
        assert_eq!(r.map(|r| (r.ts_ms, r.auth_present)), Ok((NOW, false)));
    }

    #[test]
    fn json_rejections() {
        assert_eq!(json("not json").err(), Some(Reject::Json));
        assert_eq!(
            json(r#"{"request_method":"GET"}"#).err(),
            Some(Reject::MissingField("request_uri"))
        );
        assert_eq!(
            json(r#"{"request_method":"GET","request_uri":"/","time_iso8601":"yesterday"}"#).err(),
            Some(Reject::Timestamp)
        );
        assert_eq!(
            json(r#"{"request_method":"G T","request_uri":"/"}"#).err(),
            Some(Reject::Method)
        );
        assert_eq!(json(r#"[1,2]"#).err(), Some(Reject::Json));
        // As serde's derived reader had it: a known variable twice, or holding an object,
        // makes the line malformed; unknown keys may repeat and hold anything.
        let dup = r#"{"request_method":"GET","request_uri":"/","status":"200","status":"201"}"#;
        assert_eq!(json(dup).err(), Some(Reject::Json));
        let nested = r#"{"request_method":"GET","request_uri":{"a":1}}"#;
        assert_eq!(json(nested).err(), Some(Reject::Json));
        let unknown = r#"{"x":[1],"x":{"y":null},"request_method":"GET","request_uri":"/a\u0062"}"#;
        assert_eq!(json(unknown).map(|r| r.target), Ok("/ab".to_owned()));
        assert_eq!(
            json(r#"{"request_method":"GET","request_uri":"/x\x41"}"#).err(),
            Some(Reject::Json)
        );
    }

    #[test]
    fn combined() {
        let line = r#"203.0.113.9 - alice [31/Jan/2024:10:00:00 +0000] "GET /orders/7?full=1 HTTP/1.1" 404 153 "-" "Mozilla/5.0 \"x\"""#;
        let r = parse_line(LogFormat::Combined, line.as_bytes(), &ctx("shop", &ident())).unwrap();
        assert_eq!(r.ts_ms, 1_706_695_200_000);
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("GET", "/orders/7?full=1")
        );
        assert_eq!(
            (r.status, r.response_bytes, r.host.as_str()),
            (404, 153, "shop")
        );
        assert!(r.auth_present);
        assert_eq!(r.agent, None);
        let scan = r#"6.6.6.6 - - [31/Jan/2024:10:00:00 +0000] "GET /admin HTTP/1.1" 404 9 "-" "sqlmap/1.7 (https://sqlmap.org)""#;
        let r = parse_line(LogFormat::Combined, scan.as_bytes(), &ctx("shop", &ident())).unwrap();
        assert_eq!(r.agent, Some("scanner:sqlmap"));
        let bad = parse_line(LogFormat::Combined, b"garbage line", &ctx("shop", &ident()));
        assert_eq!(bad.err(), Some(Reject::Combined));
        let tls_junk = r#"1.2.3.4 - - [31/Jan/2024:10:00:00 +0000] "\x16\x03\x01" 400 0 "-" "-""#;
        let r = parse_line(
            LogFormat::Combined,
            tls_junk.as_bytes(),
            &ctx("shop", &ident()),
        );
        assert_eq!(r.err(), Some(Reject::Method));
    }
}
