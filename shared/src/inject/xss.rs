//! Cross-site scripting: markup that runs script (script-capable tags, event-handler attributes,
//! script URLs, CSS expressions) and script that breaks out of a JavaScript string into a sink
//! call. Plain rich text (`<b>`, `<p>`, `a < b`) is not flagged.

use super::decode::truncate;
use super::{Class, Hit, Needles, Text, has, trim_start, word_at};
use std::sync::LazyLock;

/// Tags that run or load script by themselves.
const ACTIVE_TAGS: &[&str] = &[
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "meta",
    "base", "link", "style", "xml", "isindex", "import", "xss", "bgsound", "layer", "ilayer",
    "vmlframe", "xmp", "noscript", "template", "portal", "animate", "set", "handler", "listener",
];

/// Document-structure and form tags: injected even without attributes.
const STRUCTURAL: &[&str] = &[
    "html",
    "head",
    "body",
    "title",
    "form",
    "input",
    "button",
    "textarea",
    "select",
    "option",
    "video",
    "audio",
    "source",
    "image",
    "img",
    "marquee",
    "details",
    "dialog",
    "plaintext",
    "keygen",
    "textarea",
    "canvas",
    "picture",
    "track",
    "map",
    "area",
    "param",
    "svg:svg",
];

/// JavaScript functions and properties an injected script reaches for.
const SINKS: &[&str] = &[
    "alert",
    "prompt",
    "confirm",
    "eval",
    "settimeout",
    "setinterval",
    "fromcharcode",
    "atob",
    "execscript",
    "importscripts",
    "print",
];

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Xss,
            rule,
        });
    }
}

/// Removes characters browsers ignore inside a scheme name (`java\tscript:`, `java&#x0A;script:`).
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r' | '\u{b}' | '\u{c}' | '\0' | '\\'))
        .collect()
}

fn tag_name(after_lt: &str) -> &str {
    if !after_lt.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return "";
    }
    let end = after_lt
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-'))
        .unwrap_or(after_lt.len());
    &after_lt[..end]
}

/// Undoes JavaScript and CSS escapes (`\x3c`, `\u003c`, `\3c`) attackers use inside strings.
fn js_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        rest = &rest[p + 1..];
        let (digits, skip) = if let Some(h) = rest.strip_prefix('x') {
            (truncate(h, 2), 1)
        } else if let Some(h) = rest.strip_prefix("u{") {
            (truncate(h, h.find('}').unwrap_or(0).min(6)), 3)
        } else if let Some(h) = rest.strip_prefix('u') {
            (truncate(h, 4), 1)
        } else {
            (truncate(rest, 6), 0)
        };
        let len = digits.bytes().take_while(u8::is_ascii_hexdigit).count();
        if len >= 2
            && let Some(c) = u32::from_str_radix(&digits[..len], 16)
                .ok()
                .and_then(char::from_u32)
        {
            out.push(c);
            rest = &rest[skip + len + usize::from(skip == 3)..];
            continue;
        }
        out.push('\\');
    }
    out.push_str(rest);
    out.make_ascii_lowercase();
    out
}

/// Appends XSS hits for canonical (decoded, lower-case) `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    if tx.byte(b'\\') {
        let unescaped = js_unescape(text);
        if unescaped != text {
            scan_view(&Text::new(&unescaped), hits);
        }
    }
    // A lone angle bracket, however encoded, probes for markup injection.
    if matches!(text.trim(), "<" | ">" | "<>" | "\"<" | "'<" | "\">" | "'>") {
        push(hits, "xss.bracket-probe");
    }
    scan_view(tx, hits);
}

fn scan_view(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    let has_lt = tx.byte(b'<');
    if has_lt {
        for (i, _) in text.match_indices('<') {
            let rest = &text[i + 1..];
            let rest = rest.strip_prefix('/').unwrap_or(rest);
            let name = tag_name(rest);
            if name.is_empty() {
                // Comments, doctypes, entity declarations and processing instructions.
                if (rest.starts_with("!--") && !rest.starts_with("!--#"))
                    || rest.starts_with("!doctype")
                    || rest.starts_with("!entity")
                    || rest.starts_with("!attlist")
                    || rest.starts_with("![cdata[")
                    || rest.starts_with("?xml")
                    || rest.starts_with("?import")
                {
                    push(hits, "xss.markup");
                }
                continue;
            }
            let after = rest[name.len()..].chars().next();
            let boundary = matches!(
                after,
                None | Some(
                    ' ' | '/' | '>' | '\t' | '\n' | '\r' | '\u{c}' | '\\' | '"' | '\'' | '+' | '&'
                )
            );
            if boundary && ACTIVE_TAGS.contains(&name) {
                push(hits, "xss.script-tag");
            }
            if boundary
                && !is_formatting(name, &rest[name.len()..])
                && (STRUCTURAL.contains(&name)
                    || rest[name.len()..]
                        .split('>')
                        .next()
                        .unwrap_or("")
                        .contains('='))
            {
                push(hits, "xss.markup");
            }
            // Any tag carrying a handler or a script URL in its attributes.
            let tag_end = rest.find('>').unwrap_or(rest.len()).max(name.len());
            let attrs = truncate(&rest[name.len()..tag_end], 2048);
            if boundary && handler_attr(attrs) {
                push(hits, "xss.event-handler");
            }
        }
    }
    // Attribute breakout without a new tag: `" onmouseover="alert(1)`.
    if tx.any(b"\"'/") && handler_attr(text) && looks_scripted(text) {
        push(hits, "xss.event-handler");
    }
    script_urls(tx, hits);
    if tx.has("data:") {
        let s = squeeze(text);
        if has(&s, "data:text/html")
            || has(&s, "data:image/svg")
            || has(&s, "data:application/x")
            || has(&s, ";base64,ph")
        {
            push(hits, "xss.data-url");
        }
    }
    if tx.has("expression(") || tx.has("behavior:url(") || tx.has("-moz-binding") {
        push(hits, "xss.css-expression");
    }
    if tx.byte(b'(') || tx.byte(b'`') || tx.byte(b'=') || tx.byte(b'.') {
        js_sinks(tx, hits);
    }
}

/// `javascript:`, `vbscript:` and `livescript:` URLs followed by code.
fn script_urls(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    if tx.has("script:")
        || tx.has("script&colon")
        || tx.has("script\\")
        || tx.has("script\t")
        || tx.has("scr")
    {
        let s = squeeze(text);
        for scheme in ["javascript:", "vbscript:", "livescript:"] {
            if let Some(p) = s.find(scheme) {
                let code = s[p + scheme.len()..].trim_start();
                if code
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || "\"'(`[/{;".contains(c))
                {
                    push(hits, "xss.script-url");
                }
            }
        }
    }
}

/// Elements that run or load script in an XML or HTML document by themselves (a document's
/// own `<link>`, `<set>` or `<template>` elements are ordinary markup there).
const DOCUMENT_SCRIPT_TAGS: &[&str] = &[
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "portal",
];

/// Judges one tag of a document (lower case, `<` and `>` excluded: `name attrs…`): a
/// script-capable element, an event-handler attribute or a script URL; plain markup is not.
pub fn document_tag(tag: &str, hits: &mut Vec<Hit>) {
    let tag = tag.strip_prefix('/').unwrap_or(tag);
    let name = tag_name(tag);
    let local = name.rsplit(':').next().unwrap_or(name);
    if DOCUMENT_SCRIPT_TAGS.contains(&local) {
        push(hits, "xss.script-tag");
    }
    let attrs = truncate(&tag[name.len()..], 4096);
    if handler_attr(attrs) {
        push(hits, "xss.event-handler");
    }
    let tx = Text::new(attrs);
    script_urls(&tx, hits);
    if tx.has("expression(") || tx.has("-moz-binding") {
        push(hits, "xss.css-expression");
    }
}

/// Rich-text formatting users legitimately send (`<b>`, `<p>`, `<a href="https://…">`); any
/// other tag, or these with style, source or data attributes, is injected markup.
fn is_formatting(name: &str, after: &str) -> bool {
    const PLAIN: &[&str] = &[
        "b",
        "i",
        "u",
        "s",
        "em",
        "strong",
        "p",
        "br",
        "hr",
        "span",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "code",
        "pre",
        "sub",
        "sup",
        "small",
        "mark",
        "del",
        "ins",
        "q",
        "cite",
        "abbr",
        "dl",
        "dt",
        "dd",
        "a",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "td",
        "th",
        "caption",
        "figure",
        "figcaption",
        "kbd",
        "var",
        "samp",
    ];
    if !PLAIN.contains(&name) && name != "img" {
        return false;
    }
    let attrs = truncate(after, after.find('>').unwrap_or(after.len()).min(512));
    ![
        "style",
        "src",
        "data",
        "xmlns",
        "formaction",
        "background",
        "dyn",
        "lowsrc",
        "behavior",
    ]
    .iter()
    .any(|a| attrs.contains(a))
        || name == "img" && !has(attrs, "on") && !has(attrs, "src=") && !has(attrs, "src =")
        || name == "img" && attrs.trim_end().ends_with("src=")
}

/// Whether `attrs` holds `on<event>=` or a script URL as an attribute.
fn handler_attr(attrs: &str) -> bool {
    let b = attrs.as_bytes();
    let mut from = 0;
    while let Some(p) = super::find(&attrs[from..], "on") {
        let i = from + p;
        from = i + 2;
        let before = if i == 0 { b' ' } else { b[i - 1] };
        if !matches!(
            before,
            b' ' | b'/' | b'"' | b'\'' | b'\t' | b'\n' | b'\r' | b'\x0c' | b';' | b'+' | b'`'
        ) {
            continue;
        }
        let mut j = i + 2;
        while j < b.len() && b[j].is_ascii_lowercase() {
            j += 1;
        }
        if j - (i + 2) < 3 {
            continue;
        }
        while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/') {
            j += 1;
        }
        if b.get(j) == Some(&b'=') && j + 1 < b.len() {
            return true;
        }
    }
    false
}

/// Attribute breakouts need more than `on…=` to count: a call, a quote, or markup.
fn looks_scripted(text: &str) -> bool {
    text.contains('(') || text.contains('`') || text.contains('>') || has(text, "&#")
}

/// Calls of script sinks, and reads of what injected script steals.
fn js_sinks(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    let text = tx.s;
    static SINK_WORDS: LazyLock<Needles> = LazyLock::new(|| Needles::new(SINKS));
    for (sink, i) in SINK_WORDS.all(tx) {
        let end = i + sink.len();
        if !word_at(text, i, end) {
            continue;
        }
        let after = trim_start(&text[end..], b" \t\n\r");
        let called = after.starts_with('(') && !after.starts_with("()")
            || after.starts_with('`')
            || after.starts_with(")(")
            || after.starts_with("()") && sink != "print"
            || after.starts_with(".call(")
            || after.starts_with(".apply(")
            || after.starts_with(".bind(");
        // `(alert)(1)`, `[alert][0](1)`, `top['al'+'ert']`.
        if called && (sink != "print" || text[..i].ends_with("window.") || text[..i].ends_with(';'))
        {
            push(hits, "xss.js-call");
            return;
        }
    }
    static DOM: LazyLock<Needles> = LazyLock::new(|| {
        Needles::new(&[
            "document.cookie",
            "document.domain",
            "document.write(",
            "document.location",
            "window.location",
            "location.href=",
            ".innerhtml=",
            ".outerhtml=",
            "constructor(",
            "constructor.constructor",
            "string.fromcharcode",
            "top[",
            "self[",
            "window[",
            "parent[",
            "globalthis[",
            "new function(",
            "window.open(",
        ])
    });
    if DOM.is_match(tx) {
        push(hits, "xss.dom-access");
    }
}
