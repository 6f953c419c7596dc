//! A segment trie of path templates, one per host. A node's children are literal segments
//! (listed, or hashed when many), segments mixing text and parameters (`{name}.json`), and one
//! parameter child. Lookups try them in that order, so the first match is the most specific:
//! `/pets/mine` before `/pets/{id}`.

/// Most segments of a looked-up path; deeper paths are never documented.
pub(crate) const MAX_LOOKUP_SEGMENTS: usize = 64;

/// One step of a [`Pattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Byte(u8),
    /// Exactly one byte.
    Any,
    /// Any number of bytes.
    Star,
}

/// A segment mixing literal text and parameters (`{name}.json`): a glob where each parameter
/// is one byte or more. Matched with the linear-backtracking wildcard algorithm, so a hostile
/// segment costs at most (pattern × segment) steps, never exponential time.
#[derive(Debug, PartialEq, Eq)]
struct Pattern(Vec<Tok>);

impl Pattern {
    fn parse(seg: &str) -> Self {
        let mut toks = Vec::with_capacity(seg.len());
        let mut in_param = false;
        for b in seg.bytes() {
            match (b, in_param) {
                (b'{', false) => {
                    in_param = true;
                    toks.extend([Tok::Any, Tok::Star]);
                }
                (b'}', true) => in_param = false,
                (_, true) => {}
                (b, false) => toks.push(Tok::Byte(b)),
            }
        }
        Self(toks)
    }

    fn matches(&self, seg: &str) -> bool {
        let (p, s) = (&self.0, seg.as_bytes());
        let (mut pi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match p.get(pi) {
                Some(Tok::Byte(b)) if *b == s[si] => (pi, si) = (pi + 1, si + 1),
                Some(Tok::Any) => (pi, si) = (pi + 1, si + 1),
                Some(Tok::Star) => {
                    star = Some((pi, si));
                    pi += 1;
                }
                _ => match star {
                    Some((sp, ss)) => {
                        (pi, si) = (sp + 1, ss + 1);
                        star = Some((sp, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|t| *t == Tok::Star)
    }
}

/// Most literal children kept in a list (compared one by one); a node with more hashes them.
const MAX_LISTED_LITERALS: usize = 8;

/// The literal children of a node: a short list (most nodes), or a hash map (wide nodes,
/// e.g. hundreds of resources under `/api/v1`), so a lookup costs one hash per segment.
#[derive(Debug)]
enum Literals {
    Few(Vec<(Box<str>, u32)>),
    Many(foldhash::HashMap<Box<str>, u32>),
}

impl Default for Literals {
    fn default() -> Self {
        Literals::Few(Vec::new())
    }
}

impl Literals {
    fn get(&self, seg: &str) -> Option<u32> {
        match self {
            Literals::Few(list) => list.iter().find(|(l, _)| &**l == seg).map(|(_, c)| *c),
            Literals::Many(map) => map.get(seg).copied(),
        }
    }

    fn insert(&mut self, seg: &str, child: u32) {
        match self {
            Literals::Few(list) if list.len() < MAX_LISTED_LITERALS => {
                list.push((seg.into(), child))
            }
            Literals::Few(list) => {
                let mut map: foldhash::HashMap<Box<str>, u32> = list.drain(..).collect();
                map.insert(seg.into(), child);
                *self = Literals::Many(map);
            }
            Literals::Many(map) => {
                map.insert(seg.into(), child);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    literals: Literals,
    patterns: Vec<(Pattern, u32)>,
    param: Option<u32>,
    /// Methods documented at this path, each with its entry index.
    methods: Vec<(Box<str>, u32)>,
}

/// What a lookup found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Found {
    /// The entry documenting the method on the most specific path that has it.
    pub entry: Option<u32>,
    /// Some entry of the most specific path that matched at all (for method drift).
    pub path_entry: Option<u32>,
}

/// The templates of one host.
#[derive(Debug)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
}

/// Whether a segment is a whole parameter (`{id}`), as opposed to literal text.
pub(crate) fn is_param(seg: &str) -> bool {
    seg.len() >= 2 && seg.starts_with('{') && seg.ends_with('}') && !seg[1..].contains('{')
}

impl Trie {
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::default()],
        }
    }

    fn child(&mut self, node: usize, seg: &str) -> usize {
        let fresh = self.nodes.len() as u32;
        let n = &mut self.nodes[node];
        let next = if is_param(seg) {
            *n.param.get_or_insert(fresh)
        } else if seg.contains('{') {
            let pattern = Pattern::parse(seg);
            match n.patterns.iter().find(|(p, _)| *p == pattern) {
                Some((_, c)) => *c,
                None => {
                    n.patterns.push((pattern, fresh));
                    fresh
                }
            }
        } else {
            match n.literals.get(seg) {
                Some(c) => c,
                None => {
                    n.literals.insert(seg, fresh);
                    fresh
                }
            }
        };
        if next == fresh {
            self.nodes.push(Node::default());
        }
        next as usize
    }

    /// Adds `method` on `template` as `entry`; `false` when that pair is already there.
    pub fn insert(&mut self, template: &str, method: &str, entry: u32) -> bool {
        let mut node = 0;
        for seg in template.split('/').filter(|s| !s.is_empty()) {
            node = self.child(node, seg);
        }
        let methods = &mut self.nodes[node].methods;
        if methods.iter().any(|(m, _)| &**m == method) {
            return false;
        }
        methods.push((method.into(), entry));
        true
    }

    /// The most specific match of `segs` (observed segments; `{…}` placeholders match only
    /// parameters) for `method`.
    pub fn find(&self, segs: &[&str], method: &str) -> Found {
        let mut found = Found::default();
        self.walk(0, segs, method, &mut found);
        found
    }

    fn walk(&self, node: usize, segs: &[&str], method: &str, found: &mut Found) -> bool {
        let n = &self.nodes[node];
        let Some((seg, rest)) = segs.split_first() else {
            if let Some((_, e)) = n.methods.first() {
                found.path_entry.get_or_insert(*e);
            }
            found.entry = n
                .methods
                .iter()
                .find(|(m, _)| m.eq_ignore_ascii_case(method))
                .map(|(_, e)| *e);
            return found.entry.is_some();
        };
        let placeholder = is_param(seg) || *seg == "{...}";
        if !placeholder
            && let Some(child) = n.literals.get(seg)
            && self.walk(child as usize, rest, method, found)
        {
            return true;
        }
        for (p, child) in &n.patterns {
            if (placeholder || p.matches(seg)) && self.walk(*child as usize, rest, method, found) {
                return true;
            }
        }
        match n.param {
            Some(child) => self.walk(child as usize, rest, method, found),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, seg: &str, want: bool) {
        assert_eq!(
            Pattern::parse(pattern).matches(seg),
            want,
            "{pattern} ~ {seg}"
        );
    }

    #[test]
    fn patterns() {
        check("{name}.json", "report.json", true);
        check("{name}.json", ".json", false);
        check("v{version}", "v2", true);
        check("v{version}", "v", false);
        check("{a}-{b}", "x-y-z", true);
        check("{a}-{b}", "xy", false);
        check("{a}.{b}.{c}.{d}", &"a".repeat(5000), false);
        check("file.{ext}", "file.tar.gz", true);
    }
}
