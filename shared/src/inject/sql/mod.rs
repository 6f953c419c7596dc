//! SQL injection: the value is tokenized as SQL three times — as it stands (a numeric or bare
//! context), and as the continuation of a single- and of a double-quoted string — and each token
//! stream is matched against the shapes injections take: breaking out of the literal and then
//! adding a condition, a comment, a second statement, a `UNION SELECT`, a time delay, or calls
//! only databases know. Prose rarely survives all three readings with such a shape.

mod lex;
mod shape;
mod vocab;

use super::{Hit, Text};
use lex::tokenize;
use shape::check;

/// Appends SQL-injection hits for canonical (decoded, lower-case) `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let mut toks = Vec::with_capacity(32);
    tokenize(text, None, &mut toks);
    // Markup (`"><img`, `</a>`) has `=`, quotes and `<>` but is not SQL.
    let markup = tx.has("</") || tx.has("><");
    check(&toks, false, false, markup, hits);
    for q in [b'\'', b'"'] {
        if let Some(p) = text.bytes().position(|c| c == q) {
            // A tight prefix (`admin'`, `1'`, `'`) is a value being broken out of; prose
            // with an apostrophe has words and spaces before it.
            let prefix = &text[..p];
            let tight = prefix.len() <= 32
                && prefix.bytes().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, b'_' | b'-' | b'.' | b'@' | b'(' | b')')
                });
            // `"like" stamp`: a value that opens with a quoted phrase is a search phrase, not a
            // breakout, unless more quotes follow.
            let phrase = p == 0 && text.bytes().filter(|&c| c == q).count() == 2;
            tokenize(text, Some(q), &mut toks);
            check(&toks, true, tight && !phrase, markup, hits);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok<'a> {
    /// A string literal; `closed` when its closing quote is in the input.
    Str {
        closed: bool,
    },
    Num,
    /// A bare word (keyword or identifier), lower case.
    Word(&'a str),
    /// A word directly followed by `(`.
    Func(&'a str),
    /// `@name` / `@@name`.
    Var(&'a str),
    /// Comparison and arithmetic operators.
    Op(&'a str),
    /// `&&`, `||`.
    Logic,
    LParen,
    RParen,
    Comma,
    Semi,
    Dot,
    Star,
    /// `--`, `#`, `/*`: a comment that swallows the rest of the query.
    Comment,
    Other,
}
