//! The wire limits both sides enforce, defined once: the sensor produces only values within
//! them, and the controller drops (and counts) what lies outside them. A value the sensor
//! emits must always pass the controller's check, so both use the predicates below.

/// Longest host, in bytes (DNS names are at most 253).
pub const MAX_HOST_BYTES: usize = 255;
/// Longest method, in bytes (the longest registered method is 17 bytes long).
pub const MAX_METHOD_BYTES: usize = 24;
/// Longest path template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 4096;
/// Status codes are three digits: anything at or above this is not a status.
pub const MAX_STATUS_EXCLUSIVE: u16 = 1000;
/// Highest histogram bucket index, exclusive (`u64::MAX` falls in bucket 975).
pub const MAX_HISTOGRAM_BUCKET_EXCLUSIVE: u32 = 1_000;
/// Most busiest-client entries per endpoint summary.
pub const MAX_TOP_CLIENTS: usize = 64;
/// Most per-source counters and rejection reasons per sensor report.
pub const MAX_COUNTER_ENTRIES: usize = 64;
/// Longest principal (hex of a keyed hash), in characters.
pub const MAX_PRINCIPAL_HEX: usize = 64;
/// Most parameters tracked per endpoint; further names are not recorded.
pub const MAX_PARAMS_PER_ENDPOINT: usize = 128;
/// Notable events carried by one batch at most; the rest are counted as dropped (their hits
/// still count in the endpoint summaries).
pub const MAX_NOTABLES_PER_BATCH: usize = 512;
/// Labels kept per notable event.
pub const MAX_NOTABLE_LABELS: usize = 16;

/// Most `location:rule` injection keys per endpoint summary.
pub const MAX_INJECTION_KEYS: usize = 64;
/// Most `location:class` sensitive-data keys per endpoint summary.
pub const MAX_SENSITIVE_KEYS: usize = 64;
/// Most suspicious-agent labels per endpoint summary.
pub const MAX_AGENT_KEYS: usize = 32;
/// Most auth-scheme names per endpoint summary, and the longest name, in bytes.
pub const MAX_AUTH_SCHEMES: usize = 16;
pub const MAX_SCHEME_BYTES: usize = 32;
/// Longest notable label (`location:rule`), in bytes.
pub const MAX_LABEL_BYTES: usize = 96;
/// Actor summaries carried by one batch at most; the rest are counted in
/// `SensorCounters::actors_dropped`.
pub const MAX_ACTORS_PER_BATCH: usize = 4096;
/// Object-reference hashes sampled per client activity (the smallest distinct keyed 32-bit
/// hashes of the window: a k-minimum-values sketch the controller merges across windows).
pub const MAX_REF_SAMPLE: usize = 16;
/// Longest user-agent product token (`curl/8.5.0`) an actor summary carries, in bytes.
pub const MAX_AGENT_PRODUCT_BYTES: usize = 64;

/// Text as it may travel: non-empty, at most `max_bytes`, no control characters.
pub fn valid_text(s: &str, max_bytes: usize) -> bool {
    !s.is_empty() && s.len() <= max_bytes && !s.chars().any(char::is_control)
}

/// A host as it may travel: non-empty, at most [`MAX_HOST_BYTES`], no control characters.
pub fn valid_host(host: &str) -> bool {
    valid_text(host, MAX_HOST_BYTES)
}

/// A method as it may travel: upper-case ASCII letters, digits, `-` and `_`, at most
/// [`MAX_METHOD_BYTES`].
pub fn valid_method(method: &str) -> bool {
    valid_text(method, MAX_METHOD_BYTES)
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A path template as it may travel: starts with `/`, at most [`MAX_TEMPLATE_BYTES`], no
/// control characters.
pub fn valid_template(template: &str) -> bool {
    valid_text(template, MAX_TEMPLATE_BYTES) && template.starts_with('/')
}

/// A principal as it may travel: hex, at most [`MAX_PRINCIPAL_HEX`] characters.
pub fn valid_principal(p: &str) -> bool {
    !p.is_empty() && p.len() <= MAX_PRINCIPAL_HEX && p.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A status as it may travel: 0 (unknown) or three digits.
pub fn valid_status(status: u32) -> bool {
    status < u32::from(MAX_STATUS_EXCLUSIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates() {
        assert!(valid_host("api.example.com"));
        assert!(!valid_host(""));
        assert!(!valid_host(&"a".repeat(MAX_HOST_BYTES + 1)));
        assert!(!valid_host("a\u{7}b"));
        assert!(valid_method("GET") && valid_method("M-SEARCH"));
        assert!(!valid_method("get") && !valid_method("G ET"));
        assert!(valid_template("/users/{id}"));
        assert!(!valid_template("users") && !valid_template("/a\nb"));
        assert!(valid_principal("00ff") && !valid_principal("xyz"));
        assert!(valid_status(0) && valid_status(999) && !valid_status(1000));
    }
}
