//! XML external entities. Entity declarations are parsed by the DTD grammar
//! (`<!ENTITY [%] name (SYSTEM "uri" | PUBLIC "id" "uri" | "value")>`), document type
//! declarations by theirs (`<!DOCTYPE name [SYSTEM|PUBLIC …] [internal subset]>`); XInclude by
//! its namespace or an `include` element with `href`. An internal entity whose value references
//! other entities is an expansion bomb.

use super::{Class, Hit, Text};

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Xxe,
            rule,
        });
    }
}

/// Appends XXE hits for canonical `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    if !tx.byte(b'<') {
        return;
    }
    let text = tx.s;
    if tx.has("<!entity") {
        for (p, _) in text.match_indices("<!entity").take(32) {
            entity(&text[p + 8..], hits);
        }
    }
    if tx.has("<!doctype") {
        for (p, _) in text.match_indices("<!doctype").take(8) {
            doctype(&text[p + 9..], hits);
        }
    }
    if tx.has("xinclude") || tx.has(":include") && xinclude(text) {
        push(hits, "xxe.xinclude");
    }
    // XSLT that reads files or calls out: `document('/etc/passwd')`, `php:function(…)`.
    if tx.has("xmlns:xsl")
        && [
            "document(",
            "php:function",
            "unparsed-text(",
            "system-property(",
            "<xsl:include",
            "<xsl:import",
        ]
        .iter()
        .any(|n| tx.has(n))
    {
        push(hits, "xxe.xslt");
    }
}

fn ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n', '\r'])
}

/// A name token at the start of `s` and the rest.
fn name(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| c.is_ascii_whitespace() || matches!(c, '"' | '\'' | '>' | '[' | '%'))
        .unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// A quoted literal at the start of `s`: its content and the rest.
fn literal(s: &str) -> Option<(&str, &str)> {
    let q = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = s[1..].find(q)?;
    Some((&s[1..1 + end], &s[2 + end..]))
}

/// After `<!entity`: `[%] name` then an external id or a value.
fn entity(s: &str, hits: &mut Vec<Hit>) {
    let mut s = ws(s);
    let parameter = s.starts_with('%');
    if parameter {
        s = ws(&s[1..]);
    }
    let Some((_, rest)) = name(s) else {
        return;
    };
    let rest = ws(rest);
    let external = rest.starts_with("system") || rest.starts_with("public");
    if external {
        push(hits, "xxe.external-entity");
    } else if let Some((value, _)) = literal(rest) {
        push(hits, "xxe.entity-declaration");
        // An entity built from other entities (`&lol;&lol;…`) expands exponentially.
        if value.matches('&').count() >= 2 && value.contains(';') {
            push(hits, "xxe.entity-expansion");
        }
        if value.contains("<!entity") {
            push(hits, "xxe.external-entity");
        }
    } else {
        return;
    }
    if parameter {
        push(hits, "xxe.parameter-entity");
    }
}

/// After `<!doctype`: a root name, then an external id (`system "uri"`, `public "id" "uri"`)
/// and an internal subset.
fn doctype(s: &str, hits: &mut Vec<Hit>) {
    let Some((_, rest)) = name(ws(s)) else {
        return;
    };
    let rest = ws(rest);
    // A system id naming a URL or an absolute path is fetched; a relative one (`note.dtd`) is
    // the application's own DTD.
    let fetched = |uri: &str| uri.contains(':') || uri.starts_with(['/', '\\']);
    let external = if let Some(r) = rest.strip_prefix("system") {
        literal(ws(r)).is_some_and(|(uri, _)| fetched(uri))
    } else if let Some(r) = rest.strip_prefix("public") {
        literal(ws(r)).is_some_and(|(_, r)| literal(ws(r)).is_some_and(|(uri, _)| fetched(uri)))
    } else {
        false
    };
    if external {
        push(hits, "xxe.external-dtd");
    }
    // A parameter-entity reference in the internal subset (`%ext;`) loads and runs a DTD.
    if let Some(subset) = rest.find('[').map(|p| &rest[p + 1..]) {
        let subset = &subset[..subset.find("]>").unwrap_or(subset.len())];
        if parameter_reference(subset) {
            push(hits, "xxe.parameter-entity");
        }
    }
}

/// `%name;` outside a literal.
fn parameter_reference(subset: &str) -> bool {
    subset.match_indices('%').any(|(p, _)| {
        let r = &subset[p + 1..];
        let n = r
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
            .count();
        n > 0 && r[n..].starts_with(';')
    })
}

/// `<xi:include href=…>` and other prefixed `include` elements with an `href`.
fn xinclude(text: &str) -> bool {
    text.match_indices(":include").any(|(p, _)| {
        let before = &text[..p];
        let prefix = before
            .bytes()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        prefix > 0
            && before[..before.len() - prefix].ends_with('<')
            && text[p..].split('>').next().unwrap_or("").contains("href")
    })
}
