//! The walk from a parsed root document into a [`Spec`]: version, info, servers, security
//! schemes, then every path item and operation. A fault inside one operation becomes a
//! [`Problem`] and the walk goes on; only document-level faults fail the import.

mod operation;
mod params;
mod security;
mod servers;

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use crate::error::{Effect, ImportError, Location, Problem, Result};
use crate::limits::ImportOptions;
use crate::model::{SecurityScheme, Server, Spec, Version};
use crate::resolve::Resolver;
use crate::source::Documents;

/// Problems kept for one import, deduplicated and bounded.
pub(crate) struct Problems {
    list: Vec<Problem>,
    seen: HashSet<ImportError>,
    dropped: usize,
    max: usize,
}

impl Problems {
    fn push(&mut self, error: ImportError, effect: Effect) {
        if self.seen.contains(&error) {
            return;
        }
        if self.list.len() >= self.max {
            self.dropped += 1;
            return;
        }
        self.seen.insert(error.clone());
        self.list.push(Problem { error, effect });
    }
}

/// State of one walk.
pub(crate) struct Ctx<'d> {
    res: Resolver<'d>,
    version: Version,
    opts: &'d ImportOptions,
    problems: Problems,
    servers: Vec<Server>,
    root_servers: Vec<usize>,
    schemes: BTreeMap<String, SecurityScheme>,
    root_security: Vec<Vec<String>>,
    /// 2.0 root `consumes`.
    root_consumes: Vec<String>,
    /// Operations and webhooks seen so far (for `Limits::max_operations`).
    counted: usize,
}

impl Ctx<'_> {
    /// Index of `server` in the spec's server list, adding it once.
    fn intern(&mut self, server: Server) -> usize {
        if let Some(i) = self.servers.iter().position(|s| *s == server) {
            return i;
        }
        self.servers.push(server);
        self.servers.len() - 1
    }

    /// Counts one more operation, failing the import past `Limits::max_operations`.
    fn count_operation(&mut self, at: &Location) -> Result<()> {
        self.counted += 1;
        let max_operations = self.opts.limits.max_operations;
        if self.counted > max_operations {
            return Err(ImportError::TooManyOperations {
                at: at.clone(),
                max_operations,
            });
        }
        Ok(())
    }
}

/// `v` as an object, or a wrong-type error.
fn object<'v>(
    at: &Location,
    v: &'v Value,
    expected: &'static str,
) -> Result<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| ImportError::wrong_type(at, expected, v))
}

/// The optional string `key` of `map`.
fn opt_str<'v>(at: &Location, map: &'v Map<String, Value>, key: &str) -> Result<Option<&'v str>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ImportError::wrong_type(&at.child(key), "a string", other)),
    }
}

/// The optional boolean `key` of `map` (`false` when absent).
fn opt_bool(at: &Location, map: &Map<String, Value>, key: &str) -> Result<bool> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ImportError::wrong_type(&at.child(key), "a boolean", other)),
    }
}

/// An array of strings.
fn strings(at: &Location, v: &Value) -> Result<Vec<String>> {
    let Some(items) = v.as_array() else {
        return Err(ImportError::wrong_type(at, "an array of strings", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ImportError::wrong_type(&at.child(i), "a string", s))
        })
        .collect()
}

/// A string, or a number written where a string belongs (`version: 1.0` in YAML).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The version of a root document.
fn version_of(at: &Location, root: &Map<String, Value>) -> Result<(Version, String)> {
    let unsupported = |key: &str, found: String| ImportError::UnsupportedVersion {
        at: if key.is_empty() {
            at.clone()
        } else {
            at.child(key)
        },
        found,
    };
    if let Some(v) = root.get("swagger") {
        let text = text_of(v).unwrap_or_else(|| ImportError::type_name(v).to_owned());
        return match text.as_str() {
            "2.0" => Ok((Version::V2, text)),
            _ => Err(unsupported("swagger", format!("swagger {text}"))),
        };
    }
    let Some(v) = root.get("openapi") else {
        return Err(unsupported("", "no swagger or openapi field".to_owned()));
    };
    let text = text_of(v).unwrap_or_else(|| ImportError::type_name(v).to_owned());
    let minor = |m: &str| text == m || text.starts_with(&format!("{m}."));
    if minor("3.0") {
        Ok((Version::V3_0, text))
    } else if minor("3.1") {
        Ok((Version::V3_1, text))
    } else {
        Err(unsupported("openapi", format!("openapi {text}")))
    }
}

/// Builds the spec of `root_file` out of the loaded documents.
pub(crate) fn build<'d>(
    docs: &'d Documents,
    root_file: &str,
    opts: &'d ImportOptions,
) -> Result<Spec> {
    let at = Location::file(root_file);
    let Some(root_value) = docs.docs.get(root_file) else {
        return Err(docs
            .failed
            .get(root_file)
            .cloned()
            .unwrap_or_else(|| ImportError::Read {
                file: root_file.to_owned(),
                reason: "not loaded".to_owned(),
            }));
    };
    let root = object(&at, root_value, "an object (the openapi document)")?;
    let (version, version_text) = version_of(&at, root)?;
    let limits = &opts.limits;
    let mut cx = Ctx {
        res: Resolver::new(docs, limits.max_ref_depth, limits.max_problems),
        version,
        opts,
        problems: Problems {
            list: Vec::new(),
            seen: HashSet::new(),
            dropped: 0,
            max: limits.max_problems,
        },
        servers: Vec::new(),
        root_servers: Vec::new(),
        schemes: BTreeMap::new(),
        root_security: Vec::new(),
        root_consumes: Vec::new(),
        counted: 0,
    };
    let info = match root.get("info") {
        Some(v) => Some(object(&at.child("info"), v, "an object")?),
        None => None,
    };
    let info_text = |key: &str| info.and_then(|m| m.get(key)).and_then(text_of);
    cx.root_servers = servers::root(&mut cx, &at, root);
    cx.schemes = security::schemes(&mut cx, &at, root);
    if let Some(v) = root.get("security") {
        match security::requirements(&mut cx, &at.child("security"), v) {
            Ok(reqs) => cx.root_security = reqs,
            Err(e) => cx.problems.push(e, Effect::PartIgnored),
        }
    }
    if let Some(v) = root.get("consumes") {
        match strings(&at.child("consumes"), v) {
            Ok(types) => cx.root_consumes = types,
            Err(e) => cx.problems.push(e, Effect::PartIgnored),
        }
    }
    let operations = operation::paths(&mut cx, &at, root)?;
    let webhooks = operation::webhooks(&mut cx, &at, root)?;
    let mut cycles = cx.res.cycles;
    cycles.sort();
    Ok(Spec {
        title: info_text("title").unwrap_or_default(),
        version: info_text("version").unwrap_or_default(),
        openapi_version: version,
        openapi_version_text: version_text,
        servers: cx.servers,
        operations,
        webhooks,
        security_schemes: cx.schemes,
        cycles,
        problems: cx.problems.list,
        problems_dropped: cx.problems.dropped,
    })
}
