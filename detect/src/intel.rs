//! Threat intelligence: address lists and user-agent patterns loaded from files.

// STAND-IN (controller-alerts branch): the controller's loader is written against
// `Intel::parse` and `Intel::merge` with exactly these signatures; the real parser (detect
// helper) replaces this whole file at merge. It only counts non-empty, non-comment lines.

/// Loaded threat-intelligence lists.
#[derive(Debug, Clone, Default)]
pub struct Intel {
    entries: usize,
}

impl Intel {
    /// Parses one file's text (`name` names it in warnings); returns the lists and a warning
    /// per skipped line.
    pub fn parse(name: &str, text: &str) -> (Intel, Vec<String>) {
        let _ = name;
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        (Intel { entries }, Vec::new())
    }

    /// Adds another file's lists to these.
    pub fn merge(&mut self, other: Intel) {
        self.entries += other.entries;
    }
}
