//! Server-side and edge-side includes: an SSI directive (`<!--#exec cmd=…-->`,
//! `<!--#include virtual=…-->`, `<!--#echo var=…-->`) or an ESI element (`<esi:include src=…>`).

use super::{Class, Hit, Text};

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Ssi,
            rule,
        });
    }
}

/// SSI directives (Apache `mod_include`, nginx `ssi`, IIS).
const DIRECTIVES: &[&str] = &[
    "exec", "include", "echo", "config", "fsize", "flastmod", "printenv", "set", "if", "elif",
    "else", "endif", "block", "params",
];

/// ESI elements.
const ESI: &[&str] = &[
    "include",
    "debug",
    "vars",
    "assign",
    "inline",
    "choose",
    "when",
    "otherwise",
    "try",
    "attempt",
    "except",
    "remove",
    "comment",
    "eval",
    "function",
    "text",
];

/// Appends SSI and ESI hits for canonical `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    if !tx.byte(b'<') {
        return;
    }
    let text = tx.s;
    if tx.has("<!--#") {
        for (p, _) in text.match_indices("<!--#").take(16) {
            let rest = &text[p + 5..];
            let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let after = rest[n..].chars().next();
            if DIRECTIVES.contains(&&rest[..n])
                && after.is_none_or(|c| c.is_ascii_whitespace() || c == '-')
            {
                push(
                    hits,
                    if &rest[..n] == "exec" {
                        "ssi.exec"
                    } else {
                        "ssi.directive"
                    },
                );
            }
        }
    }
    if tx.has("<esi:") || tx.has("</esi:") {
        for (p, _) in text.match_indices("esi:").take(16) {
            let opens = text[..p].ends_with('<') || text[..p].ends_with("</");
            let rest = &text[p + 4..];
            let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            if opens && ESI.contains(&&rest[..n]) {
                push(hits, "ssi.esi-tag");
                return;
            }
        }
    }
}
