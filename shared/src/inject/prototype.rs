//! Prototype pollution: a key path that reaches `Object.prototype` — `__proto__` as a key or
//! path segment (`__proto__[admin]=1`, `{"__proto__": …}`, `a.__proto__.b`), or `constructor`
//! followed by `prototype` (`constructor.prototype`, `constructor[prototype]`,
//! `{"constructor": {"prototype": …}}`).

use super::{Class, Hit, Text};

pub(crate) const PROTO_KEY: Hit = Hit {
    class: Class::Prototype,
    rule: "prototype.proto-key",
};
pub(crate) const CONSTRUCTOR_PROTOTYPE: Hit = Hit {
    class: Class::Prototype,
    rule: "prototype.constructor-prototype",
};

fn push(hits: &mut Vec<Hit>, hit: Hit) {
    if !hits.contains(&hit) {
        hits.push(hit);
    }
}

/// Separators between the segments of a key path.
fn separator(c: u8) -> bool {
    matches!(
        c,
        b'.' | b'['
            | b']'
            | b'"'
            | b'\''
            | b' '
            | b':'
            | b'{'
            | b','
            | b'/'
            | b'='
            | b'&'
            | b'?'
            | b'#'
    )
}

/// Appends prototype-pollution hits for canonical `text` (a value, or a query name).
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let b = text.as_bytes();
    if tx.has("__proto__") {
        let segment = text.match_indices("__proto__").any(|(p, _)| {
            let end = p + 9;
            (p == 0 || separator(b[p - 1])) && (end == b.len() || separator(b[end]))
        });
        if segment {
            push(hits, PROTO_KEY);
        }
    }
    if tx.has("prototype") && tx.has("constructor") {
        for (p, _) in text.match_indices("constructor").take(8) {
            let end = p + 11;
            if p > 0 && !separator(b[p - 1]) {
                continue;
            }
            let gap = b[end..].iter().take_while(|c| separator(**c)).count();
            if gap > 0 && gap <= 6 && text[end + gap..].starts_with("prototype") {
                let after = end + gap + 9;
                if after == b.len() || separator(b[after]) {
                    push(hits, CONSTRUCTOR_PROTOTYPE);
                    return;
                }
            }
        }
    }
}
