//! A scanner for one JSON object per line, the shape of nginx's `escape=json` access logs: it
//! hands each member to a callback as a borrowed key and a scalar value (strings borrowed
//! unless they hold escapes), and skips nested values without building them. It accepts
//! exactly the documents `serde_json` accepts (RFC 8259, nesting depth at most 128), so a
//! line that is not JSON is still rejected as a whole.

use std::borrow::Cow;

/// A member's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string, number (its text; floats as `f64` prints them) or boolean.
    Scalar(Cow<'a, str>),
    Null,
    /// An object or array (skipped).
    Nested,
}

/// The line is not one JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Deepest nesting accepted (the object itself counts), as in `serde_json`.
const MAX_DEPTH: usize = 128;

/// Calls `member(key, value)` for each member of the object on `line`, in order; stops at the
/// first error (the line's or the callback's).
pub fn for_each_member<'a>(
    line: &'a [u8],
    mut member: impl FnMut(Cow<'a, str>, Value<'a>) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    let text = std::str::from_utf8(line).map_err(|_| Malformed)?;
    let mut p = Scanner { s: text, i: 0 };
    p.ws();
    p.expect(b'{')?;
    p.ws();
    if !p.eat(b'}') {
        loop {
            p.expect(b'"')?;
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let value = p.value()?;
            member(key, value)?;
            p.ws();
            if p.eat(b',') {
                p.ws();
                continue;
            }
            p.expect(b'}')?;
            break;
        }
    }
    p.ws();
    if p.i == p.s.len() {
        Ok(())
    } else {
        Err(Malformed)
    }
}

struct Scanner<'a> {
    s: &'a str,
    i: usize,
}

/// Bytes of `x` that are zero get their high bit set (exact up to the lowest zero byte;
/// above it a borrow may flag more).
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), Malformed> {
        if self.eat(b) { Ok(()) } else { Err(Malformed) }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Advances to the next `"`, `\` or control byte of a string, eight bytes at a time.
    #[inline]
    fn skip_plain(&mut self) {
        let b = self.s.as_bytes();
        while let Some(chunk) = b.get(self.i..self.i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let x = u64::from_le_bytes(w);
            let quote = zero_bytes(x ^ 0x2222_2222_2222_2222);
            let backslash = zero_bytes(x ^ 0x5c5c_5c5c_5c5c_5c5c);
            // Bytes below 0x20 (ASCII only: bytes with the high bit set are never controls).
            let control = x.wrapping_sub(0x2020_2020_2020_2020) & !x & 0x8080_8080_8080_8080;
            let hits = quote | backslash | control;
            if hits != 0 {
                // The lowest flagged byte is exact (borrows only run upwards).
                self.i += (hits.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while let Some(&c) = b.get(self.i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return;
            }
            self.i += 1;
        }
    }

    /// A string's contents after its opening quote; borrowed unless it holds escapes.
    #[inline]
    fn string(&mut self) -> Result<Cow<'a, str>, Malformed> {
        let start = self.i;
        self.skip_plain();
        match self.peek() {
            Some(b'"') => {
                let v = &self.s[start..self.i];
                self.i += 1;
                Ok(Cow::Borrowed(v))
            }
            Some(b'\\') => {
                let mut out = String::from(&self.s[start..self.i]);
                self.escaped(&mut out)?;
                Ok(Cow::Owned(out))
            }
            _ => Err(Malformed), // a control character or the end of the line
        }
    }

    /// The rest of a string holding escapes, from a backslash to past the closing quote.
    fn escaped(&mut self, out: &mut String) -> Result<(), Malformed> {
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.peek().ok_or(Malformed)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            self.i += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(Malformed),
                    };
                    self.i += 1;
                    out.push(c);
                }
                Some(_) => {
                    let start = self.i;
                    self.skip_plain();
                    if start == self.i {
                        return Err(Malformed); // a control character or the end of the line
                    }
                    out.push_str(&self.s[start..self.i]);
                }
                None => return Err(Malformed),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Malformed> {
        let digits = self.s.get(self.i..self.i + 4).ok_or(Malformed)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Malformed);
        }
        self.i += 4;
        u32::from_str_radix(digits, 16).map_err(|_| Malformed)
    }

    /// `XXXX` after `\u`, with a surrogate pair's second half; lone surrogates are errors.
    fn unicode_escape(&mut self) -> Result<char, Malformed> {
        let hi = self.hex4()?;
        let code = match hi {
            0xd800..=0xdbff => {
                if !self.s[self.i..].starts_with("\\u") {
                    return Err(Malformed);
                }
                self.i += 2;
                let lo = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&lo) {
                    return Err(Malformed);
                }
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(Malformed),
            c => c,
        };
        char::from_u32(code).ok_or(Malformed)
    }

    fn literal(&mut self, word: &str) -> Result<(), Malformed> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    /// A number's text; integers as written, others (fractions, exponents, integers beyond
    /// 64 bits) as their `f64` prints.
    fn number(&mut self) -> Result<Cow<'a, str>, Malformed> {
        let start = self.i;
        let negative = self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Malformed),
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            if self.digits() == 0 {
                return Err(Malformed);
            }
        }
        if self.eat(b'e') || self.eat(b'E') {
            float = true;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return Err(Malformed);
            }
        }
        let text = &self.s[start..self.i];
        let integer = !float
            && if negative {
                text.parse::<i64>().is_ok()
            } else {
                text.parse::<u64>().is_ok()
            };
        if integer {
            return Ok(Cow::Borrowed(text));
        }
        // serde_json's own float parser, so a value reads exactly as it always did (rare:
        // nginx writes integers or strings).
        let v: f64 = serde_json::from_str(text).map_err(|_| Malformed)?;
        if !v.is_finite() {
            return Err(Malformed);
        }
        Ok(Cow::Owned(v.to_string()))
    }

    #[inline]
    fn value(&mut self) -> Result<Value<'a>, Malformed> {
        match self.peek().ok_or(Malformed)? {
            b'"' => {
                self.i += 1;
                Ok(Value::Scalar(self.string()?))
            }
            b't' => self
                .literal("true")
                .map(|()| Value::Scalar(Cow::Borrowed("true"))),
            b'f' => self
                .literal("false")
                .map(|()| Value::Scalar(Cow::Borrowed("false"))),
            b'n' => self.literal("null").map(|()| Value::Null),
            b'{' | b'[' => {
                self.skip_nested()?;
                Ok(Value::Nested)
            }
            _ => self.number().map(Value::Scalar),
        }
    }

    /// Skips (and checks) an object or array inside the top-level object.
    fn skip_nested(&mut self) -> Result<(), Malformed> {
        // Closing bracket of each open level; the top-level object is level 1.
        let mut open: Vec<u8> = Vec::new();
        loop {
            // At the start of a value.
            match self.peek().ok_or(Malformed)? {
                b @ (b'{' | b'[') => {
                    if open.len() + 2 > MAX_DEPTH {
                        return Err(Malformed);
                    }
                    self.i += 1;
                    open.push(if b == b'{' { b'}' } else { b']' });
                    self.ws();
                    if self.eat(open[open.len() - 1]) {
                        open.pop();
                    } else {
                        if b == b'{' {
                            self.key()?;
                        }
                        continue;
                    }
                }
                b'"' => {
                    self.i += 1;
                    self.string()?;
                }
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                _ => {
                    self.number()?;
                }
            }
            // After a value: a separator, or closing brackets.
            loop {
                let Some(&close) = open.last() else {
                    return Ok(());
                };
                self.ws();
                if self.eat(b',') {
                    self.ws();
                    if close == b'}' {
                        self.key()?;
                    }
                    break;
                }
                self.expect(close)?;
                open.pop();
            }
        }
    }

    /// `"key" :` and the whitespace up to the value.
    fn key(&mut self) -> Result<(), Malformed> {
        self.expect(b'"')?;
        self.string()?;
        self.ws();
        self.expect(b':')?;
        self.ws();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(line: &str) -> Result<Vec<(String, Value<'_>)>, Malformed> {
        let mut out = Vec::new();
        for_each_member(line.as_bytes(), |k, v| {
            out.push((k.into_owned(), v));
            Ok(())
        })?;
        Ok(out)
    }

    fn s(v: &str) -> Value<'_> {
        Value::Scalar(Cow::Borrowed(v))
    }

    #[test]
    fn members_and_values() {
        let got = members(
            r#" {"a":"x","b\u0031":"q\"\\\/\n\u00e9\ud83d\ude00","n":-12,"f":1.50,"e":1E3,"t":true,"z":null,"o":{"p":[1,{"q":[]}],"r":"}"},"big":123456789012345678901} "#,
        )
        .unwrap();
        let big = big_as_serde_json_reads_it();
        let want = vec![
            ("a".to_owned(), s("x")),
            ("b1".to_owned(), s("q\"\\/\né😀")),
            ("n".to_owned(), s("-12")),
            ("f".to_owned(), s("1.5")),
            ("e".to_owned(), s("1000")),
            ("t".to_owned(), s("true")),
            ("z".to_owned(), Value::Null),
            ("o".to_owned(), Value::Nested),
            // As serde_json reads it: its default parser prints …670000, and with the
            // `float_roundtrip` feature (which feature unification may switch on) the nearest
            // double, …680000.
            ("big".to_owned(), s(&big)),
        ];
        assert_eq!(got, want);
        assert_eq!(members("{}"), Ok(vec![]));
    }

    fn big_as_serde_json_reads_it() -> String {
        let v: f64 = serde_json::from_str("123456789012345678901").expect("a JSON number");
        v.to_string()
    }

    #[test]
    fn rejects_what_json_rejects() {
        for bad in [
            "",
            "[1]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":\"\\x41\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":tru}",
            "{\"a\":{\"b\":1,}}",
            "{\"a\":[1 2]}",
            "{\"a\":1} x",
            "{\"a\":1}\u{c}",
            "{'a':1}",
        ] {
            assert_eq!(members(bad).err(), Some(Malformed), "{bad:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(127), "]".repeat(127));
        assert!(members(&deep).is_ok());
        let deeper = format!("{{\"a\":{}{}}}", "[".repeat(128), "]".repeat(128));
        assert_eq!(members(&deeper).err(), Some(Malformed));
        assert_eq!(
            for_each_member(b"{\"a\":\"\xff\"}", |_, _| Ok(())),
            Err(Malformed)
        );
    }

    /// What `serde_json` makes of a line, in the scanner's terms.
    fn oracle(line: &str) -> Result<Vec<(String, Value<'static>)>, Malformed> {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|_| Malformed)?;
        let serde_json::Value::Object(map) = v else {
            return Err(Malformed);
        };
        // serde_json's map keeps the last of duplicate keys; the scanner reports every member.
        Ok(map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::Null => Value::Null,
                    serde_json::Value::Bool(b) => Value::Scalar(Cow::Owned(b.to_string())),
                    serde_json::Value::Number(n) => Value::Scalar(Cow::Owned(
                        n.as_f64()
                            .filter(|_| n.is_f64())
                            .map_or_else(|| n.to_string(), |f| f.to_string()),
                    )),
                    serde_json::Value::String(s) => Value::Scalar(Cow::Owned(s)),
                    _ => Value::Nested,
                };
                (k, v)
            })
            .collect())
    }

    fn last_per_key(v: Vec<(String, Value<'_>)>) -> Vec<(String, Value<'static>)> {
        let mut map = std::collections::BTreeMap::new();
        for (k, v) in v {
            let v = match v {
                Value::Scalar(s) => Value::Scalar(Cow::Owned(s.into_owned())),
                Value::Null => Value::Null,
                Value::Nested => Value::Nested,
            };
            map.insert(k, v);
        }
        map.into_iter().collect()
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json(
            line in "[ ]?\\{(\"[a-c\\\\u0-9\"]{0,4}\" ?: ?(\"([ -~]|\\\\[\"\\\\/bfnrtux]|\\\\u[0-9a-fA-F]{4}|é){0,6}\"|-?[0-9]{1,3}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{1,2})?|true|fals|null|\\[[0-9,\\[\\]\" {}:]{0,8}\\]|\\{[a-z0-9,\\[\\]\" {}:]{0,8}\\}),?){0,4}\\}[ \t]?"
        ) {
            let want = oracle(&line);
            let got = members(&line).map(last_per_key);
            let want = want.map(|w| last_per_key(w.into_iter().collect()));
            prop_assert_eq!(got, want, "{:?}", line);
        }
    }
}
