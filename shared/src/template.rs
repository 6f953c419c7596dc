//! Endpoint templating: `/users/123/orders/9f3a…` → `/users/{id}/orders/{id}`.
//!
//! A path segment becomes the parameter `{id}` when it looks like an identifier rather than a
//! name: numbers, UUIDs, hex strings and ObjectIds, long mixed alphanumerics, dates, emails and
//! base64-ish tokens. Dictionary-like words and version segments (`v1`, `api`) never do.
//! Learned promotion of high-cardinality positions and spec-pushed templates build on this.

/// Placeholder for a parameterized segment.
pub const PARAM: &str = "{id}";
/// Longest path the templater looks at, in bytes; the rest is cut off.
pub const MAX_PATH_BYTES: usize = 2048;
/// Most segments kept; deeper paths end in `{...}`.
pub const MAX_SEGMENTS: usize = 32;

/// The path of a request target: everything before the first `?` or `#`.
pub fn path_of(target: &str) -> &str {
    // Both delimiters are ASCII, so the cut falls on a character boundary.
    let end = target
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    &target[..end]
}

/// Turns a request target (path, optionally with `?query` or `#fragment`) into a template.
///
/// The result always starts with `/`, never ends with `/` (except the root), and holds no
/// empty segments.
pub fn template_path(target: &str) -> String {
    let path = path_of(target);
    let path = truncate_at_char(path, MAX_PATH_BYTES);
    let mut out = String::with_capacity(path.len().min(128) + 1);
    for (index, raw) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        if index == MAX_SEGMENTS {
            out.push_str("/{...}");
            break;
        }
        out.push('/');
        if is_identifier(raw) {
            out.push_str(PARAM);
        } else {
            push_segment(&mut out, raw);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

pub(crate) fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Keeps a literal segment, replacing control characters so a template is always printable.
fn push_segment(out: &mut String, raw: &str) {
    for c in raw.chars() {
        out.push(if c.is_control() { '\u{fffd}' } else { c });
    }
}

/// Whether a single path segment looks like an identifier value.
pub fn is_identifier(seg: &str) -> bool {
    let seg = strip_percent_noise(seg);
    let b = seg.as_bytes();
    // Versions start with `v` or a digit; most segments skip the check.
    if b.is_empty() || (matches!(b[0], b'v' | b'V' | b'0'..=b'9') && is_version(seg)) {
        return false;
    }
    // One pass over the bytes gathers what every rule below needs: the classes all bytes
    // share, the classes some byte has, and the counts of digits and letters.
    let (mut all, mut any, mut digits, mut alpha) = (u8::MAX, 0u8, 0usize, 0usize);
    for &c in b {
        let class = CLASSES[usize::from(c)];
        all &= class;
        any |= class;
        digits += usize::from(class & DIGIT);
        alpha += usize::from((class & ALPHA) >> 1);
    }
    let (allowed, numeric) = (all & ALLOWED != 0, all & NUMERIC != 0);
    let (hex, word, at) = (all & HEX != 0, all & WORD != 0, any & AT != 0);
    // Free text is a value, never a name: API path literals are made of letters, digits and
    // `-._~:@`. Anything else (spaces, quotes, percent-escapes, `;=` matrix parameters,
    // non-ASCII) becomes a parameter, so payloads and personal data never reach a template.
    if !allowed {
        return true;
    }
    // Pure numbers (also with a sign, decimal point or thousands separators).
    if digits > 0 && numeric {
        return true;
    }
    if is_uuid(b) || is_date(b) || (at && is_email(seg)) {
        return true;
    }
    // Hex strings and ObjectIds: 8+ hex characters with at least one digit ("deadbeef" and
    // "facade" stay words).
    if b.len() >= 8 && digits > 0 && hex {
        return true;
    }
    // Long mixed alphanumerics: slugs with digits such as "a7Bx92kLq0".
    if word && digits >= 2 && alpha >= 1 && b.len() >= 10 && !looks_like_name(b) {
        return true;
    }
    // Base64-ish tokens: 20+ characters of the base64/base64url alphabet, mixed case or digits.
    is_base64ish(b, digits)
}

/// Byte classes of [`is_identifier`] (bits of [`CLASSES`]).
const DIGIT: u8 = 1;
const ALPHA: u8 = 2;
/// Letters, digits and `-._~:@`: what a path literal is made of.
const ALLOWED: u8 = 4;
/// Digits and `-+.,`.
const NUMERIC: u8 = 8;
const HEX: u8 = 16;
/// Letters, digits, `-` and `_`.
const WORD: u8 = 32;
const AT: u8 = 64;

/// The classes of every byte value.
const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let digit = c.is_ascii_digit();
        let alpha = c.is_ascii_alphabetic();
        let mut class = 0;
        if digit {
            class |= DIGIT | ALLOWED | NUMERIC | WORD;
        }
        if alpha {
            class |= ALPHA | ALLOWED | WORD;
        }
        if matches!(c, b'-' | b'_' | b'.' | b'~' | b':' | b'@') {
            class |= ALLOWED;
        }
        if matches!(c, b'-' | b'+' | b'.' | b',') {
            class |= NUMERIC;
        }
        if c.is_ascii_hexdigit() {
            class |= HEX;
        }
        if matches!(c, b'-' | b'_') {
            class |= WORD;
        }
        if c == b'@' {
            class |= AT;
        }
        t[i] = class;
        i += 1;
    }
    t
};

fn strip_percent_noise(seg: &str) -> &str {
    // Spaces and tabs are ASCII, so the cuts fall on character boundaries.
    let noise = |c: &u8| *c == b' ' || *c == b'\t';
    let b = seg.as_bytes();
    let start = b.iter().position(|c| !noise(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !noise(c)).map_or(start, |e| e + 1);
    &seg[start..end]
}

/// `v1`, `v2`, `v1.2`, `V3beta`, `2.0`, `1.1`… are API versions and never parameters.
fn is_version(seg: &str) -> bool {
    let b = seg.as_bytes();
    // Dotted small numbers ("2.0", "1.1", "3.2.1"): Bitbucket- and Twitter-style versions.
    let dots = b.iter().filter(|c| **c == b'.').count();
    if (1..=2).contains(&dots)
        && seg
            .split('.')
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
    {
        return true;
    }
    if b.len() < 2 || b.len() > 10 || !matches!(b[0], b'v' | b'V') || !b[1].is_ascii_digit() {
        return false;
    }
    let rest = &seg[1..];
    let digits_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let suffix = &rest[digits_end..];
    suffix.is_empty()
        || ["alpha", "beta", "rc"]
            .iter()
            .any(|s| suffix.starts_with(s))
}

pub(crate) fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `2024-01-31`, `20240131`, `2024-01-31T10:00:00Z`.
pub(crate) fn is_date(b: &[u8]) -> bool {
    let ymd = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    ymd && (b.len() == 10 || b[10] == b'T' || b[10] == b't')
}

pub(crate) fn is_email(seg: &str) -> bool {
    let Some((local, domain)) = seg.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

/// Segments such as `report2024q1` or `ipv6-settings-2` read as names: a few letters-only runs
/// separated by digits or dashes. Identifiers alternate letters and digits far more often.
fn looks_like_name(b: &[u8]) -> bool {
    let mut switches = 0;
    for w in b.windows(2) {
        if w[0].is_ascii_digit() != w[1].is_ascii_digit() {
            switches += 1;
        }
    }
    switches <= 2 && b.len() < 16
}

fn is_base64ish(b: &[u8], digits: usize) -> bool {
    if b.len() < 20 {
        return false;
    }
    let body = b
        .strip_suffix(b"==")
        .or_else(|| b.strip_suffix(b"="))
        .unwrap_or(b);
    let alphabet = body
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_'));
    let upper = body.iter().any(u8::is_ascii_uppercase);
    let lower = body.iter().any(u8::is_ascii_lowercase);
    let mixed = digits > 0 || (upper && lower);
    // Dashed slugs ("how-to-build-a-birdhouse") are names unless digits dominate.
    alphabet && ((mixed && !body.contains(&b'-')) || digits >= 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, want: &str) {
        assert_eq!(template_path(input), want, "input {input:?}");
    }

    #[test]
    fn table() {
        check("/", "/");
        check("", "/");
        check("/users/123", "/users/{id}");
        check("/users/123/orders/9f3a1c2b7e", "/users/{id}/orders/{id}");
        check(
            "/api/v1/items/550e8400-e29b-41d4-a716-446655440000",
            "/api/v1/items/{id}",
        );
        check("/api/v2.1/items?limit=10", "/api/v2.1/items");
        check("/objects/507f1f77bcf86cd799439011", "/objects/{id}");
        check("/reports/2024-01-31", "/reports/{id}");
        check("/users/jane.doe@example.com/profile", "/users/{id}/profile");
        check("/tokens/eyJhbGciOiJIUzI1NiIsInR5cCI6", "/tokens/{id}");
        check("/codes/a7Bx92kLq0Zp", "/codes/{id}");
        check("//double//slashes/", "/double/slashes");
        check("/health#frag", "/health");
        check("/deadbeef", "/deadbeef");
        check("/facade", "/facade");
        check("/users/me/settings", "/users/me/settings");
        check("/prices/-12.50", "/prices/{id}");
        check("/prices/1250.00", "/prices/{id}");
        check("/2.0/users/7", "/2.0/users/{id}");
        check("/1.1/statuses/show.json", "/1.1/statuses/show.json");
        check("/ipv6-settings", "/ipv6-settings");
        check("/oauth2/token", "/oauth2/token");
        check("/s3/buckets", "/s3/buckets");
        check("/products/sku-10293", "/products/sku-10293");
        check("/search/%27%20OR%201%3D1--", "/search/{id}");
        check("/search/' OR 1=1--", "/search/{id}");
        check("/cart;jsessionid=ABC123", "/{id}");
        check("/wiki/Straße", "/wiki/{id}");
        check("/cards/4111-1111-1111-1111", "/cards/{id}");
        check("/v1/items:batchGet", "/v1/items:batchGet");
    }

    /// The rules as first written, one scan per rule.
    fn is_identifier_reference(seg: &str) -> bool {
        let seg = seg.trim_matches(|c: char| c == ' ' || c == '\t');
        if seg.is_empty() || is_version(seg) {
            return false;
        }
        let b = seg.as_bytes();
        if !b.iter().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b':' | b'@')
        }) {
            return true;
        }
        let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
        let alpha = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
        if digits > 0
            && b.iter()
                .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b','))
        {
            return true;
        }
        if is_uuid(b) || is_date(b) || is_email(seg) {
            return true;
        }
        if b.len() >= 8 && digits > 0 && b.iter().all(u8::is_ascii_hexdigit) {
            return true;
        }
        let word_chars = b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'));
        if word_chars && digits >= 2 && alpha >= 1 && b.len() >= 10 && !looks_like_name(b) {
            return true;
        }
        is_base64ish(b, digits)
    }

    proptest! {
        #[test]
        fn one_scan_equals_the_rules(
            seg in "[ \t]?([a-fA-F0-9]{1,6}|[vV][0-9]|[a-z]{1,5}|[-_.~:@+,]|[0-9]{1,4}|%2F|é| |\t|;=){0,8}[ \t]?"
        ) {
            prop_assert_eq!(is_identifier(&seg), is_identifier_reference(&seg), "{:?}", seg);
        }

        #[test]
        fn one_scan_equals_the_rules_anywhere(seg in "\\PC{0,40}") {
            prop_assert_eq!(is_identifier(&seg), is_identifier_reference(&seg), "{:?}", seg);
        }
    }

    #[test]
    fn deep_paths_are_capped() {
        let deep = "/a".repeat(100);
        let t = template_path(&deep);
        assert!(t.ends_with("/{...}"));
        assert_eq!(t.matches('/').count(), MAX_SEGMENTS + 1);
    }

    proptest! {
        #[test]
        fn templates_are_well_formed(path in "\\PC{0,300}") {
            let t = template_path(&path);
            prop_assert!(t.starts_with('/'));
            prop_assert!(t == "/" || !t.ends_with('/'));
            prop_assert!(!t.contains("//"));
            prop_assert!(!t.chars().any(char::is_control));
            prop_assert!(t.len() <= MAX_PATH_BYTES * 3 + 16);
        }

        #[test]
        fn numbers_always_become_params(prefix in "[a-z]{1,8}", n in any::<u64>()) {
            prop_assert_eq!(template_path(&format!("/{prefix}/{n}")), format!("/{prefix}/{{id}}"));
        }

        #[test]
        fn templating_is_idempotent(path in "(/[a-zA-Z0-9._-]{0,12}){0,8}") {
            let once = template_path(&path);
            prop_assert_eq!(template_path(&once), once.clone());
        }
    }
}
