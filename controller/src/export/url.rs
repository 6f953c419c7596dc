//! Webhook URL validation: what a destination may point at.
//!
//! Only `http://` and `https://` with a host, no userinfo, no fragment, at most
//! [`MAX_URL_BYTES`]. Refused hosts: link-local and cloud-metadata literals (169.254.0.0/16,
//! fe80::/10, `fd00:ec2::254`, `metadata.google.internal`), unspecified and broadcast
//! addresses, and numeric hosts that are not a plain dotted quad (`2130706433`, `0x7f.1`),
//! which resolvers read as addresses in ways a reader of the URL would not. Plain `http://`
//! is for loopback only unless `[webhooks] allow_plain_http` says otherwise. The same address
//! rules are applied again to what a name resolves to, at every connection ([`check_ip`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest destination URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// A validated destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Path and query as given ("/" when empty).
    pub path: String,
}

impl Target {
    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Parses and checks a destination URL; the error says what is wrong.
pub fn parse(url: &str, allow_plain_http: bool) -> Result<Target, String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!(
            "url is {} bytes, the limit is {MAX_URL_BYTES}",
            url.len()
        ));
    }
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("url contains whitespace or control characters".into());
    }
    if url.contains('#') {
        return Err("url must not contain a fragment (#)".into());
    }
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("https://") {
        (true, &url["https://".len()..])
    } else if lower.starts_with("http://") {
        (false, &url["http://".len()..])
    } else {
        return Err("url must start with http:// or https://".into());
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("url must not contain userinfo (user@host)".into());
    }
    let (host, port) = split_authority(authority, if https { 443 } else { 80 })?;
    check_host(&host)?;
    if !https && !allow_plain_http && !is_loopback_host(&host) {
        return Err(format!(
            "plain http:// to {host} is refused: use https://, or set [webhooks] allow_plain_http = true"
        ));
    }
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    Ok(Target {
        https,
        host,
        port,
        path,
    })
}

fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']').ok_or("url has an unclosed [ in its host")?;
        let after = &v6[close + 1..];
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("url has text after its [address]")?,
            ),
        };
        let addr: Ipv6Addr = v6[..close]
            .parse()
            .map_err(|_| "url's [host] is not an IPv6 address")?;
        (addr.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err("url has no host".into());
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("url port {p:?} is not a number from 1 to 65535")),
        },
    };
    Ok((host, port))
}

fn check_host(host: &str) -> Result<(), String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return check_ip(ip);
    }
    if host.len() > 253
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(format!("url host {host:?} is not a valid host name"));
    }
    let last = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
        return Err(format!(
            "url host {host:?} is a numeric address in a non-standard form"
        ));
    }
    if matches!(
        host.trim_end_matches('.'),
        "metadata.google.internal" | "metadata" | "instance-data"
    ) {
        return Err(format!("url host {host} is a cloud metadata service"));
    }
    Ok(())
}

/// Refuses addresses a destination must never reach: unspecified, broadcast, link-local
/// (cloud metadata lives there) and the AWS IPv6 metadata address; IPv4-mapped IPv6
/// addresses are judged as IPv4.
pub fn check_ip(ip: IpAddr) -> Result<(), String> {
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    let bad = match (v4, ip) {
        (Some(v4), _) => v4.is_unspecified() || v4.is_link_local() || v4 == Ipv4Addr::BROADCAST,
        (None, IpAddr::V6(v6)) => {
            v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
        (None, IpAddr::V4(_)) => false,
    };
    if bad {
        Err(format!(
            "address {ip} is refused (unspecified, link-local or cloud metadata)"
        ))
    } else {
        Ok(())
    }
}

fn is_loopback_host(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback())
        }
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, allow_plain: bool) -> Result<Target, String> {
        parse(url, allow_plain)
    }

    #[test]
    fn good_urls_parse() {
        let t = check("https://hooks.example.com/picket?x=1", false).unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (true, "hooks.example.com", 443, "/picket?x=1")
        );
        assert_eq!(t.authority(), "hooks.example.com");
        let t = check("http://127.0.0.1:8080", false).unwrap();
        assert_eq!((t.port, t.path.as_str()), (8080, "/"));
        assert_eq!(t.authority(), "127.0.0.1:8080");
        let t = check("HTTP://[::1]:9000/h", false).unwrap();
        assert_eq!(
            (t.host.as_str(), t.authority().as_str()),
            ("::1", "[::1]:9000")
        );
        assert!(check("http://localhost:1/x", false).is_ok());
        assert!(check("http://siem.internal:8088/ingest", true).is_ok());
        assert!(
            check("https://10.0.0.5/x", false).is_ok(),
            "private is allowed over https"
        );
        assert_eq!(check("https://h.example?q", false).unwrap().path, "/?q");
    }

    #[test]
    fn hostile_urls_are_refused() {
        for (url, why) in [
            ("ftp://example.com/", "must start with"),
            ("file:///etc/passwd", "must start with"),
            ("https://", "no host"),
            ("https://:443/", "no host"),
            ("https://user:pw@example.com/", "userinfo"),
            ("https://example.com@169.254.169.254/", "userinfo"),
            ("https://example.com/#frag", "fragment"),
            ("https://169.254.169.254/latest/meta-data", "refused"),
            ("https://[fe80::1]/", "refused"),
            ("https://[::ffff:169.254.169.254]/", "refused"),
            ("https://[fd00:ec2::254]/", "refused"),
            ("https://0.0.0.0/", "refused"),
            ("https://[::]/", "refused"),
            ("https://255.255.255.255/", "refused"),
            (
                "https://metadata.google.internal/computeMetadata/v1/",
                "metadata",
            ),
            ("https://2852039166/", "non-standard"),
            ("https://0xa9.0xfe.0xa9.0xfe/", "non-standard"),
            ("https://169.254.43518/", "non-standard"),
            ("http://example.com/", "plain http"),
            ("http://10.1.2.3/", "plain http"),
            ("https://example.com:0/", "port"),
            ("https://example.com:99999/", "port"),
            ("https://exa mple.com/", "whitespace"),
            ("https://example.com/\r\nX: y", "control"),
            ("https://ex_ample.com/", "not a valid host name"),
            ("https://[::1/", "unclosed"),
        ] {
            let err = check(url, false).expect_err(url);
            assert!(err.contains(why), "{url}: {err} (expected {why})");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(check(&long, false).unwrap_err().contains("limit"));
        assert!(
            check("http://169.254.169.254/", true).is_err(),
            "allowing plain http does not allow metadata"
        );
    }

    #[test]
    fn resolved_addresses_are_checked_too() {
        assert!(check_ip("169.254.169.254".parse().unwrap()).is_err());
        assert!(check_ip("::ffff:0.0.0.0".parse().unwrap()).is_err());
        assert!(check_ip("fe80::abcd".parse().unwrap()).is_err());
        assert!(check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(check_ip("2001:db8::1".parse().unwrap()).is_ok());
    }
}
