//! Sensitive-data classes in values the sensor sees (path segments, query and form values,
//! JSON strings): the class names travel, the matched data never does.

use serde::{Deserialize, Serialize};

/// A class of sensitive data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitive {
    Email,
    PaymentCard,
    UsSsn,
    Iban,
    Phone,
    Jwt,
    CloudKey,
    ApiSecret,
    PrivateKey,
}

impl Sensitive {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitive::Email => "email",
            Sensitive::PaymentCard => "payment_card",
            Sensitive::UsSsn => "us_ssn",
            Sensitive::Iban => "iban",
            Sensitive::Phone => "phone",
            Sensitive::Jwt => "jwt",
            Sensitive::CloudKey => "cloud_key",
            Sensitive::ApiSecret => "api_secret",
            Sensitive::PrivateKey => "private_key",
        }
    }
}

/// Longest value examined, in bytes (longer values are examined up to this length).
pub const MAX_VALUE_BYTES: usize = 4096;

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A 13–19 digit run (spaces and dashes allowed between digits) passing the Luhn check.
fn is_card(v: &str) -> bool {
    let digits: Vec<u8> = v.bytes().filter(u8::is_ascii_digit).collect();
    let only = v
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-');
    only && (13..=19).contains(&digits.len()) && matches!(digits[0], b'2'..=b'6') && luhn(&digits)
}

fn is_ssn(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 11 || b[3] != b'-' || b[6] != b'-' {
        return false;
    }
    let digits = [&b[0..3], &b[4..6], &b[7..11]];
    if !digits.iter().all(|p| p.iter().all(u8::is_ascii_digit)) {
        return false;
    }
    // Never-issued ranges: 000, 666, 9xx areas; 00 groups; 0000 serials.
    b[0..3] != *b"000"
        && b[0..3] != *b"666"
        && b[0] != b'9'
        && b[4..6] != *b"00"
        && b[7..11] != *b"0000"
}

/// IBAN: country code, two check digits, 11–30 alphanumerics, mod-97 == 1.
fn is_iban(v: &str) -> bool {
    let s: String = v.chars().filter(|c| *c != ' ').collect();
    let b = s.as_bytes();
    if !(15..=34).contains(&b.len()) || !b[0].is_ascii_uppercase() || !b[1].is_ascii_uppercase() {
        return false;
    }
    if !b[2].is_ascii_digit() || !b[3].is_ascii_digit() || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let mut rem = 0u32;
    for c in b[4..].iter().chain(&b[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c.to_ascii_uppercase() - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// E.164-like phone numbers: `+` then 8–15 digits (separators allowed).
fn is_phone(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('+') else {
        return false;
    };
    let digits = rest.bytes().filter(u8::is_ascii_digit).count();
    rest.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'(' | b')' | b'.'))
        && (8..=15).contains(&digits)
}

fn is_jwt(v: &str) -> bool {
    let mut parts = v.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    h.starts_with("eyJ")
        && p.starts_with("eyJ")
        && [h, p, s].iter().all(|x| {
            x.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'=')
        })
}

fn alnum_run(s: &str, len: usize) -> bool {
    s.len() >= len && s.bytes().take(len).all(|c| c.is_ascii_alphanumeric())
}

/// Cloud access keys and well-known API secret formats.
fn key_class(v: &str) -> Option<Sensitive> {
    // AWS access key ids.
    for p in ["AKIA", "ASIA"] {
        if let Some(rest) = v.strip_prefix(p)
            && rest.len() == 16
            && rest
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Some(Sensitive::CloudKey);
        }
    }
    // Google API keys.
    if let Some(rest) = v.strip_prefix("AIza")
        && rest.len() == 35
    {
        return Some(Sensitive::CloudKey);
    }
    // GitHub, Slack, Stripe and similar prefixed secrets.
    for p in [
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "sk_live_",
        "rk_live_",
        "sk-",
    ] {
        if let Some(rest) = v.strip_prefix(p)
            && alnum_run(rest, 20)
        {
            return Some(Sensitive::ApiSecret);
        }
    }
    None
}

/// The sensitive class of one value, if any.
pub fn classify(value: &str) -> Option<Sensitive> {
    let v = value
        .get(..MAX_VALUE_BYTES.min(value.len()))
        .unwrap_or(value)
        .trim();
    if v.len() < 6 {
        return None;
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some(Sensitive::PrivateKey);
    }
    if let Some(k) = key_class(v) {
        return Some(k);
    }
    if is_jwt(v) {
        return Some(Sensitive::Jwt);
    }
    if crate::template::is_email(v) && !v.contains(char::is_whitespace) && v.len() <= 254 {
        return Some(Sensitive::Email);
    }
    if is_card(v) {
        return Some(Sensitive::PaymentCard);
    }
    if is_ssn(v) {
        return Some(Sensitive::UsSsn);
    }
    if is_iban(v) {
        return Some(Sensitive::Iban);
    }
    if is_phone(v) {
        return Some(Sensitive::Phone);
    }
    None
}

/// Values of one body examined for sensitive data (JSON leaves or text tokens); the rest of
/// a larger body is not examined.
pub const MAX_BODY_VALUES: usize = 4_096;

/// The distinct sensitive classes in a body (a response's, typically), in order of first
/// appearance (JSON object members in key order). JSON bodies are walked leaf by leaf (strings and numbers); other text is cut
/// into tokens at whitespace, quotes, brackets and separators, and PEM blocks are looked for
/// whole. At most [`MAX_BODY_VALUES`] values are examined. Only class names come out.
pub fn classes_in_body(content_type: Option<&str>, body: &[u8]) -> Vec<Sensitive> {
    let mut found = Vec::new();
    let mut note = |c: Option<Sensitive>| {
        if let Some(c) = c
            && !found.contains(&c)
        {
            found.push(c);
        }
    };
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let looks_json = matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    );
    if (ct.contains("json") || looks_json)
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
    {
        let mut budget = MAX_BODY_VALUES;
        json_leaves(&v, 0, &mut budget, &mut |leaf| note(classify(leaf)));
        return found;
    }
    let text = String::from_utf8_lossy(body);
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        note(Some(Sensitive::PrivateKey));
    }
    let separators = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '<' | '>' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | ';' | '=' | '|'
            )
    };
    for token in text
        .split(separators)
        .filter(|t| t.len() >= 6)
        .take(MAX_BODY_VALUES)
    {
        // Sentence punctuation is not part of an address or a number.
        note(classify(token.trim_end_matches(['.', ':', '!', '?'])));
    }
    found
}

/// Calls `f` with every string and number leaf of `v`, depth-first, within `budget` leaves
/// and a nesting depth of 64.
fn json_leaves(v: &serde_json::Value, depth: usize, budget: &mut usize, f: &mut dyn FnMut(&str)) {
    use serde_json::Value;
    if *budget == 0 || depth > 64 {
        return;
    }
    match v {
        Value::String(s) => {
            *budget -= 1;
            f(s);
        }
        Value::Number(n) => {
            *budget -= 1;
            f(&n.to_string());
        }
        Value::Array(items) => {
            for item in items {
                json_leaves(item, depth + 1, budget, f);
            }
        }
        Value::Object(map) => {
            for item in map.values() {
                json_leaves(item, depth + 1, budget, f);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classes_in_response_bodies() {
        let json = br#"{"users":[{"name":"Ann","email":"ann@example.com","card":4111111111111111},
            {"name":"Bob","email":"bob@example.com","ssn":"123-45-6789"}],"total":2}"#;
        // Object members are visited in key order (`card` before `email`).
        assert_eq!(
            classes_in_body(Some("application/json"), json),
            vec![Sensitive::PaymentCard, Sensitive::Email, Sensitive::UsSsn]
        );
        // Without a content type, a body that looks like JSON is read as JSON.
        assert_eq!(classes_in_body(None, json).len(), 3);
        let html = b"<p>Contact: jane.doe@example.com.</p><p>Key: AKIAIOSFODNN7EXAMPLE</p>";
        assert_eq!(
            classes_in_body(Some("text/html"), html),
            vec![Sensitive::Email, Sensitive::CloudKey]
        );
        let pem = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        assert_eq!(
            classes_in_body(Some("text/plain"), pem),
            vec![Sensitive::PrivateKey]
        );
        // Ordinary API answers carry nothing sensitive.
        for benign in [
            &br#"{"id":42,"status":"shipped","items":[{"sku":"AB-1234","qty":2}],"total":59.90}"#[..],
            b"<html><body><h1>Order 12345 shipped on 2026-11-21</h1></body></html>",
            b"OK",
            b"",
        ] {
            assert!(
                classes_in_body(None, benign).is_empty(),
                "{}",
                String::from_utf8_lossy(benign)
            );
        }
    }

    #[test]
    fn body_scan_is_bounded() {
        let many: Vec<String> = (0..(MAX_BODY_VALUES + 10))
            .map(|i| format!("\"v{i}\""))
            .collect();
        let mut body = format!("[{}", many.join(","));
        body.push_str(",\"ann@example.com\"]");
        // The email lies beyond the budget: not examined.
        assert!(classes_in_body(Some("application/json"), body.as_bytes()).is_empty());
    }

    fn check(v: &str, want: Option<Sensitive>) {
        assert_eq!(classify(v), want, "{v:?}");
    }

    #[test]
    fn classes() {
        check("jane.doe@example.com", Some(Sensitive::Email));
        check("4111 1111 1111 1111", Some(Sensitive::PaymentCard));
        check("4111111111111112", None);
        check("5500-0000-0000-0004", Some(Sensitive::PaymentCard));
        check("123-45-6789", Some(Sensitive::UsSsn));
        check("666-45-6789", None);
        check("DE89 3704 0044 0532 0130 00", Some(Sensitive::Iban));
        check("DE89370400440532013001", None);
        check("+1 (415) 555-2671", Some(Sensitive::Phone));
        check(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_part-1",
            Some(Sensitive::Jwt),
        );
        check("AKIAIOSFODNN7EXAMPLE", Some(Sensitive::CloudKey));
        check(
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            Some(Sensitive::ApiSecret),
        );
        check(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE...",
            Some(Sensitive::PrivateKey),
        );
        for benign in [
            "blue shoes",
            "2026-11-21",
            "order-12345",
            "1234567890123",
            "hello world",
            "v1.2.3",
        ] {
            check(benign, None);
        }
    }

    proptest! {
        #[test]
        fn never_panics(v in "\\PC{0,200}") {
            let _ = classify(&v);
        }
    }
}
