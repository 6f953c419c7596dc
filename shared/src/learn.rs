//! Learned templating on top of [`crate::template::template_path`]: a path position under a
//! shared prefix whose values are many and rarely repeat (user names, slugs, opaque keys that
//! the typed rules cannot recognise) is promoted to a parameter; templates known from an API
//! specification (pushed by the controller) win over both.
//!
//! Memory is bounded: at most `max_positions` positions are tracked, each remembering at most
//! `promote_after_distinct` value hashes; when full, tracking restarts and the reset is counted.

use crate::template::{
    MAX_PATH_BYTES, MAX_SEGMENTS, PARAM, is_identifier, path_of, truncate_at_char,
};
use std::borrow::Cow;
use std::collections::HashMap;

/// The segment that stands for everything past [`MAX_SEGMENTS`].
const DEEP: &str = "{...}";

/// What to emit for an observed literal segment.
enum Observed {
    Literal,
    Param,
}

/// A literal segment as a template holds it: control characters replaced (tabs survive
/// [`is_identifier`]'s trimming), borrowed when there are none.
fn printable(raw: &str) -> Cow<'_, str> {
    // ASCII segments (nearly all) need only a byte check for C0 controls and DEL.
    let plain = if raw.is_ascii() {
        !raw.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        !raw.chars().any(char::is_control)
    };
    if !plain {
        Cow::Owned(
            raw.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    }
}

/// Limits and thresholds of the learner.
#[derive(Debug, Clone, Copy)]
pub struct LearnerLimits {
    /// Distinct values at one position before it may become a parameter.
    pub promote_after_distinct: usize,
    /// Promote when this share (percent) of requests at the position carried a new value:
    /// values of a parameter rarely repeat, a vocabulary of sub-resources does.
    pub min_distinct_pct: u32,
    /// Or when this share (percent) of the distinct values look like names rather than words
    /// (hold a digit, a dot, an `@` or an upper-case letter): user names, slugs, keys.
    pub min_namelike_pct: u32,
    /// Positions tracked at once.
    pub max_positions: usize,
}

impl Default for LearnerLimits {
    fn default() -> Self {
        Self {
            promote_after_distinct: 16,
            min_distinct_pct: 50,
            min_namelike_pct: 25,
            max_positions: 20_000,
        }
    }
}

#[derive(Debug)]
enum Position {
    Learning {
        seen: Vec<u64>,
        requests: u32,
        namelike: u32,
    },
    Param,
}

/// One segment of a known template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param,
}

/// A template from a specification, e.g. `/pets/{petId}` on `api.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    host: String,
    template: String,
    segs: Vec<Seg>,
    literals: usize,
}

/// Path positions learned per host, plus templates known from specifications.
#[derive(Debug)]
pub struct TemplateLearner {
    limits: LearnerLimits,
    /// Keyed by FNV hashes of positions; foldhash (seeded per process) picks the buckets.
    positions: HashMap<u64, Position, foldhash::fast::RandomState>,
    known: Vec<Known>,
    /// Times tracking restarted because `max_positions` was reached.
    pub resets: u64,
}

/// FNV-1a over bytes: positions and values are hashed for every request, and these hashes only
/// key a bounded map, so speed matters more than collision resistance here.
fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash_of(v: &str) -> u64 {
    fnv(0, v.as_bytes())
}

fn hash_pair(prefix: u64, seg: &str) -> u64 {
    fnv(
        prefix.rotate_left(5) ^ 0x9e37_79b9_7f4a_7c15,
        seg.as_bytes(),
    )
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl TemplateLearner {
    pub fn new(limits: LearnerLimits) -> Self {
        debug_assert!(limits.promote_after_distinct >= 2);
        Self {
            limits,
            positions: HashMap::default(),
            known: Vec::new(),
            resets: 0,
        }
    }

    /// Replaces the templates known from specifications. An empty host applies to every host.
    pub fn set_known(&mut self, templates: &[(String, String)]) {
        self.known = templates
            .iter()
            .map(|(host, template)| {
                let segs: Vec<Seg> = split(template)
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Seg::Param
                        } else {
                            Seg::Lit(s.to_owned())
                        }
                    })
                    .collect();
                let literals = segs.iter().filter(|s| matches!(s, Seg::Lit(_))).count();
                let template = if segs.is_empty() {
                    "/".to_owned()
                } else {
                    template.trim_end_matches('/').to_owned()
                };
                Known {
                    host: host.to_ascii_lowercase(),
                    template,
                    segs,
                    literals,
                }
            })
            .collect();
        // Most specific first: more literal segments win.
        self.known.sort_by_key(|k| std::cmp::Reverse(k.literals));
    }

    fn known_match(&self, host: &str, target: &str) -> Option<&str> {
        if self.known.is_empty() {
            return None;
        }
        let path = path_of(target);
        let segs: Vec<&str> = split(path).collect();
        self.known
            .iter()
            .filter(|k| k.host.is_empty() || k.host == host)
            .find(|k| {
                k.segs.len() == segs.len()
                    && k.segs.iter().zip(&segs).all(|(t, s)| match t {
                        Seg::Param => true,
                        Seg::Lit(l) => l == s,
                    })
            })
            .map(|k| k.template.as_str())
    }

    /// The template of a request target on `host`, learning from it.
    pub fn template(&mut self, host: &str, target: &str) -> String {
        let mut out = String::new();
        self.template_into(host, target, &mut out);
        out
    }

    /// [`TemplateLearner::template`] written into `out` (cleared first), so a caller templating
    /// request after request reuses one buffer.
    ///
    /// Same result as learning over [`template_path`]'s output, in one pass over the target:
    /// each segment is judged, hashed and emitted once.
    pub fn template_into(&mut self, host: &str, target: &str, out: &mut String) {
        out.clear();
        if let Some(t) = self.known_match(host, target) {
            out.push_str(t);
            return;
        }
        let path = path_of(target);
        let path = truncate_at_char(path, MAX_PATH_BYTES);
        let mut prefix = hash_of(host);
        for (index, raw) in split(path).enumerate() {
            let chosen: Cow<'_, str> = if index == MAX_SEGMENTS {
                Cow::Borrowed(DEEP)
            } else if is_identifier(raw) {
                Cow::Borrowed(PARAM)
            } else {
                // Only an observed literal is learned from; it is printable (see template_path).
                let literal = printable(raw);
                match self.observe(prefix, &literal) {
                    Observed::Param => Cow::Borrowed(PARAM),
                    Observed::Literal => literal,
                }
            };
            out.push('/');
            out.push_str(&chosen);
            prefix = hash_pair(prefix, &chosen);
            if index == MAX_SEGMENTS {
                break;
            }
        }
        if out.is_empty() {
            out.push('/');
        }
    }

    /// Records a literal value at the position under `prefix`; returns what to emit.
    fn observe(&mut self, prefix: u64, seg: &str) -> Observed {
        // A full table only matters for a new position; a known one is looked up once.
        if self.positions.len() >= self.limits.max_positions
            && !self.positions.contains_key(&prefix)
        {
            // Promoted positions are kept; learning ones restart.
            self.positions.retain(|_, p| matches!(p, Position::Param));
            self.resets += 1;
            if self.positions.len() >= self.limits.max_positions {
                return Observed::Literal;
            }
        }
        let limits = self.limits;
        let pos = self.positions.entry(prefix).or_insert(Position::Learning {
            seen: Vec::new(),
            requests: 0,
            namelike: 0,
        });
        let Position::Learning {
            seen,
            requests,
            namelike,
        } = pos
        else {
            return Observed::Param;
        };
        *requests = requests.saturating_add(1);
        let h = hash_of(seg);
        if !seen.contains(&h) {
            seen.push(h);
            *namelike += u32::from(is_namelike(seg));
        }
        let distinct = seen.len() as u64;
        if seen.len() >= limits.promote_after_distinct {
            let distinct_pct = distinct * 100 / u64::from((*requests).max(1));
            let namelike_pct = u64::from(*namelike) * 100 / distinct;
            if distinct_pct >= u64::from(limits.min_distinct_pct)
                || namelike_pct >= u64::from(limits.min_namelike_pct)
            {
                *pos = Position::Param;
                return Observed::Param;
            }
            // A vocabulary: stop growing the set (keep its share of name-like values).
            seen.pop();
            *namelike = (*namelike).min(seen.len() as u32);
        }
        Observed::Literal
    }
}

/// Whether a value reads like a name or key rather than a dictionary word.
fn is_namelike(seg: &str) -> bool {
    seg.bytes()
        .any(|b| b.is_ascii_digit() || b == b'.' || b == b'@' || b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_distinct_names_become_a_parameter() {
        let mut l = TemplateLearner::new(LearnerLimits::default());
        let mut last = String::new();
        for i in 0..40 {
            last = l.template(
                "h",
                &format!("/users/user{}name/profile", (b'a' + (i % 26) as u8) as char)
                    .repeat(1)
                    .replace("name", &"x".repeat(i / 26 + 1)),
            );
        }
        assert_eq!(last, "/users/{id}/profile");
        // Another host learns on its own.
        assert_eq!(
            l.template("other", "/users/zed/profile"),
            "/users/zed/profile"
        );
    }

    #[test]
    fn a_vocabulary_of_sub_resources_stays_literal() {
        let mut l = TemplateLearner::new(LearnerLimits::default());
        let words = [
            "issues",
            "pulls",
            "commits",
            "branches",
            "tags",
            "releases",
            "labels",
            "milestones",
            "hooks",
            "keys",
            "forks",
            "stargazers",
            "subscribers",
            "contributors",
            "languages",
            "teams",
            "topics",
            "events",
            "deployments",
            "actions",
        ];
        for round in 0..20 {
            for w in &words[..(round % words.len()) + 1] {
                l.template("gh", &format!("/repos/7/42/{w}"));
            }
        }
        assert_eq!(
            l.template("gh", "/repos/7/42/issues"),
            "/repos/{id}/{id}/issues"
        );
    }

    /// The one-pass templating as first written: typed templating, then learning over it.
    fn template_two_pass(l: &mut TemplateLearner, host: &str, target: &str) -> String {
        let typed = crate::template::template_path(target);
        if typed == "/" {
            return typed;
        }
        let mut out = String::new();
        let mut prefix = hash_of(host);
        for seg in split(&typed) {
            let chosen = if seg == PARAM || seg == DEEP {
                seg
            } else {
                match l.observe(prefix, seg) {
                    Observed::Param => PARAM,
                    Observed::Literal => seg,
                }
            };
            out.push('/');
            out.push_str(chosen);
            prefix = hash_pair(prefix, chosen);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn one_pass_equals_two_pass(
            paths in proptest::collection::vec("(/(a|b|c[0-9]|[a-z]{1,3}[0-9]{0,2}|[0-9]{1,4}|\t?x|v1|))*(\\?q=1)?", 1..200)
        ) {
            let mut one = TemplateLearner::new(LearnerLimits { max_positions: 64, ..Default::default() });
            let mut two = TemplateLearner::new(LearnerLimits { max_positions: 64, ..Default::default() });
            for p in &paths {
                proptest::prop_assert_eq!(one.template("h", p), template_two_pass(&mut two, "h", p));
            }
            let deep = "/a".repeat(40);
            proptest::prop_assert_eq!(one.template("h", &deep), template_two_pass(&mut two, "h", &deep));
        }
    }

    #[test]
    fn known_templates_win() {
        let mut l = TemplateLearner::new(LearnerLimits::default());
        l.set_known(&[
            ("api".into(), "/pets/{petId}".into()),
            (String::new(), "/pets/mine".into()),
        ]);
        assert_eq!(l.template("api", "/pets/rex?x=1"), "/pets/{petId}");
        assert_eq!(l.template("api", "/pets/mine"), "/pets/mine");
        assert_eq!(l.template("elsewhere", "/pets/rex"), "/pets/rex");
    }

    #[test]
    fn memory_is_bounded() {
        let limits = LearnerLimits {
            max_positions: 50,
            ..Default::default()
        };
        let mut l = TemplateLearner::new(limits);
        for i in 0..1000 {
            l.template(&format!("host{i}"), "/a/b/c");
        }
        assert!(l.positions.len() <= 50);
        assert!(l.resets > 0);
    }

    /// Ground truth: concrete URLs generated from the path templates of the public OpenAPI
    /// examples and crAPI, templated without the specs.
    #[test]
    fn recovers_openapi_templates_without_the_specs() {
        let (exact, total, misses) = ground_truth();
        let pct = exact as f64 * 100.0 / total as f64;
        println!(
            "templating ground truth: {exact}/{total} templates recovered exactly ({pct:.1} %)"
        );
        for m in &misses {
            println!("  miss: {m}");
        }
        assert!(pct >= 95.0, "{pct:.1} % < 95 %: {misses:?}");
    }

    /// Deterministic values for a parameter name, the way real traffic would carry them.
    fn value(name: &str, n: u64) -> String {
        let lname = name.to_ascii_lowercase();
        const FIRST: [&str; 12] = [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
            "mallory", "oscar",
        ];
        const LAST: [&str; 6] = ["smith", "jones", "lee", "garcia", "kim", "novak"];
        match lname.as_str() {
            "username" => match n % 3 {
                0 => format!("{}{}", FIRST[(n % 12) as usize], n),
                1 => format!("{}_{}", FIRST[(n % 12) as usize], LAST[(n % 6) as usize]),
                _ => format!(
                    "{}.{}{}",
                    FIRST[((n / 3) % 12) as usize],
                    LAST[(n % 6) as usize],
                    n % 10
                ),
            },
            "slug" => {
                format!(
                    "{}-{}",
                    ["api", "web", "core", "infra", "docs"][(n % 5) as usize],
                    ["gateway", "service", "toolkit", "portal", "engine", "sdk"]
                        [((n / 5) % 6) as usize]
                ) + &(n / 30).to_string()
            }
            "dataset" => [
                "oa_citations",
                "cancer_moonshot",
                "enriched_cited_reference_metadata",
            ][(n % 3) as usize]
                .into(),
            "version" => ["v1", "v2"][(n % 2) as usize].into(),
            "vehicleid" => format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                n * 2654435761 % 0xffff_ffff,
                n % 0xffff,
                n % 0xfff,
                (n * 7) % 0xfff,
                n * 11_400_714_819
            ),
            "postid" => {
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                (0..22)
                    .map(|i| alphabet[((n * 31 + i * 17 + i * i * n) % 62) as usize] as char)
                    .collect()
            }
            _ => (1000 + n * 37 % 100_000).to_string(),
        }
    }

    fn ground_truth() -> (usize, usize, Vec<String>) {
        let specs: Vec<&str> = include_str!("../testdata/openapi/paths.tsv")
            .lines()
            .filter_map(|l| l.split('\t').next())
            .collect();
        let concrete = |t: &str, n: u64| -> String {
            let segs: Vec<String> = split(t)
                .map(|s| {
                    if s.starts_with('{') {
                        value(s.trim_matches(|c| c == '{' || c == '}'), n)
                    } else {
                        s.to_owned()
                    }
                })
                .collect();
            format!("/{}", segs.join("/"))
        };
        let normalize = |t: &str| -> String {
            let segs: Vec<&str> = split(t)
                .map(|s| if s.starts_with('{') { PARAM } else { s })
                .collect();
            if segs.is_empty() {
                "/".into()
            } else {
                format!("/{}", segs.join("/"))
            }
        };
        let mut learner = TemplateLearner::new(LearnerLimits::default());
        // Live traffic: all APIs interleaved, 60 requests per operation path.
        for n in 0..60 {
            for t in &specs {
                learner.template("api.example", &concrete(t, n));
            }
        }
        let mut exact = 0;
        let mut misses = Vec::new();
        for t in &specs {
            let want = normalize(t);
            let got: Vec<String> = (1000..1010)
                .map(|n| learner.template("api.example", &concrete(t, n)))
                .collect();
            if got.iter().all(|g| *g == want) {
                exact += 1;
            } else {
                misses.push(format!("{t} → {}", got[0]));
            }
        }
        (exact, specs.len(), misses)
    }
}
