//! Server-side request forgery and remote file inclusion. Every URL in a value is parsed the way
//! the fetching library would (scheme, optional slashes or backslashes, user info, host, port),
//! and judged by what it reaches: the server itself (loopback in any spelling: `127.1`,
//! `2130706433`, `0x7f000001`, `0177.0.0.1`, `[::ffff:127.0.0.1]`, `localhost`), a link-local
//! or cloud metadata address, an address spelled to slip past filters, a name that embeds such an
//! address, or a scheme beyond HTTP (`file:`, `gopher:`, `dict:`, `jar:`, `ldap:`, `tftp:`). A
//! URL to a script handed to an include (`?page=http://…/shell.php`, a trailing `?` or NUL that
//! cuts the application's suffix) is remote file inclusion.

use super::{Class, Hit, Text};
use std::net::{Ipv4Addr, Ipv6Addr};

fn push(hits: &mut Vec<Hit>, rule: &'static str) {
    if !hits.iter().any(|h| h.rule == rule) {
        hits.push(Hit {
            class: Class::Ssrf,
            rule,
        });
    }
}

/// Schemes that reach beyond HTTP from a server-side fetcher.
const BEYOND_HTTP: &[&str] = &[
    "file", "gopher", "dict", "jar", "ldap", "ldaps", "ldapi", "tftp", "netdoc",
];

/// Names that resolve to the host itself or to a cloud metadata service.
const LOOPBACK_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
];
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata",
    "instance-data",
    "metadata.azure.internal",
    "metadata.tencentyun.com",
];

/// Script resources an include runs.
const SCRIPT_EXTENSIONS: &[&str] = &[
    "php", "php3", "php4", "php5", "php7", "phtml", "phar", "inc", "asp", "aspx", "jsp", "jspx",
    "cgi", "pl", "py", "rb", "sh", "txt",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Loopback,
    Metadata,
    LinkLocal,
    Private,
    Public,
}

/// Appends SSRF and remote-inclusion hits for canonical `text`.
pub fn scan(tx: &Text<'_>, hits: &mut Vec<Hit>) {
    if !tx.byte(b':')
        || !(tx.may_have("//")
            || tx.may_have(":\\")
            || tx.may_have("file:")
            || tx.may_have("jar:")
            || tx.may_have("http:")
            || tx.may_have("https:"))
    {
        return;
    }
    let text = tx.s;
    let b = text.as_bytes();
    for (colon, _) in text.match_indices(':').take(32) {
        let start = scheme_start(b, colon);
        if start == colon {
            continue;
        }
        let scheme = &text[start..colon];
        let rest = &text[colon + 1..];
        if BEYOND_HTTP.contains(&scheme) {
            if beyond_http_target(scheme, rest) {
                push(hits, "ssrf.scheme");
            }
            continue;
        }
        let special = matches!(scheme, "http" | "https" | "ftp" | "ws" | "wss");
        if !special && !rest.starts_with("//") {
            continue;
        }
        url(text, start, rest, special, hits);
    }
}

/// Start of the URL scheme that ends at `colon` (`colon` itself when there is none).
fn scheme_start(b: &[u8], colon: usize) -> usize {
    let mut s = colon;
    while s > 0 && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'+' | b'.' | b'-')) {
        s -= 1;
    }
    // A scheme starts with a letter, after a non-word byte; `c:` is a drive letter.
    while s < colon && !b[s].is_ascii_alphabetic() {
        s += 1;
    }
    if colon - s < 2 || s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_') {
        return colon;
    }
    s
}

/// Whether what follows `scheme:` addresses something (`file:///etc/passwd`, `jar:http://…!/`).
fn beyond_http_target(scheme: &str, rest: &str) -> bool {
    match scheme {
        "jar" => rest.contains("!/") || rest.starts_with("http") || rest.starts_with("file"),
        "file" => rest.starts_with(['/', '\\']),
        _ => {
            rest.starts_with("//")
                && rest[2..]
                    .bytes()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'[' | b'/' | b'<'))
        }
    }
}

/// Judges one URL: `rest` is what follows `scheme:`.
fn url(text: &str, start: usize, rest: &str, special: bool, hits: &mut Vec<Hit>) {
    // Special schemes accept any run of slashes and backslashes, or none.
    let after = rest.trim_start_matches(['/', '\\']);
    if !special && after.len() + 2 > rest.len() {
        return;
    }
    let end = after
        .find(|c: char| {
            matches!(
                c,
                '/' | '?' | ' ' | '"' | '\'' | '<' | '>' | '\t' | '\n' | '\r' | '!'
            )
        })
        .unwrap_or(after.len());
    let authority = &after[..end];
    for host in candidate_hosts(authority) {
        let (r, obfuscated) = judge_host(host);
        if obfuscated {
            push(hits, "ssrf.obfuscated-host");
        }
        match r {
            Reach::Loopback => push(hits, "ssrf.loopback-host"),
            Reach::Metadata => push(hits, "ssrf.metadata-host"),
            Reach::LinkLocal => push(hits, "ssrf.link-local-host"),
            Reach::Private | Reach::Public => {}
        }
    }
    if special && remote_include(text, start, &after[end..]) {
        push(hits, "ssrf.remote-include");
    }
}

/// The hosts different parsers read from an authority: after the last `@`, before the first
/// one (`http://127.1.1.1:80\@evil/`), and before a backslash or `#`.
fn candidate_hosts(authority: &str) -> impl Iterator<Item = &str> {
    let last = authority.rsplit('@').next().unwrap_or("");
    let first = authority
        .split(['@', '\\', '#'])
        .next()
        .filter(|_| authority.contains(['@', '\\', '#']))
        .unwrap_or("");
    [last, first]
        .into_iter()
        .map(strip_port)
        .filter(|h| !h.is_empty())
}

fn strip_port(hostport: &str) -> &str {
    let h = hostport.split(['\\', '#']).next().unwrap_or("");
    if let Some(inner) = h.strip_prefix('[') {
        return inner.split(']').next().unwrap_or("");
    }
    match h.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|c| c.is_ascii_digit()) => host,
        _ => h,
    }
}

/// What a host reaches, and whether it is spelled to evade (numeric forms other than the
/// dotted quad, wrapped octets, enclosed or full-width letters).
fn judge_host(host: &str) -> (Reach, bool) {
    let host = host.trim_end_matches('.');
    if let Some((v4, obfuscated)) = loose_ipv4(host) {
        return (reach_v4(v4), obfuscated);
    }
    if host.contains(':')
        && let Ok(v6) = host.split('%').next().unwrap_or("").parse::<Ipv6Addr>()
    {
        return (reach_v6(v6), false);
    }
    let exotic = host.chars().any(|c| matches!(c, '\u{2460}'..='\u{24ff}'));
    if LOOPBACK_NAMES.contains(&host) || host.ends_with(".localhost") {
        return (Reach::Loopback, exotic);
    }
    if METADATA_NAMES.contains(&host) {
        return (Reach::Metadata, exotic);
    }
    // A name that embeds an address (`127.0.0.1.nip.io`): wildcard DNS resolves it there.
    if host.bytes().filter(|&c| c == b'.').count() >= 4 {
        let fourth = host
            .match_indices('.')
            .nth(3)
            .map_or(host.len(), |(p, _)| p);
        if let Ok(v4) = host[..fourth].parse::<Ipv4Addr>() {
            let r = reach_v4(v4);
            if r != Reach::Public {
                return (r, true);
            }
        }
    }
    (Reach::Public, exotic)
}

fn reach_v4(ip: Ipv4Addr) -> Reach {
    let o = ip.octets();
    if ip.is_loopback() || ip.is_unspecified() {
        Reach::Loopback
    } else if o == [169, 254, 169, 254]
        || o == [169, 254, 170, 2]
        || o == [100, 100, 100, 200]
        || o == [192, 0, 0, 192]
    {
        Reach::Metadata
    } else if ip.is_link_local() {
        Reach::LinkLocal
    } else if ip.is_private() {
        Reach::Private
    } else {
        Reach::Public
    }
}

fn reach_v6(ip: Ipv6Addr) -> Reach {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return reach_v4(v4);
    }
    let s = ip.segments();
    if ip.is_loopback() || ip.is_unspecified() {
        Reach::Loopback
    } else if s == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
        Reach::Metadata
    } else if s[0] & 0xffc0 == 0xfe80 {
        Reach::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 {
        Reach::Private
    } else {
        Reach::Public
    }
}

/// An IPv4 address as `inet_aton` and most URL libraries read it: one to four parts, each
/// decimal, `0x` hex or `0`-leading octal, the last filling the remaining bytes; parts of a
/// dotted quad that overflow a byte wrap. `obfuscated` unless it is a plain dotted quad.
fn loose_ipv4(host: &str) -> Option<(Ipv4Addr, bool)> {
    if host.is_empty()
        || !host
            .bytes()
            .all(|c| c.is_ascii_hexdigit() || c == b'.' || c == b'x')
    {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    let mut plain = parts.len() == 4;
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x") {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        plain &= radix == 10;
        let v = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        values.push(v);
    }
    let n = values.len();
    let mut addr: u64 = 0;
    for (i, v) in values.iter().enumerate() {
        if i + 1 < n {
            plain &= *v <= 255;
            addr = addr << 8 | (v & 0xff);
        } else {
            let bits = 8 * (4 - i as u32);
            plain &= *v <= 255;
            addr = addr << bits | (v & ((1u64 << bits) - 1));
        }
    }
    Some((Ipv4Addr::from(addr as u32), !plain))
}

/// A URL to a script handed to an include: embedded as the value of another URL's parameter
/// (`…?page=http://evil/shell.php`) or cut short with a trailing `?` or NUL.
fn remote_include(text: &str, start: usize, tail: &str) -> bool {
    let path_end = tail
        .find(['?', '#', ' ', '"', '\'', '\0'])
        .unwrap_or(tail.len());
    let path = &tail[..path_end];
    let Some((_, ext)) = path.rsplit_once('.') else {
        return false;
    };
    if !SCRIPT_EXTENSIONS.contains(&ext) || path.ends_with('/') {
        return false;
    }
    let cut = tail[path_end..].starts_with(['?', '\0']) && tail[path_end + 1..].is_empty();
    let embedded = text[..start].ends_with('=');
    cut || embedded && ext != "txt" || embedded && tail[path_end..].starts_with(['?', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_ipv4_forms() {
        let lo = Ipv4Addr::new(127, 0, 0, 1);
        assert_eq!(loose_ipv4("127.0.0.1"), Some((lo, false)));
        assert_eq!(loose_ipv4("2130706433"), Some((lo, true)));
        assert_eq!(loose_ipv4("0x7f000001"), Some((lo, true)));
        assert_eq!(loose_ipv4("0177.0.0.1"), Some((lo, true)));
        assert_eq!(loose_ipv4("127.1"), Some((lo, true)));
        assert_eq!(
            loose_ipv4("425.510.425.510").map(|x| x.0),
            Some(Ipv4Addr::new(169, 254, 169, 254))
        );
        assert_eq!(loose_ipv4("example"), None);
        assert_eq!(loose_ipv4("deadbeef"), None);
    }
}
