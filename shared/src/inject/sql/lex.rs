//! The SQL tokenizer: lower-cased input becomes a bounded stream of tokens (literals, numbers,
//! words, calls, variables, operators, comments), optionally read as the continuation of a
//! string opened by a quote.

use super::Tok;
use super::vocab::is_function;

/// Tokens examined per reading.
pub(super) const MAX_TOKENS: usize = 96;

fn is_word_byte(b: u8) -> bool {
    WORD_BYTES[usize::from(b)]
}

/// Bytes of SQL words: ASCII letters and digits, `_`, `$` and every non-ASCII byte.
static WORD_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
        i += 1;
    }
    t
};

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(b.len(), |p| from + p + 1)
}

/// End of a numeric literal: `0x1f`, `0b01`, `12`, `1.5`, `1e0`, `2.e3`.
fn number_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    if b[i] == b'0' && matches!(b.get(j), Some(b'x' | b'b')) {
        j += 1;
        while j < b.len() && b[j].is_ascii_hexdigit() {
            j += 1;
        }
        return j;
    }
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    if matches!(b.get(j), Some(b'e')) {
        let mut k = j + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if b.get(k).is_some_and(u8::is_ascii_digit) {
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    j
}

/// Tokenizes lower-cased `s`; with `quote`, the input continues a string opened by that quote.
pub(super) fn tokenize<'a>(s: &'a str, quote: Option<u8>, out: &mut Vec<Tok<'a>>) {
    let b = s.as_bytes();
    let mut i = 0;
    out.clear();
    if let Some(q) = quote {
        match b.iter().position(|&c| c == q) {
            Some(end) => {
                out.push(Tok::Str { closed: true });
                i = end + 1;
            }
            None => return,
        }
    }
    while i < b.len() && out.len() < MAX_TOKENS {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0 => i += 1,
            b'\'' | b'"' | b'`' => {
                let mut j = i + 1;
                let mut closed = false;
                while j < b.len() {
                    if b[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                    if b[j] == c {
                        // A doubled quote is an escaped quote inside the literal.
                        if b.get(j + 1) == Some(&c) {
                            j += 2;
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    j += 1;
                }
                if c == b'`' {
                    out.push(Tok::Word("`"));
                } else {
                    out.push(Tok::Str { closed });
                }
                i = (j + 1).min(b.len());
            }
            b'0'..=b'9' => {
                out.push(Tok::Num);
                i = number_end(b, i);
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                out.push(Tok::Num);
                i = j;
            }
            // `name@example.com` is an address, not a variable.
            b'@' if i > 0 && is_word_byte(b[i - 1]) => {
                out.push(Tok::Other);
                i += 1;
            }
            b'@' => {
                let mut j = i + 1;
                while j < b.len() && (is_word_byte(b[j]) || b[j] == b'@') {
                    j += 1;
                }
                out.push(Tok::Var(&s[i..j]));
                i = j;
            }
            // Line comments end at a newline; what follows still runs.
            b'-' if b.get(i + 1) == Some(&b'-') => {
                out.push(Tok::Comment);
                i = line_end(b, i);
            }
            // `#2` is a number sign in prose.
            b'#' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push(Tok::Other);
                i += 1;
            }
            b'#' => {
                out.push(Tok::Comment);
                i = line_end(b, i);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // MySQL executes `/*! ... */`; treat its body as code.
                if b.get(i + 2) == Some(&b'!') {
                    let mut j = i + 3;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                    continue;
                }
                match s[i + 2..].find("*/") {
                    Some(end) => i = i + 2 + end + 2,
                    None => {
                        out.push(Tok::Comment);
                        return;
                    }
                }
            }
            b'*' if b.get(i + 1) == Some(&b'/') => i += 2,
            b'(' | b')' | b',' | b';' | b'.' | b'*' => {
                out.push(match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b',' => Tok::Comma,
                    b';' => Tok::Semi,
                    b'.' => Tok::Dot,
                    _ => Tok::Star,
                });
                i += 1;
            }
            b'&' | b'|' if b.get(i + 1) == Some(&c) => {
                out.push(Tok::Logic);
                i += 2;
            }
            b'=' | b'<' | b'>' | b'!' | b'+' | b'-' | b'/' | b'%' | b'^' | b'&' | b'|' | b'~' => {
                let mut j = i + 1;
                while j < b.len() && j < i + 3 && matches!(b[j], b'=' | b'<' | b'>') {
                    j += 1;
                }
                out.push(Tok::Op(&s[i..j]));
                i = j;
            }
            _ if is_word_byte(c) => {
                let mut j = i + 1;
                while j < b.len() && is_word_byte(b[j]) {
                    j += 1;
                }
                let word = &s[i..j];
                let mut k = j;
                while k < b.len() && b[k] == b' ' && k < j + 1 {
                    k += 1;
                }
                if b.get(j) == Some(&b'(') || (b.get(k) == Some(&b'(') && is_function(word)) {
                    out.push(Tok::Func(word));
                } else {
                    out.push(Tok::Word(word));
                }
                i = j;
            }
            _ => {
                out.push(Tok::Other);
                i += 1;
            }
        }
    }
}
