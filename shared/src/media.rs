//! Request media types reduced to a fixed, bounded vocabulary of labels.
//!
//! The sensor never sends a header value: a request's `Content-Type` travels only as one of
//! [`LABELS`], counted per endpoint. The controller maps a spec's documented media types with the
//! same function, so both sides agree on what "the same content type" means.

/// Every label a request media type can map to. The wire carries nothing else.
pub const LABELS: [&str; 8] = [
    "json",
    "xml",
    "form",
    "multipart",
    "text",
    "octet",
    "graphql",
    "other",
];

/// Longest media-type essence (`type/subtype`, parameters cut) judged; longer values are `other`.
pub const MAX_ESSENCE_BYTES: usize = 255;

/// Whether `s` is one of [`LABELS`].
pub fn is_label(s: &str) -> bool {
    LABELS.contains(&s)
}

/// The label of a `Content-Type` value: case-insensitive, parameters (`; charset=utf-8`)
/// ignored, `+json` / `+xml` structured-syntax suffixes honoured. Anything that is not a
/// well-formed `type/subtype` (empty, junk, over [`MAX_ESSENCE_BYTES`]) is `other`.
pub fn label(content_type: &str) -> &'static str {
    match essence(content_type) {
        Some((ty, sub)) => label_of(&ty, &sub),
        None => "other",
    }
}

/// The label of a request's `Content-Type` header, `None` when it has none or a blank one
/// (nothing to count).
pub fn header_label(value: Option<&str>) -> Option<&'static str> {
    value.filter(|v| !v.trim().is_empty()).map(label)
}

/// Whether a documented media type or range (a spec's request-body key) covers `label`: its own
/// label does, `*/*` covers every label, and `type/*` every label a media type of that type maps
/// to. A malformed documented key covers only `other`.
pub fn covers(documented: &str, label: &str) -> bool {
    let Some((ty, sub)) = essence_or_range(documented) else {
        return label == "other";
    };
    if sub != "*" {
        return label_of(&ty, &sub) == label;
    }
    match ty.as_str() {
        "*" => true,
        "multipart" => label == "multipart",
        "text" => matches!(label, "text" | "xml" | "json"),
        "application" => !matches!(label, "multipart" | "text"),
        _ => label == "other",
    }
}

fn label_of(ty: &str, sub: &str) -> &'static str {
    let suffix = |s: &str| sub == s || sub.ends_with(&format!("+{s}"));
    if sub == "graphql" || sub.starts_with("graphql+") {
        "graphql"
    } else if ty == "multipart" {
        "multipart"
    } else if suffix("json") || sub == "x-json" {
        "json"
    } else if suffix("xml") {
        "xml"
    } else if ty == "application" && sub == "x-www-form-urlencoded" {
        "form"
    } else if ty == "application" && sub == "octet-stream" {
        "octet"
    } else if ty == "text" {
        "text"
    } else {
        "other"
    }
}

/// `type` and `subtype`, lower-cased, when both are non-empty RFC 9110 tokens.
fn essence(value: &str) -> Option<(String, String)> {
    let (ty, sub) = split(value)?;
    (is_token(ty) && is_token(sub)).then(|| (ty.to_ascii_lowercase(), sub.to_ascii_lowercase()))
}

/// Like [`essence`], also accepting the ranges `*/*` and `type/*` of a spec.
fn essence_or_range(value: &str) -> Option<(String, String)> {
    let (ty, sub) = split(value)?;
    let ok = (ty == "*" && sub == "*") || (is_token(ty) && (sub == "*" || is_token(sub)));
    ok.then(|| (ty.to_ascii_lowercase(), sub.to_ascii_lowercase()))
}

fn split(value: &str) -> Option<(&str, &str)> {
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.len() > MAX_ESSENCE_BYTES {
        return None;
    }
    let (ty, sub) = essence.split_once('/')?;
    Some((ty, sub))
}

fn is_token(s: &str) -> bool {
    // RFC 9110 `tchar`, less `*` (kept for the ranges of a spec).
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_media_types_get_their_labels() {
        for (value, want) in [
            ("application/json", "json"),
            ("Application/JSON; charset=UTF-8", "json"),
            ("  application/json ;charset=utf-8", "json"),
            ("application/vnd.api+json", "json"),
            ("application/merge-patch+json", "json"),
            ("application/problem+JSON", "json"),
            ("text/json", "json"),
            ("application/x-json", "json"),
            ("application/xml", "xml"),
            ("text/xml; charset=iso-8859-1", "xml"),
            ("application/soap+xml", "xml"),
            ("application/x-www-form-urlencoded", "form"),
            ("multipart/form-data; boundary=----x", "multipart"),
            ("multipart/mixed", "multipart"),
            ("text/plain", "text"),
            ("text/csv", "text"),
            ("text/xml-ish", "text"),
            ("application/octet-stream", "octet"),
            ("application/graphql", "graphql"),
            ("application/graphql+json", "graphql"),
            ("image/png", "other"),
            ("application/pdf", "other"),
        ] {
            assert_eq!(label(value), want, "{value}");
            assert!(is_label(label(value)));
        }
    }

    /// Junk, hostile and look-alike values never panic and never reach a real label.
    #[test]
    fn hostile_values_are_other() {
        let long = format!("application/{}json", "a".repeat(10_000));
        let long_suffix = format!("application/{}+json", "x".repeat(MAX_ESSENCE_BYTES));
        for value in [
            "",
            ";",
            "/",
            "json",
            "application/",
            "/json",
            "application json",
            "application/json/xml",
            "appli cation/json",
            "application/js\u{0}on",
            "application/jsön",
            "∕json/json",
            "application/x-www-form-urlencoded\u{7f}",
            "*/*",
            "application/*",
            "application/jsonp",
            "application/json-seq",
            "application/xjson",
            long.as_str(),
            long_suffix.as_str(),
        ] {
            assert_eq!(label(value), "other", "{value:?}");
        }
    }

    #[test]
    fn a_missing_or_blank_header_has_no_label() {
        assert_eq!(header_label(None), None);
        assert_eq!(header_label(Some("")), None);
        assert_eq!(header_label(Some(" \t")), None);
        assert_eq!(header_label(Some(";")), Some("other"));
        assert_eq!(header_label(Some("text/plain")), Some("text"));
    }

    #[test]
    fn documented_types_and_ranges_cover_labels() {
        assert!(covers("application/json", "json"));
        assert!(covers("application/json; charset=utf-8", "json"));
        assert!(covers("application/vnd.api+json", "json"));
        assert!(!covers("application/json", "xml"));
        assert!(!covers("application/xml", "json"));
        assert!(covers("*/*", "xml"));
        assert!(covers("*/*", "other"));
        assert!(covers("application/*", "json"));
        assert!(covers("application/*", "form"));
        assert!(!covers("application/*", "multipart"));
        assert!(covers("multipart/*", "multipart"));
        assert!(!covers("multipart/*", "json"));
        assert!(covers("text/*", "text"));
        assert!(!covers("text/*", "octet"));
        assert!(covers("image/*", "other"));
        assert!(!covers("image/*", "json"));
        assert!(!covers("not a type", "json"));
        assert!(!covers("*/json", "json"));
        for l in LABELS {
            assert!(covers("*/*", l));
        }
    }
}
