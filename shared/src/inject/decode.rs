//! Canonical text of an untrusted value: what a backend would finally see after the decoding
//! layers attackers stack to slip past filters (percent encoding applied up to three times,
//! `%uXXXX`, overlong UTF-8, HTML entities, full-width forms). Every step is bounded.

use std::borrow::Cow;

/// Longest input examined, in bytes; the rest of a longer value is ignored.
pub const MAX_SCAN_BYTES: usize = 8 * 1024;
/// Percent-decoding rounds (double and triple encoding are common evasions).
const ROUNDS: usize = 3;

/// Decodes `raw` as a query-string value: `+` is a space, then percent escapes are undone up to
/// three times, then HTML entities; the result is lower-cased ASCII-wise.
pub fn canonical(raw: &str, plus_is_space: bool) -> String {
    let raw = truncate(raw, MAX_SCAN_BYTES);
    let mut bytes: Cow<[u8]> = Cow::Borrowed(raw.as_bytes());
    if plus_is_space && memchr::memchr(b'+', &bytes).is_some() {
        bytes = Cow::Owned(
            bytes
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        );
    }
    for _ in 0..ROUNDS {
        match percent_round(&bytes) {
            Some(next) => bytes = Cow::Owned(next),
            None => break,
        }
    }
    let mut text = match bytes {
        // Nothing was decoded: the input is valid UTF-8 already.
        Cow::Borrowed(_) => {
            let mut out = String::with_capacity(raw.len());
            push_folded(&mut out, raw);
            out
        }
        Cow::Owned(decoded) => utf8_lenient(&decoded),
    };
    if memchr::memchr(b'&', text.as_bytes()).is_some() {
        text = html_entities(&text);
    }
    text.make_ascii_lowercase();
    text
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One percent-decoding pass (`%XX` and IIS-style `%uXXXX`); `None` when nothing changed.
fn percent_round(s: &[u8]) -> Option<Vec<u8>> {
    let first = memchr::memchr(b'%', s)?;
    let mut out = Vec::with_capacity(s.len());
    out.extend_from_slice(&s[..first]);
    let mut i = first;
    let mut changed = false;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                changed = true;
                continue;
            }
            if matches!(s.get(i + 1), Some(b'u' | b'U'))
                && let Some(cp) = s.get(i + 2..i + 6).and_then(|h| {
                    h.iter()
                        .try_fold(0u32, |acc, &c| Some(acc << 4 | u32::from(hex(c)?)))
                })
            {
                let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 6;
                changed = true;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// UTF-8 with the evasions folded: overlong two-byte forms of ASCII (`%c0%ae` = `.`), full-width
/// ASCII forms, look-alike slashes; NUL bytes dropped; other invalid bytes become U+FFFD.
fn utf8_lenient(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                push_folded(&mut out, s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // SAFETY-free: `good` is valid UTF-8 by construction of `valid_up_to`.
                push_folded(&mut out, std::str::from_utf8(good).unwrap_or(""));
                match bad {
                    [lead @ (0xc0 | 0xc1), cont, ..] if cont & 0xc0 == 0x80 => {
                        out.push(char::from(((lead & 0x1f) << 6) | (cont & 0x3f)));
                        rest = &bad[2..];
                    }
                    // Sloppy decoders drop the lead byte: `%c0%2f` reads as `/`.
                    [0xc0 | 0xc1, cont, ..] if cont.is_ascii() => {
                        out.push(char::from(*cont));
                        rest = &bad[2..];
                    }
                    _ => {
                        out.push('\u{fffd}');
                        rest = &bad[e.error_len().unwrap_or(bad.len()).max(1).min(bad.len())..];
                    }
                }
                if rest.is_empty() {
                    break;
                }
            }
        }
    }
    out
}

fn push_folded(out: &mut String, s: &str) {
    if s.is_ascii() && memchr::memchr(0, s.as_bytes()).is_none() {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\0' => {}
            // Full-width ASCII forms (U+FF01..U+FF5E) fold to ASCII.
            '\u{ff01}'..='\u{ff5e}' => {
                out.push(char::from_u32(c as u32 - 0xff01 + 0x21).unwrap_or(c));
            }
            '\u{2215}' | '\u{2044}' | '\u{efc8}' | '\u{f025}' => out.push('/'),
            '\u{2216}' | '\u{29f5}' => out.push('\\'),
            _ => out.push(c),
        }
    }
}

/// Decodes HTML character references: named ones attackers use and numeric ones (with or
/// without the closing `;`).
fn html_entities(s: &str) -> String {
    const NAMED: &[(&str, char)] = &[
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("amp", '&'),
        ("colon", ':'),
        ("lpar", '('),
        ("rpar", ')'),
        ("sol", '/'),
        ("bsol", '\\'),
        ("tab", '\t'),
        ("newline", '\n'),
        ("semi", ';'),
        ("equals", '='),
        ("grave", '`'),
        ("lowbar", '_'),
        ("period", '.'),
        ("comma", ','),
        ("excl", '!'),
        ("num", '#'),
        ("nbsp", ' '),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(num) = rest.strip_prefix('#') {
            let (digits, radix) = match num.strip_prefix(['x', 'X']) {
                Some(h) => (h, 16),
                None => (num, 10),
            };
            let len = digits
                .bytes()
                .take(10)
                .take_while(|b| (*b as char).is_digit(radix))
                .count();
            if len > 0 {
                let cp = u32::from_str_radix(&digits[..len], radix).unwrap_or(0xfffd);
                out.push(
                    char::from_u32(cp)
                        .filter(|c| *c != '\0')
                        .unwrap_or('\u{fffd}'),
                );
                rest = &digits[len..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
                continue;
            }
        } else {
            let len = rest
                .bytes()
                .take(8)
                .take_while(u8::is_ascii_alphabetic)
                .count();
            let name = &rest[..len];
            if let Some((_, c)) = NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                out.push(*c);
                rest = &rest[len..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
                continue;
            }
        }
        out.push('&');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers() {
        assert_eq!(canonical("%252e%252e%252f", false), "../");
        assert_eq!(canonical("%%32%65", false), ".");
        assert_eq!(canonical("%c0%ae%c0%ae/", false), "../");
        assert_eq!(canonical("%uff0e%uff0e%u2216", false), "..\\");
        assert_eq!(canonical("&lt;SCRIPT&gt;", false), "<script>");
        assert_eq!(canonical("&#x6a&#97;", false), "ja");
        assert_eq!(canonical("a+b%2Bc", true), "a b+c");
        assert_eq!(canonical("100%", false), "100%");
        assert_eq!(canonical("AT&T", false), "at&t");
        assert_eq!(canonical("a%00b", false), "ab");
        assert_eq!(canonical("%ff%fe", false), "\u{fffd}\u{fffd}");
    }

    #[test]
    fn bounded() {
        let long = "é".repeat(MAX_SCAN_BYTES);
        assert!(canonical(&long, false).len() <= MAX_SCAN_BYTES);
    }
}
