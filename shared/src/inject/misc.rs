//! Path traversal, server-side template injection, NoSQL (MongoDB operator and JavaScript)
//! injection and LDAP filter injection.

use super::{Class, Hit, Needles, Text, count, find, find_word, has};
use std::sync::LazyLock;

fn push(hits: &mut Vec<Hit>, class: Class, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit { class, rule });
    }
}

/// Files an attacker reads once a path escapes its root.
const SENSITIVE_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/hosts",
    "/etc/issue",
    "/etc/motd",
    "/etc/sudoers",
    "/etc/crontab",
    "/proc/self/",
    "/proc/version",
    "/var/log/",
    "win.ini",
    "boot.ini",
    "system.ini",
    "\\windows\\",
    "/windows/",
    "/winnt/",
    "\\winnt\\",
    "system32",
    "web-inf/",
    "web-inf\\",
    "/.htaccess",
    "/.htpasswd",
    ".htpasswd",
    "/.git/",
    "/.ssh/",
    "id_rsa",
    "/.env",
    "/.aws/",
    "repair\\sam",
    "repair/sam",
    "file://",
    "/etc/",
    "inetpub",
    "global.asa",
    "c:/windows",
    "c:/boot.ini",
];

/// Appends traversal hits for canonical `text`.
pub fn traversal(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    // Hex-spelled separators some decoders accept (`0x2e0x2e0x2f`).
    if tx.has("0x2") || tx.has("0x5c") {
        let unhexed =
            tx.s.replace("0x2e", ".")
                .replace("0x2f", "/")
                .replace("0x5c", "\\");
        traversal_in(&Text::new(&unhexed), hits);
    } else {
        traversal_in(tx, hits);
    }
}

fn traversal_in(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let has_dots = tx.has("..");
    if has_dots {
        // `..` as a whole segment between separators (either slash), also `..;/` (Tomcat).
        let b = text.as_bytes();
        let mut from = 0;
        while let Some(p) = find(&text[from..], "..") {
            let i = from + p;
            from = i + 2;
            let mut j = i + 2;
            while j < b.len() && b[j] == b'.' {
                j += 1;
            }
            let before_ok =
                i == 0 || matches!(b[i - 1], b'/' | b'\\' | b'=' | b' ' | b'\'' | b'"' | b':');
            let after_ok = j == b.len() || matches!(b[j], b'/' | b'\\' | b';' | b'?' | b'%');
            if before_ok && after_ok && (j - i == 2 || j - i == 3 || j - i == 4) {
                // One `../` inside markup or prose is a relative link; a value that starts
                // with it, or climbs twice, walks the file system.
                let climbs = count(text, "../") + count(text, "..\\");
                let leading = text[..i].bytes().all(|c| matches!(c, b'/' | b'\\' | b'.'));
                if j < b.len() && (leading || climbs >= 2)
                    || j == b.len() && i > 0 && j - i == 2 && b[i - 1] == b'/' && climbs >= 1
                {
                    push(hits, Class::Traversal, "traversal.dot-dot");
                    break;
                }
            }
        }
    }
    static FILES: LazyLock<Needles> = LazyLock::new(|| Needles::new(SENSITIVE_FILES));
    // `/etc/` alone only counts at the start of a path value.
    if FILES
        .all(tx)
        .any(|(f, p)| f != "/etc/" || p == 0 || has_dots)
    {
        push(hits, Class::Traversal, "traversal.sensitive-file");
    }
    if tx.has(":\\")
        && (tx.has("windows") || tx.has("winnt") || tx.has("boot.ini") || tx.has("inetpub"))
    {
        push(hits, Class::Traversal, "traversal.sensitive-file");
    }
}

/// Objects that template engines expose and injections probe.
const TEMPLATE_OBJECTS: &[&str] = &[
    "config",
    "self",
    "request",
    "settings",
    "app",
    "_self",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "url_for",
    "get_flashed_messages",
    "session",
    "range",
    "dump",
    "smarty",
    "this",
    "env",
    "system",
    "runtime",
    "class",
    "getclass",
    "constructor",
];

/// Whether a template expression is more than a variable reference.
fn active_expression(expr: &str) -> bool {
    let e = expr.trim();
    if e.is_empty() || e.len() > 4096 {
        return false;
    }
    let b = e.as_bytes();
    // Arithmetic between literals: `7*7`, `7*'7'`, `3 * 3`.
    let arithmetic = b.iter().enumerate().any(|(i, &c)| {
        matches!(c, b'*' | b'+' | b'-' | b'/' | b'%')
            && i > 0
            && e[..i]
                .trim_end()
                .ends_with(|x: char| x.is_ascii_digit() || x == '\'' || x == '"' || x == ')')
            && e[i + 1..]
                .trim_start()
                .starts_with(|x: char| x.is_ascii_digit() || x == '\'' || x == '"' || x == '(')
    });
    arithmetic
        || has(e, "__")
        || e.contains('(')
        || e.contains('|')
        || e.contains('[')
        || e.contains('?')
        || has(e, "#set")
        || e.starts_with('#')
        || e.starts_with('$')
        || e.starts_with('@')
        || TEMPLATE_OBJECTS
            .iter()
            .any(|o| e == *o || e.starts_with(&format!("{o}.")) || e.starts_with(&format!("{o} ")))
}

/// Appends server-side template injection hits for canonical `text`.
pub fn ssti(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    // Every delimiter and engine internal below has one of these bytes.
    if !tx.any(b"{%[(#_|?") {
        return;
    }
    let pairs: [(&str, &str, &'static str); 9] = [
        ("{{", "}}", "ssti.expression"),
        ("{%", "%}", "ssti.statement"),
        ("${", "}", "ssti.expression"),
        ("#{", "}", "ssti.expression"),
        ("*{", "}", "ssti.expression"),
        ("@{", "}", "ssti.expression"),
        ("<%", "%>", "ssti.expression"),
        ("[[", "]]", "ssti.expression"),
        ("@(", ")", "ssti.expression"),
    ];
    for (open, close, rule) in pairs {
        if !tx.may_have(open) {
            continue;
        }
        let mut from = 0;
        while let Some(p) = find(&text[from..], open) {
            let start = from + p + open.len();
            from = start;
            let inner_end = find(&text[start..], close).map(|e| start + e);
            let inner = match inner_end {
                Some(e) => &text[start..e],
                None if open == "{%" || open == "<%" => &text[start..],
                None => continue,
            };
            let inner = inner.trim_start_matches(['=', '-', '+', '{']);
            let active = if open == "{%" {
                let w = inner.trim_start();
                [
                    "for ", "if ", "set ", "import ", "include ", "extends ", "macro ", "raw",
                    "debug", "print ", "with ", "call ", "filter ",
                ]
                .iter()
                .any(|k| w.starts_with(k))
            } else if open == "[[" {
                // Thymeleaf inlining: `[[${…}]]`, `[[*{…}]]`; a nested array is not one.
                inner.trim_start().starts_with(['$', '*', '#', '@', '~'])
            } else if open == "@(" {
                inner.contains(['+', '*', '.'])
            } else {
                active_expression(inner)
            };
            if active {
                push(hits, Class::Ssti, rule);
                return;
            }
        }
    }
    static INTERNALS: LazyLock<Needles> = LazyLock::new(|| {
        Needles::new(&[
            "freemarker.template.utility",
            "?new()",
            "<#assign",
            "[#assign",
            "{php}",
            "{$smarty",
            "{/php}",
            "t(java.lang",
            "#set(",
            "#foreach",
            "$class.inspect",
            "getruntime().exec",
            "__globals__",
            "__subclasses__",
            "__builtins__",
            "__mro__",
            "|attr(",
        ])
    });
    if INTERNALS.is_match(tx) {
        push(hits, Class::Ssti, "ssti.engine-internals");
    }
}

/// MongoDB query operators.
const MONGO_OPS: &[&str] = &[
    "ne",
    "eq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "regex",
    "where",
    "exists",
    "or",
    "and",
    "not",
    "nor",
    "expr",
    "elemmatch",
    "function",
    "accumulator",
    "type",
    "mod",
    "all",
    "size",
    "text",
    "jsonschema",
    "comment",
    "options",
    "lookup",
    "match",
    "set",
    "unset",
];

pub(crate) fn is_mongo_op(name: &str) -> bool {
    MONGO_OPS.contains(&name)
}

/// Appends NoSQL-injection hits for canonical `text`.
pub fn nosql(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let b = text.as_bytes();
    if tx.byte(b'$') {
        for (i, _) in text.match_indices('$') {
            let rest = &text[i + 1..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let (name, after) = rest.split_at(end);
            if !MONGO_OPS.contains(&name) {
                continue;
            }
            let before = if i == 0 { b' ' } else { b[i - 1] };
            let after = after.trim_start_matches([' ', '"', '\'']);
            // As a key: `{"$ne": …}`, `{$gt: ''}`, `[$ne]=1`, `, $where: …`.
            let keyed = matches!(before, b'{' | b'[' | b'"' | b'\'' | b' ' | b',')
                && (after.starts_with(':') || after.starts_with(']'));
            if keyed {
                push(hits, Class::Nosqli, "nosqli.operator");
                break;
            }
        }
    }
    // JavaScript evaluated by `$where` / mapReduce: breakouts into code.
    let js = tx.has("this.")
        && (tx.has("&&") || tx.has("||"))
        && (tx.has(".match(") || tx.has("==") || tx.has(".length"))
        || tx.has("db.")
            && find_word(text, "db").is_some_and(|p| {
                let rest = text.get(p + 3..).unwrap_or("");
                rest.find('.').is_some_and(|d| {
                    rest[..d]
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_')
                        && rest[d + 1..].find('(').is_some_and(|q| q < 32)
                })
            })
        || tx.has("return") && js_breakout(text)
        || (text.starts_with("'") || text.starts_with('"'))
            && tx.byte(b';')
            && (tx.has("sleep(") || tx.has("while(") || tx.has("new date"))
        || (tx.has("||") && tx.has("=="));
    if js {
        push(hits, Class::Nosqli, "nosqli.javascript");
    }
    if tx.has("mapreduce") && tx.has("emit(") {
        push(hits, Class::Nosqli, "nosqli.javascript");
    }
}

/// `';return true;var x='` and friends.
fn js_breakout(text: &str) -> bool {
    [
        "return true",
        "return(true",
        "return 1",
        "return 'a'",
        "return \"a\"",
        ";return",
        "; return",
    ]
    .iter()
    .any(|n| has(text, n))
}

/// Appends LDAP-injection hits for canonical `text`.
pub fn ldap(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    if tx.any(b"*()|&!/@\\") {
        ldap_probe(text, hits);
    }
    if !tx.any(b"()") {
        return;
    }
    let t = text.trim();
    // Closing the application's filter and opening one of the attacker's: `*)(uid=*`, `)(&`.
    if let Some(p) = find(t, ")(") {
        let rest = &t[p + 2..];
        let attr_eq = rest
            .trim_start_matches(['(', '|', '&', '!'])
            .split_once('=')
            .is_some_and(|(a, _)| {
                !a.is_empty()
                    && a.len() <= 64
                    && a.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b';')
            });
        if attr_eq || rest.starts_with(['|', '&', '!']) || rest.starts_with(')') {
            push(hits, Class::Ldapi, "ldapi.filter-breakout");
            return;
        }
    }
    // A parenthesised filter with an operator: `(|(mail=*))`, `(&(objectclass=*)`.
    for op in ["(|(", "(&(", "(!("] {
        if tx.may_have(op)
            && let Some(p) = find(t, op)
            && t[p + 3..].contains('=')
        {
            push(hits, Class::Ldapi, "ldapi.filter-operator");
            return;
        }
    }
    // A wildcard closing the filter: `*)`, `*))`, `*()|&'`.
    if t.starts_with('*') && (t[1..].starts_with(')') || t[1..].starts_with("()")) {
        push(hits, Class::Ldapi, "ldapi.wildcard-breakout");
    }
}

/// A value made only of filter metacharacters, with a parenthesis or a wildcard next to an
/// operator (`(`, `*|`, `@*`, `//*`): a probe for filter injection. A lone `*` or `/` is an
/// ordinary search or path and is not flagged.
pub fn ldap_probe(text: &str, hits: &mut Vec<Hit>) {
    let t = text.trim();
    if t.is_empty()
        || t.len() > 4
        || !t.bytes().all(|c| {
            matches!(
                c,
                b'*' | b'(' | b')' | b'|' | b'&' | b'!' | b'/' | b'@' | b'\\'
            )
        })
    {
        return;
    }
    let paren = t.contains(['(', ')']);
    let star_op = t.contains('*') && t.contains(['|', '&', '@', '!']);
    let operator = t == "|" || t == "&";
    if paren || star_op || operator {
        push(hits, Class::Ldapi, "ldapi.metachar-probe");
    }
}
