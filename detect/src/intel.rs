//! Threat intelligence: address lists and user-agent patterns, parsed from text the host reads
//! (this crate does no file I/O). One entry per line; blank lines and `#` comments are
//! ignored. An entry is an IPv4/IPv6 address, a CIDR, a Tor exit-addresses line
//! (`ExitAddress <ip> <date> <time>`; the file's other keywords are skipped) or `ua:<pattern>`,
//! a case-insensitive substring of the user agent.
//!
//! Lookup: single addresses (/32, /128) live in a hash map (one probe); networks in a short list
//! scanned linearly (at most [`MAX_NETWORKS`]). Limits: [`MAX_ENTRIES`] entries in all,
//! [`MAX_LINE_BYTES`] per line, [`MAX_AGENT_PATTERNS`] patterns; what exceeds them is reported
//! as an error line, never silently dropped.

use foldhash::HashMap;
use picket_shared::net::Cidr;
use std::net::IpAddr;
use std::sync::Arc;

/// Most entries (addresses, networks, patterns) across merged lists.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Most networks (prefixes shorter than a single address); they are scanned per lookup.
pub const MAX_NETWORKS: usize = 4_096;
/// Most user-agent patterns; they are scanned per lookup.
pub const MAX_AGENT_PATTERNS: usize = 1_024;
/// Most parse errors reported per file (the rest are counted in one last line).
pub const MAX_ERRORS_PER_FILE: usize = 100;

/// Loaded threat-intelligence lists.
#[derive(Debug, Clone, Default)]
pub struct Intel {
    singles: HashMap<IpAddr, Arc<str>>,
    networks: Vec<(Cidr, Arc<str>)>,
    /// Lower-cased patterns with their list name.
    agents: Vec<(String, Arc<str>)>,
}

impl Intel {
    /// Parses one list named `name` (the file name, reported in alerts). Returns the lists and
    /// the errors, each naming the file and line.
    pub fn parse(name: &str, text: &str) -> (Intel, Vec<String>) {
        let mut intel = Intel::default();
        let list: Arc<str> = Arc::from(name);
        let mut errors = Vec::new();
        let mut dropped = 0usize;
        let mut err = |line: usize, msg: String, errors: &mut Vec<String>| {
            if errors.len() < MAX_ERRORS_PER_FILE {
                errors.push(format!("{name}:{line}: {msg}"));
            } else {
                dropped += 1;
            }
        };
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            if raw.len() > MAX_LINE_BYTES {
                err(
                    n,
                    format!("line longer than {MAX_LINE_BYTES} bytes"),
                    &mut errors,
                );
                continue;
            }
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if intel.len() >= MAX_ENTRIES {
                err(n, format!("more than {MAX_ENTRIES} entries"), &mut errors);
                break;
            }
            if let Err(msg) = intel.add_line(line, &list) {
                err(n, msg, &mut errors);
            }
        }
        if dropped > 0 {
            errors.push(format!("{name}: {dropped} more errors"));
        }
        (intel, errors)
    }

    fn add_line(&mut self, line: &str, list: &Arc<str>) -> Result<(), String> {
        if let Some(pattern) = line.strip_prefix("ua:") {
            let pattern = pattern.trim().to_ascii_lowercase();
            if pattern.is_empty() {
                return Err("empty user-agent pattern".into());
            }
            if self.agents.len() >= MAX_AGENT_PATTERNS {
                return Err(format!(
                    "more than {MAX_AGENT_PATTERNS} user-agent patterns"
                ));
            }
            self.agents.push((pattern, list.clone()));
            return Ok(());
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        let addr = match first {
            "ExitAddress" => words.next().ok_or("ExitAddress without an address")?,
            // The other keywords of Tor's exit-addresses format.
            "ExitNode" | "Published" | "LastStatus" => return Ok(()),
            _ => first,
        };
        let cidr: Cidr = addr.parse()?;
        let (ip, prefix) = split(&cidr);
        if prefix == if ip.is_ipv4() { 32 } else { 128 } {
            self.singles.insert(ip, list.clone());
        } else {
            if self.networks.len() >= MAX_NETWORKS {
                return Err(format!("more than {MAX_NETWORKS} networks"));
            }
            self.networks.push((cidr, list.clone()));
        }
        Ok(())
    }

    /// Entries loaded.
    pub fn len(&self) -> usize {
        self.singles.len() + self.networks.len() + self.agents.len()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Merges `other` into `self` (an address on both keeps `self`'s list name). Entries beyond
    /// the limits are dropped and their number returned.
    pub fn merge(&mut self, other: Intel) -> usize {
        let mut dropped = 0;
        for (ip, list) in other.singles {
            if self.len() >= MAX_ENTRIES {
                dropped += 1;
                continue;
            }
            self.singles.entry(ip).or_insert(list);
        }
        for n in other.networks {
            if self.len() >= MAX_ENTRIES || self.networks.len() >= MAX_NETWORKS {
                dropped += 1;
            } else {
                self.networks.push(n);
            }
        }
        for a in other.agents {
            if self.len() >= MAX_ENTRIES || self.agents.len() >= MAX_AGENT_PATTERNS {
                dropped += 1;
            } else {
                self.agents.push(a);
            }
        }
        dropped
    }

    /// The list naming `ip`, if any (IPv4-mapped IPv6 addresses are looked up as IPv4).
    pub fn ip(&self, ip: IpAddr) -> Option<&str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if let Some(list) = self.singles.get(&ip) {
            return Some(list);
        }
        self.networks
            .iter()
            .find(|(net, _)| net.contains(ip))
            .map(|(_, l)| &**l)
    }

    /// The (list, pattern) of the first user-agent pattern found in `agent`.
    pub fn agent(&self, agent: &str) -> Option<(&str, &str)> {
        if self.agents.is_empty() {
            return None;
        }
        let lower = agent.to_ascii_lowercase();
        self.agents
            .iter()
            .find(|(p, _)| lower.contains(p.as_str()))
            .map(|(p, l)| (&**l, p.as_str()))
    }
}

/// The address and prefix of a network (`Cidr` keeps them private; its text form has both).
fn split(c: &Cidr) -> (IpAddr, u8) {
    let text = c.to_string();
    let (a, p) = text.split_once('/').unwrap_or((&text, "0"));
    // Both halves come from `Cidr`'s own Display, so they parse; the fallbacks never apply.
    (
        a.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        p.parse().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn parses_lists_and_reports_errors_with_lines() {
        let text = "# tor\n\n1.2.3.4\nExitNode ABC\nExitAddress 5.6.7.8 2026-11-30 10:00:00\n\
                    10.0.0.0/8 # net\n2001:db8::1\nua:EvilBot\nnot-an-ip\n";
        let (intel, errors) = Intel::parse("tor.txt", text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("tor.txt:9:"), "{errors:?}");
        assert_eq!(intel.ip(ip("1.2.3.4")), Some("tor.txt"));
        assert_eq!(intel.ip(ip("5.6.7.8")), Some("tor.txt"));
        assert_eq!(intel.ip(ip("10.9.9.9")), Some("tor.txt"));
        assert_eq!(intel.ip(ip("::ffff:1.2.3.4")), Some("tor.txt"));
        assert_eq!(intel.ip(ip("2001:db8::1")), Some("tor.txt"));
        assert_eq!(intel.ip(ip("9.9.9.9")), None);
        assert_eq!(
            intel.agent("Mozilla evilbot/1.0"),
            Some(("tor.txt", "evilbot"))
        );
        assert_eq!(intel.agent("curl/8"), None);
    }

    #[test]
    fn merges_and_limits_lines() {
        let (mut a, _) = Intel::parse("a", "1.1.1.1\n");
        let long = format!("{}\n2.2.2.2\n", "x".repeat(MAX_LINE_BYTES + 1));
        let (b, errors) = Intel::parse("b", &long);
        assert_eq!(errors.len(), 1);
        assert_eq!(a.merge(b), 0);
        assert_eq!(a.ip(ip("2.2.2.2")), Some("b"));
        assert_eq!(a.len(), 2);
    }
}
