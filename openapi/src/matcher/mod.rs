//! Matching observed traffic to documented operations.
//!
//! The sensor reports `(host, method, path template)`: templates such as
//! `/api/v1/users/{id}` or concrete paths. A spec segment `{name}` matches any one observed
//! segment, placeholders included; literal segments beat segments mixing text and parameters,
//! which beat parameters, position by position from the left (`/pets/mine` before
//! `/pets/{id}`). Among the paths that match, the most specific one documenting the method
//! wins; when none documents it, the most specific path is reported as method drift.
//!
//! Hosts: operations of servers with a host are found under that host only; those of
//! host-less servers under every host. A documented match under the host wins over one
//! under "any host", then method drift, then nothing (shadow).

mod trie;

use crate::model::Spec;
use trie::{MAX_LOOKUP_SEGMENTS, Trie};

/// One documented (host, method, template).
#[derive(Debug)]
struct Entry {
    api: u32,
    spec: u32,
    operation: u32,
    template: Box<str>,
    operation_id: Option<Box<str>>,
    deprecated: bool,
}

/// Documented operations of many specs, indexed for lookups.
#[derive(Debug)]
pub struct Matcher {
    apis: Vec<String>,
    entries: Vec<Entry>,
    by_host: foldhash::HashMap<String, Trie>,
    any_host: Trie,
    duplicates: usize,
}

/// A documented operation that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'m> {
    /// The API name given to [`Matcher::new`].
    pub api: &'m str,
    /// Index of the spec in the slice given to [`Matcher::new`].
    pub spec: usize,
    /// Index of the operation in that spec's [`Spec::operations`].
    pub operation: usize,
    /// The operation's `operationId`.
    pub operation_id: Option<&'m str>,
    /// The full template (base path included): `/api/pets/{id}`.
    pub template: &'m str,
    /// Whether the operation is deprecated.
    pub deprecated: bool,
}

/// The result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match<'m> {
    /// A documented operation.
    Operation(Hit<'m>),
    /// The path is documented but not with this method: `hit` is an operation of the most
    /// specific matching path (another method).
    MethodNotDocumented(Hit<'m>),
    /// Neither the path nor the method is documented.
    NotDocumented,
}

/// How an observed endpoint relates to the documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Documented and current.
    Documented,
    /// Documented as deprecated, yet called.
    Zombie,
    /// The path is documented, the method is not (spec drift).
    Drift,
    /// Not documented at all.
    Shadow,
}

impl Match<'_> {
    /// The class of this match.
    pub fn class(&self) -> Class {
        match self {
            Match::Operation(h) if h.deprecated => Class::Zombie,
            Match::Operation(_) => Class::Documented,
            Match::MethodNotDocumented(_) => Class::Drift,
            Match::NotDocumented => Class::Shadow,
        }
    }

    /// Whether the method and path are documented (deprecated or not).
    pub fn is_documented(&self) -> bool {
        matches!(self, Match::Operation(_))
    }

    /// The matched operation, when documented.
    pub fn hit(&self) -> Option<&Hit<'_>> {
        match self {
            Match::Operation(h) => Some(h),
            _ => None,
        }
    }
}

/// A host as looked up: lower case, no trailing dot.
fn host_key(host: &str) -> std::borrow::Cow<'_, str> {
    let host = host.trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    }
}

impl Matcher {
    /// Indexes the operations of `specs`, each with its API name. When two operations share
    /// host, method and template, the first one listed is kept (see [`Matcher::duplicates`]).
    pub fn new(specs: &[(&str, &Spec)]) -> Self {
        let mut m = Self {
            apis: Vec::with_capacity(specs.len()),
            entries: Vec::new(),
            by_host: foldhash::HashMap::default(),
            any_host: Trie::new(),
            duplicates: 0,
        };
        for (si, (api, spec)) in specs.iter().enumerate() {
            m.apis.push((*api).to_owned());
            for (oi, op) in spec.operations.iter().enumerate() {
                for (host, template) in spec.templates_of(oi) {
                    let entry = m.entries.len() as u32;
                    let trie = match host {
                        Some(h) => m.by_host.entry(h.to_owned()).or_insert_with(Trie::new),
                        None => &mut m.any_host,
                    };
                    if !trie.insert(&template, &op.method, entry) {
                        m.duplicates += 1;
                        continue;
                    }
                    m.entries.push(Entry {
                        api: si as u32,
                        spec: si as u32,
                        operation: oi as u32,
                        template: template.into(),
                        operation_id: op.operation_id.as_deref().map(Into::into),
                        deprecated: op.deprecated,
                    });
                }
            }
        }
        m
    }

    /// Documented (host, method, template) triples indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is documented.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Operations left out because an earlier one had the same host, method and template.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Matches an observed request. `path` may carry a query (ignored) and `{…}` placeholders.
    pub fn lookup(&self, host: &str, method: &str, path: &str) -> Match<'_> {
        let path = picket_shared::template::path_of(path);
        let mut buf = [""; MAX_LOOKUP_SEGMENTS];
        let mut n = 0;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            if n == MAX_LOOKUP_SEGMENTS {
                return Match::NotDocumented;
            }
            buf[n] = seg;
            n += 1;
        }
        let segs = &buf[..n];
        let on_host = self
            .by_host
            .get(&*host_key(host))
            .map(|t| t.find(segs, method))
            .unwrap_or_default();
        if let Some(e) = on_host.entry {
            return Match::Operation(self.hit(e));
        }
        let anywhere = self.any_host.find(segs, method);
        if let Some(e) = anywhere.entry {
            return Match::Operation(self.hit(e));
        }
        match on_host.path_entry.or(anywhere.path_entry) {
            Some(e) => Match::MethodNotDocumented(self.hit(e)),
            None => Match::NotDocumented,
        }
    }

    fn hit(&self, entry: u32) -> Hit<'_> {
        let e = &self.entries[entry as usize];
        Hit {
            api: &self.apis[e.api as usize],
            spec: e.spec as usize,
            operation: e.operation as usize,
            operation_id: e.operation_id.as_deref(),
            template: &e.template,
            deprecated: e.deprecated,
        }
    }
}
