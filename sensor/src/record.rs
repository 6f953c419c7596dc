//! One observed request, normalized, as it lives inside the sensor. It holds raw values (the
//! request target, the client address) and therefore never leaves the sensor: the aggregator
//! reduces it to an [`picket_shared::EndpointSummary`] before anything is sent.

use std::net::IpAddr;

/// Request scheme when the source knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A request after parsing, before aggregation. Sources fill what they know and leave client
/// and credential fields to [`crate::identity::Identifier::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestRecord {
    /// Event time: the request's own timestamp (Unix ms).
    pub ts_ms: i64,
    /// Upper-case method.
    pub method: String,
    /// Lower-case host without a default port.
    pub host: String,
    /// Raw request target (path and query). Never sent.
    pub target: String,
    /// Response status; 0 when unknown.
    pub status: u16,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub latency_us: u64,
    pub client_ip: Option<IpAddr>,
    /// Whether the request carried credentials.
    pub auth_present: bool,
    /// How it authenticated.
    pub auth: crate::identity::principal::AuthScheme,
    /// Keyed hash of the credential's identity.
    pub principal: Option<crate::identity::principal::Principal>,
    /// Fields of the request body (JSON or form) with their value shapes, when the source sees
    /// bodies (mirror, HAR).
    pub body_params: Vec<picket_shared::params::Param>,
    /// Injection findings in headers and body, from sources that see them (path and query are
    /// judged by the aggregator).
    pub injections: Vec<picket_shared::inject::Finding>,
    /// Sensitive-data classes found in the response body, from sources that see it (HAR and
    /// JSON-lines replays); counted per endpoint at location `response`.
    pub response_sensitive: Vec<picket_shared::sensitive::Sensitive>,
    /// Label of a suspicious user agent (`scanner:sqlmap`, `payload:jndi`).
    pub agent: Option<&'static str>,
    /// First product token of the user agent (`curl/8.5.0`), for actor summaries; the rest
    /// of the header is never kept.
    pub agent_product: crate::identity::agent::AgentProduct,
    pub scheme: Option<Scheme>,
    /// Media-type label of the request's `Content-Type` ([`picket_shared::media::label`]),
    /// from sources that see request headers; the header's value is never kept.
    pub content_type: Option<&'static str>,
}

pub use picket_shared::limits::{MAX_HOST_BYTES, MAX_METHOD_BYTES};

/// Why a raw request could not be normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Method,
    Target,
}

/// Normalizes a method: upper case, ASCII token characters only.
pub fn normalize_method(raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    let ok = !raw.is_empty()
        && raw.len() <= MAX_METHOD_BYTES
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_ascii_uppercase())
    } else {
        Err(Invalid::Method)
    }
}

/// Normalizes a host: lower case, no trailing dot, default ports removed, bounded length.
pub fn normalize_host(raw: &str, scheme: Option<Scheme>, fallback: &str) -> String {
    // Fast path: a plain lower-case name without port, spaces or trailing dot (most hosts).
    let b = raw.as_bytes();
    if !b.is_empty()
        && b.len() <= MAX_HOST_BYTES
        && b[b.len() - 1] != b'.'
        && raw != "-"
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return raw.to_owned();
    }
    let raw = raw.trim().trim_end_matches('.');
    if raw.is_empty() || raw == "-" {
        return fallback.to_owned();
    }
    let host = match raw.rsplit_once(':') {
        Some((h, "80")) if scheme != Some(Scheme::Https) && !h.ends_with(':') => h,
        Some((h, "443")) if scheme != Some(Scheme::Http) && !h.ends_with(':') => h,
        _ => raw,
    };
    // Fast path: most hosts are already clean lower-case ASCII.
    if host.len() <= MAX_HOST_BYTES
        && host
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    {
        return host.to_owned();
    }
    // Cut by bytes, not characters: the controller's limit is in bytes.
    let mut out = String::with_capacity(host.len().min(MAX_HOST_BYTES));
    for c in host
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
    {
        if out.len() + c.len_utf8() > MAX_HOST_BYTES {
            break;
        }
        out.push(c);
    }
    out.make_ascii_lowercase();
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out
    }
}

/// Validates a request target: an origin-form path, or an absolute URL (proxies log those),
/// which is cut down to its path.
pub fn normalize_target(raw: &str) -> Result<&str, Invalid> {
    let raw = raw.trim();
    if raw.starts_with('/') {
        return Ok(raw);
    }
    for prefix in ["http://", "https://"] {
        if let Some(rest) = raw.strip_prefix(prefix) {
            return Ok(rest.find('/').map_or("/", |i| &rest[i..]));
        }
    }
    if raw == "*" {
        return Ok("/");
    }
    Err(Invalid::Target)
}

/// Whether an address is routable on the public internet (a crude but conservative test).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

/// Parses a client address, tolerating a `:port` suffix and `[v6]:port`.
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let check = |raw: &str, scheme, want: &str| {
            assert_eq!(normalize_host(raw, scheme, "default"), want, "{raw:?}");
        };
        check(
            "API.Example.com:443",
            Some(Scheme::Https),
            "api.example.com",
        );
        check("api.example.com:80", None, "api.example.com");
        check("api.example.com:8080", None, "api.example.com:8080");
        check("api.example.com.", None, "api.example.com");
        check("-", None, "default");
        check("[::1]:443", None, "[::1]");
        check("api-2.example.com", Some(Scheme::Http), "api-2.example.com");
        check("api.example.com..", None, "api.example.com");
        check("", None, "default");
    }

    #[test]
    fn hosts_and_methods_always_pass_the_wire_limits() {
        use picket_shared::limits::{valid_host, valid_method};
        let long_wide = "é".repeat(MAX_HOST_BYTES);
        for raw in [
            long_wide.as_str(),
            "A\u{0}B",
            "  x  ",
            "-",
            "ünï.example:443",
            "a\u{7f}b",
        ] {
            let h = normalize_host(raw, None, "default");
            assert!(valid_host(&h), "{raw:?} -> {h:?}");
        }
        for raw in ["get", "m-search", "PROPFIND"] {
            assert!(valid_method(&normalize_method(raw).unwrap()), "{raw:?}");
        }
    }

    #[test]
    fn targets_and_methods() {
        assert_eq!(normalize_target("/a?b=1"), Ok("/a?b=1"));
        assert_eq!(normalize_target("http://h.example/x/y?z"), Ok("/x/y?z"));
        assert_eq!(normalize_target("https://h.example"), Ok("/"));
        assert_eq!(normalize_target("\\x16\\x03"), Err(Invalid::Target));
        assert_eq!(normalize_method("get"), Ok("GET".to_owned()));
        assert_eq!(normalize_method("G ET"), Err(Invalid::Method));
        assert_eq!(normalize_method(""), Err(Invalid::Method));
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_ip("10.0.0.1:5555"), "10.0.0.1".parse().ok());
        assert_eq!(parse_ip("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip("::1"), "::1".parse().ok());
        assert!(!is_public("10.1.2.3".parse().unwrap()));
        assert!(!is_public("127.0.0.1".parse().unwrap()));
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(is_public("2606:4700::1111".parse().unwrap()));
        assert!(!is_public("fd00::1".parse().unwrap()));
    }
}
