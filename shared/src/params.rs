//! Parameter extraction: query names, form fields and flattened JSON body fields, each with the
//! shape of its value. Bounded (names, count, nesting) and total on hostile input.

use crate::sensitive::{Sensitive, classify};
use crate::shape::{Shape, percent_decoded, shape_of};
use std::borrow::Cow;

/// One parameter: its name, the shape of its value, and the sensitive-data class the value
/// belongs to, if any. The value itself is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub shape: Shape,
    pub sensitive: Option<Sensitive>,
}

impl Param {
    fn of(name: String, value: &str) -> Param {
        Param {
            name,
            shape: shape_of(value),
            sensitive: classify(value),
        }
    }
}

/// Most parameters taken from one request part.
pub const MAX_PARAMS: usize = 64;
/// Longest parameter name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Deepest JSON nesting flattened into names.
pub const MAX_DEPTH: usize = 8;

/// A name that is really a value (an id, email, token or free text used as a key) becomes
/// `{id}`: names leave the sensor, values never do.
fn name_of(raw: &str) -> String {
    if crate::template::is_identifier(raw) {
        crate::template::PARAM.to_owned()
    } else {
        clip(raw.to_owned())
    }
}

fn clip(mut name: String) -> String {
    if name.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name.retain(|c| !c.is_control());
    name
}

/// [`name_of`] without allocating when the name is kept as it is (the common case).
fn name_of_cow(raw: Cow<'_, str>) -> Cow<'_, str> {
    if crate::template::is_identifier(&raw) {
        return Cow::Borrowed(crate::template::PARAM);
    }
    let controls = if raw.is_ascii() {
        raw.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        raw.chars().any(char::is_control)
    };
    if raw.len() <= MAX_NAME_BYTES && !controls {
        return raw;
    }
    Cow::Owned(clip(raw.into_owned()))
}

/// Calls `f(name, shape, sensitive)` for each `a=1&b=x` pair (query strings and form bodies),
/// names decoded, values shaped; the same pairs as [`urlencoded`], without collecting them.
pub fn for_each_urlencoded(raw: &str, mut f: impl FnMut(&str, Shape, Option<Sensitive>)) {
    for kv in raw.split('&').filter(|kv| !kv.is_empty()).take(MAX_PARAMS) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let name = name_of_cow(percent_decoded(k, true));
        if name.is_empty() {
            continue;
        }
        let value = percent_decoded(v, true);
        f(&name, shape_of(&value), classify(&value));
    }
}

/// `a=1&b=x` pairs (query strings and form bodies): names decoded, values shaped.
pub fn urlencoded(raw: &str) -> Vec<Param> {
    let mut out = Vec::new();
    for_each_urlencoded(raw, |name, shape, sensitive| {
        out.push(Param {
            name: name.to_owned(),
            shape,
            sensitive,
        });
    });
    out
}

/// The query string of a request target, if it has one.
pub fn query_string(target: &str) -> Option<&str> {
    // `?` and `#` are ASCII, so the cuts fall on character boundaries.
    let b = target.as_bytes();
    let q = b.iter().position(|c| *c == b'?' || *c == b'#')?;
    if b[q] == b'#' {
        return None;
    }
    let end = b[q..]
        .iter()
        .position(|c| *c == b'#')
        .map_or(b.len(), |e| q + e);
    Some(&target[q + 1..end])
}

/// The query parameters of a request target.
pub fn query(target: &str) -> Vec<Param> {
    query_string(target).map(urlencoded).unwrap_or_default()
}

/// Flattened fields of a JSON body: `{"a":{"b":1},"items":[{"sku":"x"}]}` gives `a.b` (int) and
/// `items[].sku` (text). Not JSON (or too deep for the parser) gives nothing.
pub fn json_body(body: &[u8]) -> Vec<Param> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    flatten(&v, String::new(), 0, &mut out);
    out
}

fn flatten(v: &serde_json::Value, name: String, depth: usize, out: &mut Vec<Param>) {
    use serde_json::Value;
    if out.len() >= MAX_PARAMS {
        return;
    }
    match v {
        Value::Object(map) if depth < MAX_DEPTH => {
            for (k, child) in map {
                let k = name_of(k);
                let n = if name.is_empty() {
                    k
                } else {
                    format!("{name}.{k}")
                };
                flatten(child, clip(n), depth + 1, out);
            }
        }
        Value::Array(items) if depth < MAX_DEPTH => {
            // Every element shares one name: `items[]`.
            for child in items.iter().take(MAX_PARAMS) {
                flatten(child, clip(format!("{name}[]")), depth + 1, out);
            }
        }
        _ if name.is_empty() => {}
        Value::Null => out.push(Param {
            name,
            shape: Shape::Empty,
            sensitive: None,
        }),
        Value::Bool(_) => out.push(Param {
            name,
            shape: Shape::Bool,
            sensitive: None,
        }),
        Value::Number(n) => {
            let shape = if n.is_f64() { Shape::Float } else { Shape::Int };
            // Card numbers and the like also travel as JSON numbers.
            out.push(Param {
                name,
                shape,
                sensitive: classify(&n.to_string()),
            });
        }
        Value::String(s) => out.push(Param::of(name, s)),
        // Deeper than MAX_DEPTH: the subtree counts as one opaque value.
        Value::Object(_) | Value::Array(_) => out.push(Param {
            name,
            shape: Shape::TextLong,
            sensitive: None,
        }),
    }
}

/// Parameters of a body by its content type (JSON or form); other types give nothing.
pub fn body(content_type: Option<&str>, body: &[u8]) -> Vec<Param> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("json") {
        json_body(body)
    } else if ct.contains("x-www-form-urlencoded") {
        urlencoded(&String::from_utf8_lossy(body))
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(v: Vec<Param>) -> Vec<(String, Shape)> {
        v.into_iter().map(|p| (p.name, p.shape)).collect()
    }

    #[test]
    fn query_form_and_json() {
        assert_eq!(
            pairs(query(
                "/s?q=blue+shoes&page=2&flag&email=a%40b.example#frag"
            )),
            vec![
                ("q".into(), Shape::TextShort),
                ("page".into(), Shape::Int),
                ("flag".into(), Shape::Empty),
                ("email".into(), Shape::Email),
            ]
        );
        assert!(query("/no-query").is_empty());
        assert_eq!(query_string("/a?b=1#c?d"), Some("b=1"));
        assert_eq!(query_string("/a#c?d"), None);
        assert_eq!(query_string("/a?"), Some(""));
        // Names that are values stay behind.
        assert_eq!(query("/x?jane.doe@example.com&tok=1")[0].name, "{id}");
        assert_eq!(
            json_body(br#"{"4539578763621486":{"n":1}}"#)[0].name,
            "{id}.n"
        );
        let j = pairs(json_body(br#"{"user":{"id":7,"admin":true},"items":[{"sku":"A-1"},{"sku":"B-2","qty":1.5}],"note":null}"#));
        assert_eq!(
            j,
            vec![
                ("items[].sku".into(), Shape::TextShort),
                ("items[].qty".into(), Shape::Float),
                ("items[].sku".into(), Shape::TextShort),
                ("note".into(), Shape::Empty),
                ("user.admin".into(), Shape::Bool),
                ("user.id".into(), Shape::Int),
            ]
        );
        assert!(json_body(b"not json").is_empty());
        let q = query("/pay?card=4111111111111111&mail=a%40b.example&n=3");
        let classes: Vec<_> = q.iter().map(|p| p.sensitive).collect();
        assert_eq!(
            classes,
            vec![Some(Sensitive::PaymentCard), Some(Sensitive::Email), None]
        );
        assert_eq!(
            json_body(br#"{"cc":4111111111111111}"#)[0].sensitive,
            Some(Sensitive::PaymentCard)
        );
        assert_eq!(
            body(Some("application/x-www-form-urlencoded"), b"a=1&b=").len(),
            2
        );
        assert!(body(Some("text/plain"), b"a=1").is_empty());
    }

    #[test]
    fn hostile_bodies_are_bounded() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(json_body(deep.as_bytes()).len() <= 1);
        let wide = format!(
            "{{{}}}",
            (0..1000)
                .map(|i| format!("\"k{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(json_body(wide.as_bytes()).len(), MAX_PARAMS);
        let long_name = format!("{}=1", "n".repeat(10_000));
        assert_eq!(urlencoded(&long_name)[0].name.len(), MAX_NAME_BYTES);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,400}") {
            let _ = query(&s);
            let _ = json_body(s.as_bytes());
            prop_assert!(urlencoded(&s).len() <= MAX_PARAMS);
        }
    }
}
