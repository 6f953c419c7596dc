//! XML and HTML request bodies judged as documents: the document as a whole for external
//! entities and server-side includes, each tag for script-capable content (script elements,
//! event handlers, script URLs), and each text node and attribute value as a value of its own
//! (an injection in a SOAP field is still one). Ordinary markup — the document's own elements —
//! is not an attack.

use super::{Hit, Location, Text, Verdict, decode, scan_canonical, ssi, xss, xxe};

/// Most tags, text nodes and attribute values judged per document.
const MAX_NODES: usize = 512;

/// Whether a body is a markup document: by content type, or by an XML prolog or HTML doctype.
pub fn is_document(content_type: &str, body: &[u8]) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    if ct.ends_with("/xml") || ct.ends_with("+xml") || ct == "text/html" {
        return true;
    }
    let head = body.trim_ascii_start();
    let head = &head[..head.len().min(16)];
    head.starts_with(b"<?xml") || head.to_ascii_lowercase().starts_with(b"<!doctype html")
}

/// Judges a document body.
pub fn scan(doc: &str, v: &mut Verdict, hits: &mut Vec<Hit>) {
    let canonical = decode::canonical(doc, false);
    let whole = Text::new(&canonical);
    hits.clear();
    xxe::scan(&whole, hits);
    ssi::scan(&whole, hits);
    v.add(hits, Location::Body);
    let lower = doc.to_ascii_lowercase();
    let mut budget = MAX_NODES;
    walk(&lower, &mut |node| {
        hits.clear();
        match node {
            Node::Tag(tag) => xss::document_tag(&decode::canonical(tag, false), hits),
            Node::Text(text) => {
                scan_canonical(&decode::canonical(text, false), hits);
                // Text is text: escaped markup in it (`&lt;b&gt;`) is content, not structure;
                // the markup detector judges structure only, which the walk already did.
                hits.retain(|h| !matches!(h.rule, "xss.markup" | "xss.bracket-probe"));
            }
        }
        v.add(hits, Location::Body);
        budget -= 1;
        budget > 0
    });
}

enum Node<'a> {
    /// A start or end tag's inside (`name attr="v"`).
    Tag(&'a str),
    /// A text node, CDATA content or attribute value.
    Text(&'a str),
}

/// Visits the tags, text nodes and attribute values of lower-cased `doc` until `f` says stop.
fn walk<'a>(doc: &'a str, f: &mut impl FnMut(Node<'a>) -> bool) {
    let mut rest = doc;
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        let text = rest[..lt].trim();
        if !text.is_empty() && !f(Node::Text(text)) {
            return;
        }
        rest = &rest[lt..];
        if rest.is_empty() {
            return;
        }
        let (node, next) = markup_at(rest);
        rest = next;
        let go_on = match node {
            Some(Node::Tag(tag)) => f(Node::Tag(tag)) && attribute_values(tag, f),
            Some(node) => f(node),
            None => true,
        };
        if !go_on {
            return;
        }
    }
}

/// `s` after the first `end`, or nothing.
fn skip<'a>(end: &str, s: &'a str) -> &'a str {
    match s.find(end) {
        Some(p) => &s[p + end.len()..],
        None => "",
    }
}

/// The construct at a `<`: comments, declarations and processing instructions are skipped
/// (the whole-document pass judges them), CDATA is text, anything else a tag.
fn markup_at(s: &str) -> (Option<Node<'_>>, &str) {
    if s.starts_with("<!--") {
        (None, skip("-->", s))
    } else if let Some(body) = s.strip_prefix("<![cdata[") {
        let end = body.find("]]>").unwrap_or(body.len());
        (Some(Node::Text(&body[..end])), skip("]]>", body))
    } else if s.starts_with("<!") {
        // A doctype may hold an internal subset with `>` inside brackets.
        let end = match (s.find('['), s.find('>')) {
            (Some(b), Some(g)) if b < g => s.find("]>").map_or(s.len(), |p| p + 2),
            (_, Some(g)) => g + 1,
            _ => s.len(),
        };
        (None, &s[end..])
    } else if s.starts_with("<?") {
        (None, skip("?>", s))
    } else {
        let end = s.find('>').unwrap_or(s.len());
        let tag = &s[1..end];
        (Some(Node::Tag(tag)), s.get(end + 1..).unwrap_or(""))
    }
}

/// Visits a tag's attribute values (quoted or bare).
fn attribute_values<'a>(tag: &'a str, f: &mut impl FnMut(Node<'a>) -> bool) -> bool {
    let mut rest = tag;
    while let Some(eq) = rest.find('=') {
        let after = rest[eq + 1..].trim_start();
        let (value, next) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let end = after[1..].find(q).map_or(after.len(), |p| p + 1);
                (&after[1..end], after.get(end + 1..).unwrap_or(""))
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        if !value.is_empty() && !f(Node::Text(value)) {
            return false;
        }
        rest = next;
    }
    true
}
