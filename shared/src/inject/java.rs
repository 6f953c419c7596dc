//! Java expression and lookup injection and Java deserialization markers. Log4j lookups are
//! evaluated the way Log4j resolves them — nested `${…}` first, `${lower:x}`/`${upper:x}` to
//! their argument, `${anything:-x}` to its default — so `${${lower:j}ndi:…}` and
//! `${${::-j}${::-n}di:…}` resolve to the `jndi:` lookup they spell. Expression languages (EL,
//! SpEL, OGNL, MVEL, Groovy) are recognised by what they reach: a type reference to a qualified
//! class (`T(java.lang.Runtime)`, `@java.lang.Runtime@`, `new java.lang.ProcessBuilder(`,
//! `"@type": "com.sun…"`), a reflective call chain (`.getClass().forName(`), or OGNL's context
//! objects; serialized objects by their stream magic (`aced0005`, base64 `rO0AB`).

use super::{Class, Hit, Needles, Text};
use std::sync::LazyLock;

pub(crate) const CLASS_REFERENCE: Hit = Hit {
    class: Class::Java,
    rule: "java.class-reference",
};

/// Whether `s` is a whole qualified class name (`com.sun.rowset.JdbcRowSetImpl`).
pub(crate) fn is_class_name(s: &str) -> bool {
    let lower = s.trim().to_ascii_lowercase();
    !lower.is_empty() && qualified_len(lower.as_bytes()) == lower.len()
}

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Java,
            rule,
        });
    }
}

/// Log4j lookup prefixes that read the environment of the process.
const LOOKUPS: &[&str] = &[
    "env",
    "sys",
    "java",
    "ctx",
    "main",
    "jvmrunargs",
    "bundle",
    "docker",
    "k8s",
    "spring",
    "log4j",
    "web",
    "date",
    "lower",
    "upper",
    "base64",
    "marker",
    "sd",
    "map",
    "event",
    "jndi",
];

/// Reflective calls and process launches expression injections chain.
const REFLECTIVE: &[&str] = &[
    "getclass",
    "forname",
    "getruntime",
    "getmethod",
    "getmethods",
    "getdeclaredmethod",
    "getdeclaredmethods",
    "getdeclaredconstructors",
    "getdeclaredconstructor",
    "getdeclaredfield",
    "getconstructor",
    "getconstructors",
    "newinstance",
    "loadclass",
    "defineclass",
    "getclassloader",
    "getenginebyname",
    "setaccessible",
    "getprotectiondomain",
];

/// Packages a qualified class name in an injected type reference starts with.
const PACKAGES: &[&str] = &[
    "java",
    "javax",
    "jdk",
    "sun",
    "com",
    "org",
    "net",
    "ch",
    "io",
    "groovy",
    "freemarker",
    "bsh",
    "oracle",
    "ognl",
];

/// [`PACKAGES`] with their dot: what a qualified name starts with.
const PACKAGE_DOTS: &[&str] = &[
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.",
    "org.",
    "net.",
    "ch.",
    "io.",
    "groovy.",
    "freemarker.",
    "bsh.",
    "oracle.",
    "ognl.",
];

/// Appends Java hits for canonical `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    if tx.may_have("${") {
        lookups(text, hits);
    }
    if tx.byte(b'.') {
        static REFLECTIVE_CALLS: LazyLock<Needles> = LazyLock::new(|| Needles::new(REFLECTIVE));
        static PACKAGE_STARTS: LazyLock<Needles> = LazyLock::new(|| Needles::new(PACKAGE_DOTS));
        if tx.byte(b'(') && REFLECTIVE_CALLS.is_match(tx) {
            reflective_chain(text, hits);
        }
        if PACKAGE_STARTS.is_match(tx) {
            type_references(tx, hits);
        }
    }
    if (tx.may_have("${") || tx.may_have("#{")) && el_implicit_object(text) {
        push(hits, "java.el-implicit-object");
    }
    if tx.has("#_memberaccess") || tx.has("@ognl.") || tx.has("#context[") || ognl_block(tx) {
        push(hits, "java.ognl");
    }
    if serialized(tx) {
        push(hits, "java.serialized-object");
    }
}

/// Resolves every `${…}` and reports a lookup reaching `jndi:` or the process environment.
fn lookups(text: &str, hits: &mut Vec<Hit>) {
    let mut found = Found::default();
    let mut budget = 256;
    resolve(text, 0, &mut budget, &mut found);
    if found.jndi {
        push(hits, "java.jndi-lookup");
    }
    if found.lookup || found.nested {
        push(hits, "java.log4j-lookup");
    }
}

#[derive(Default)]
struct Found {
    jndi: bool,
    /// A lookup of the environment (`${env:…}`, `${sys:…}`).
    lookup: bool,
    /// A lookup spelled by other lookups (`${${lower:j}…}`, `${::-j}`).
    nested: bool,
}

/// `s` with each `${…}` replaced by what Log4j substitutes for it.
fn resolve(s: &str, depth: usize, budget: &mut usize, found: &mut Found) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find("${") {
        out.push_str(&rest[..p]);
        let inner_start = p + 2;
        // An unterminated lookup still reads to the end of the value.
        let len = matching_brace(&rest[inner_start..]).unwrap_or(rest.len() - inner_start);
        let inner = &rest[inner_start..inner_start + len];
        rest = rest.get(inner_start + len + 1..).unwrap_or("");
        if depth > 8 || *budget == 0 {
            continue;
        }
        *budget -= 1;
        if inner.contains("${") {
            found.nested = true;
        }
        let inner = resolve(inner, depth + 1, budget, found);
        out.push_str(&substitute(&inner, found));
    }
    out.push_str(rest);
    out
}

/// Length of the text before the `}` closing a `${` whose content starts `s`, with nesting.
fn matching_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    for (i, &c) in b.iter().enumerate().take(4096) {
        match c {
            b'{' if i > 0 && b[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// What one resolved lookup `prefix:arg` becomes.
fn substitute(inner: &str, found: &mut Found) -> String {
    let inner = inner.trim();
    if let Some(target) = inner.strip_prefix("jndi:") {
        found.jndi |= !target.trim().is_empty();
        return String::new();
    }
    let Some((prefix, arg)) = inner.split_once(':') else {
        return String::new();
    };
    if let Some(p) = inner.find(":-") {
        // `${key:-default}`: an unknown key resolves to its default.
        found.nested |= p < 16;
        return inner[p + 2..].to_owned();
    }
    match prefix {
        "lower" | "upper" => {
            found.nested = true;
            arg.to_owned()
        }
        _ if LOOKUPS.contains(&prefix) && !arg.is_empty() => {
            found.lookup = true;
            String::new()
        }
        _ => String::new(),
    }
}

/// A chain of member calls with a reflective step: `''.getclass().forname('java.lang.runtime')`,
/// `.getruntime().exec(`.
fn reflective_chain(text: &str, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    for (dot, _) in text.match_indices('.').take(64) {
        let rest = &text[dot + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let called = rest[end..].trim_start().starts_with('(');
        // The receiver: a name, a call, a string literal or an index.
        let receiver = dot > 0
            && (b[dot - 1].is_ascii_alphanumeric()
                || matches!(b[dot - 1], b')' | b'\'' | b'"' | b']' | b'_'));
        if called && receiver && REFLECTIVE.contains(&name) {
            push(hits, "java.reflection");
            return;
        }
    }
}

/// A qualified class name in a type position: `t(java.lang.runtime)`, `@java.lang.runtime@`,
/// `new java.lang.processbuilder(`, `forname("java.lang.runtime")`, `"@type":"com.sun…"`,
/// `!!javax.script.…`, a JSON array opening with a class name (`["com.sun…", {`).
fn type_references(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphabetic()
            || i > 0
                && (b[i - 1].is_ascii_alphanumeric()
                    || matches!(b[i - 1], b'_' | b'.' | b'/' | b'-'))
        {
            i += 1;
            continue;
        }
        let len = qualified_len(&b[i..]);
        if len == 0 {
            i += b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count()
                .max(1);
            continue;
        }
        let before = text[..i].trim_end_matches([' ', '\t']);
        let after = text[i + len..].trim_start_matches([' ', '\t']);
        let quoted = before.ends_with(['"', '\'']) && after.starts_with(['"', '\'']);
        let typed = before.ends_with("t(") && after.starts_with(')')
            || before.ends_with('@') && after.starts_with('@')
            || before.ends_with("new") && after.starts_with('(')
            || before.ends_with("!!")
            || quoted && before[..before.len() - 1].ends_with("forname(")
            // FreeMarker's `"freemarker.template.utility.Execute"?new()`.
            || quoted && after[1..].starts_with("?new(")
            || quoted && json_type_position(before[..before.len() - 1].trim_end(), &after[1..]);
        if typed {
            push(hits, "java.class-reference");
            return;
        }
        i += len;
    }
}

/// Length of a qualified class name (`java.lang.runtime`: a known top package and at least two
/// more dotted identifiers) at the start of `s`, or 0.
fn qualified_len(s: &[u8]) -> usize {
    let ident = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$');
    let mut parts = 0;
    let mut len = 0;
    loop {
        let part = &s[len..];
        let n = part.iter().take_while(|c| ident(c)).count();
        if n == 0 || part[0].is_ascii_digit() {
            // `java.lang.` followed by nothing: the dot is not part of the name.
            len = len.saturating_sub(1);
            break;
        }
        if parts == 0 && !PACKAGES.iter().any(|p| p.as_bytes() == &part[..n]) {
            return 0;
        }
        parts += 1;
        len += n;
        if s.get(len) != Some(&b'.') || parts == 16 {
            break;
        }
        len += 1;
    }
    if parts >= 3 { len } else { 0 }
}

/// Whether a string literal between `before` and `after` is where a JSON deserializer reads a
/// type from: the value of `@type`/`@class`/`$type`, or the first element of an array followed
/// by the object to build (`["com.sun…", {…}]`).
fn json_type_position(before: &str, after: &str) -> bool {
    if let Some(key) = before.strip_suffix(':') {
        let key = key.trim_end();
        return ["\"@type\"", "\"@class\"", "\"$type\"", "\"@c\"", "'@type'"]
            .iter()
            .any(|k| key.ends_with(k));
    }
    before.ends_with('[')
        && after
            .trim_start()
            .strip_prefix(',')
            .is_some_and(|a| a.trim_start().starts_with('{'))
}

/// An EL expression (`${…}`, `#{…}`) reaching a JSP/JSF implicit object:
/// `${pagecontext.request…}`, `#{facescontext.externalcontext…}`.
fn el_implicit_object(text: &str) -> bool {
    ["${", "#{"].iter().any(|open| {
        text.match_indices(open).take(16).any(|(p, _)| {
            let inner = text[p + 2..].trim_start();
            [
                "pagecontext.",
                "facescontext.",
                "applicationscope",
                "sessionscope",
                "requestscope",
                "initparam",
                "header[",
                "cookie.",
            ]
            .iter()
            .any(|o| inner.starts_with(o))
        })
    })
}

/// OGNL's `%{…}` with an assignment or static access (`%{(#a=…)`, `%{@java…`).
fn ognl_block(tx: &Text<'_>) -> bool {
    tx.has("%{(#") || tx.has("%{#") || tx.has("%{@") || tx.has("(#_=") || tx.has("(#dm=")
}

/// Java serialization stream magic: `aced0005` in hex or `ro0ab` (`rO0AB`) in base64, as a
/// token of its own.
fn serialized(tx: &Text<'_>) -> bool {
    let text = tx.s;
    let b = text.as_bytes();
    for magic in ["aced0005", "ro0ab"] {
        if !tx.may_have(magic) {
            continue;
        }
        let mut from = 0;
        while let Some(p) = text[from..].find(magic) {
            let i = from + p;
            from = i + 1;
            if i == 0 || !b[i - 1].is_ascii_alphanumeric() && !matches!(b[i - 1], b'+' | b'/') {
                return true;
            }
        }
    }
    false
}
