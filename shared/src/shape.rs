//! Value shapes: what a parameter value looks like, without the value. A sensor reports the
//! shape of every query, path and body parameter; the value itself never leaves it.

use crate::template::{is_date, is_email, is_uuid};
use serde::{Deserialize, Serialize};

/// The shape of one parameter value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Empty,
    Bool,
    Int,
    Float,
    Uuid,
    Email,
    Date,
    Hex,
    Base64,
    /// Free text up to 16 bytes.
    TextShort,
    /// Free text up to 256 bytes.
    TextMedium,
    /// Longer free text.
    TextLong,
}

impl Shape {
    pub const ALL: [Shape; 12] = [
        Shape::Empty,
        Shape::Bool,
        Shape::Int,
        Shape::Float,
        Shape::Uuid,
        Shape::Email,
        Shape::Date,
        Shape::Hex,
        Shape::Base64,
        Shape::TextShort,
        Shape::TextMedium,
        Shape::TextLong,
    ];

    /// The shape named `s` (as written by [`Shape::as_str`]).
    pub fn parse(s: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Empty => "empty",
            Shape::Bool => "bool",
            Shape::Int => "int",
            Shape::Float => "float",
            Shape::Uuid => "uuid",
            Shape::Email => "email",
            Shape::Date => "date",
            Shape::Hex => "hex",
            Shape::Base64 => "base64",
            Shape::TextShort => "text_short",
            Shape::TextMedium => "text_medium",
            Shape::TextLong => "text_long",
        }
    }
}

fn is_int(b: &[u8]) -> bool {
    let digits = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    !digits.is_empty() && digits.len() <= 20 && digits.iter().all(u8::is_ascii_digit)
}

fn is_float(s: &str) -> bool {
    s.len() <= 32
        && s.bytes().any(|c| c == b'.' || c == b'e' || c == b'E')
        && s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The shape of a (decoded) value.
pub fn shape_of(v: &str) -> Shape {
    let b = v.as_bytes();
    if b.is_empty() {
        return Shape::Empty;
    }
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        return Shape::Bool;
    }
    if is_int(b) {
        return Shape::Int;
    }
    if is_float(v) {
        return Shape::Float;
    }
    if is_uuid(b) {
        return Shape::Uuid;
    }
    if is_date(b) {
        return Shape::Date;
    }
    if is_email(v) && !v.contains(char::is_whitespace) {
        return Shape::Email;
    }
    let digits = b.iter().any(u8::is_ascii_digit);
    if b.len() >= 8 && digits && b.iter().all(u8::is_ascii_hexdigit) {
        return Shape::Hex;
    }
    let body = b
        .strip_suffix(b"==")
        .or_else(|| b.strip_suffix(b"="))
        .unwrap_or(b);
    let b64 = body
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_'));
    if b.len() >= 16
        && b64
        && digits
        && body.iter().any(u8::is_ascii_uppercase)
        && body.iter().any(u8::is_ascii_lowercase)
    {
        return Shape::Base64;
    }
    match b.len() {
        0..=16 => Shape::TextShort,
        17..=256 => Shape::TextMedium,
        _ => Shape::TextLong,
    }
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`), replacing invalid UTF-8.
pub fn percent_decode(raw: &str, plus_is_space: bool) -> String {
    percent_decoded(raw, plus_is_space).into_owned()
}

/// [`percent_decode`] that borrows `raw` when there is nothing to decode (the common case).
pub fn percent_decoded(raw: &str, plus_is_space: bool) -> std::borrow::Cow<'_, str> {
    let b = raw.as_bytes();
    if !b
        .iter()
        .any(|c| *c == b'%' || (plus_is_space && *c == b'+'))
    {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shapes() {
        let check = |v: &str, s: Shape| assert_eq!(shape_of(v), s, "{v:?}");
        check("", Shape::Empty);
        check("TRUE", Shape::Bool);
        check("-42", Shape::Int);
        check("3.25", Shape::Float);
        check("1e5", Shape::Float);
        check("550e8400-e29b-41d4-a716-446655440000", Shape::Uuid);
        check("a.b@example.com", Shape::Email);
        check("2026-11-21", Shape::Date);
        check("deadbeef01", Shape::Hex);
        check("eyJhbGciOiJIUzI1NiJ9abc", Shape::Base64);
        check("blue shoes", Shape::TextShort);
        check(&"x".repeat(100), Shape::TextMedium);
        check(&"x ".repeat(200), Shape::TextLong);
        check("nan", Shape::TextShort);
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%C3%A9", false), "é");
    }

    proptest! {
        #[test]
        fn never_panics(v in "\\PC{0,300}") {
            let _ = shape_of(&v);
            let _ = percent_decode(&v, true);
        }
    }
}
