//! `$ref` resolution over the loaded documents: chains are followed up to
//! `Limits::max_ref_depth` hops, cycles are detected instead of followed, and schemas are
//! walked once each (memoized), so shared and self-referencing schemas cost linear time.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{ImportError, Location, Result};
use crate::model::{Kind, Type};
use crate::pointer::{self, Target};
use crate::source::Documents;

/// Keys whose values are data, not API description: a `$ref` inside them is not a reference.
const DATA_KEYS: [&str; 3] = ["example", "enum", "const"];

/// Resolves references over one import's documents.
pub(crate) struct Resolver<'d> {
    docs: &'d Documents,
    max_ref_depth: usize,
    /// Targets whose subtree has been walked by [`Resolver::check_refs`].
    walked: HashSet<Target>,
    /// `$ref`s that closed a cycle during [`Resolver::check_refs`].
    pub cycles: Vec<Location>,
    max_cycles: usize,
}

/// One step of the iterative reference walk.
enum Step<'d> {
    Visit(Location, &'d Value),
    Leave(Target),
}

impl<'d> Resolver<'d> {
    pub fn new(docs: &'d Documents, max_ref_depth: usize, max_cycles: usize) -> Self {
        Self {
            docs,
            max_ref_depth,
            walked: HashSet::new(),
            cycles: Vec::new(),
            max_cycles,
        }
    }

    /// The target of `reference`, written at `at`.
    pub fn lookup(&self, at: &Location, reference: &str) -> Result<(Target, &'d Value)> {
        let t = pointer::target(reference, &at.file, at)?;
        let not_found = || ImportError::RefNotFound {
            at: at.clone(),
            reference: reference.to_owned(),
        };
        let Some(doc) = self.docs.docs.get(&t.file) else {
            return Err(match self.docs.failed.get(&t.file) {
                Some(e) => ImportError::RefUnreadable {
                    at: at.clone(),
                    reference: reference.to_owned(),
                    reason: e.to_string(),
                },
                None => not_found(),
            });
        };
        let v = pointer::get(doc, &t.pointer).ok_or_else(not_found)?;
        Ok((t, v))
    }

    /// `v` itself, or what its chain of `$ref`s ends at, with its location.
    pub fn deref(&self, at: &Location, v: &'d Value) -> Result<(Location, &'d Value)> {
        let mut loc = at.clone();
        let mut cur = v;
        let mut seen: Vec<Target> = Vec::new();
        let mut first = None;
        loop {
            let Some(r) = cur.as_object().and_then(|m| m.get("$ref")) else {
                return Ok((loc, cur));
            };
            let Some(reference) = r.as_str() else {
                return Err(ImportError::wrong_type(&loc.child("$ref"), "a string", r));
            };
            let first = first.get_or_insert_with(|| reference.to_owned());
            let chain = |reason: String| ImportError::RefChain {
                at: at.clone(),
                reference: first.clone(),
                reason,
            };
            if seen.len() >= self.max_ref_depth {
                let max = self.max_ref_depth;
                return Err(chain(format!("expected at most {max} chained references")));
            }
            let (target, value) = self.lookup(&loc, reference)?;
            if seen.contains(&target) {
                return Err(chain(format!("references form a cycle at '{reference}'")));
            }
            loc = target.location();
            seen.push(target);
            cur = value;
        }
    }

    /// The coarse type of a schema, following `$ref`s and `allOf`/`oneOf`/`anyOf` members;
    /// unresolvable references leave the type unknown (the reference walk reports them).
    pub fn kind(&self, at: &Location, schema: &'d Value) -> Kind {
        let mut kind = Kind::default();
        let mut path = Vec::new();
        self.kind_into(at, schema, &mut path, &mut kind);
        kind
    }

    fn kind_into(&self, at: &Location, v: &'d Value, path: &mut Vec<Target>, kind: &mut Kind) {
        if path.len() > self.max_ref_depth {
            return;
        }
        if let Some(reference) = v.get("$ref").and_then(Value::as_str) {
            let Ok((target, value)) = self.lookup(at, reference) else {
                return;
            };
            if path.contains(&target) {
                kind.cyclic = true;
                return;
            }
            path.push(target.clone());
            self.kind_into(&target.location(), value, path, kind);
            path.pop();
            return;
        }
        if kind.format.is_none() {
            kind.format = v.get("format").and_then(Value::as_str).map(str::to_owned);
        }
        kind.ty = kind.ty.or_else(|| type_of(v));
        if kind.ty.is_some() {
            return;
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            let Some(Value::Array(members)) = v.get(key) else {
                continue;
            };
            for (i, member) in members.iter().enumerate() {
                let at = at.child(key).child(i);
                // A member counts as one more level, so nested compositions stay bounded.
                path.push(Target {
                    file: at.file.clone(),
                    pointer: at.pointer.clone(),
                });
                self.kind_into(&at, member, path, kind);
                path.pop();
                if kind.ty.is_some() {
                    return;
                }
            }
        }
    }

    /// Walks `v` and everything its `$ref`s reach (each target once per import), reporting
    /// references that cannot be resolved into `sink` and recording cycles.
    pub fn check_refs(&mut self, at: &Location, v: &'d Value, sink: &mut Vec<ImportError>) {
        let mut active: HashSet<Target> = HashSet::new();
        let mut stack = vec![Step::Visit(at.clone(), v)];
        while let Some(step) = stack.pop() {
            let (loc, value) = match step {
                Step::Leave(t) => {
                    active.remove(&t);
                    self.walked.insert(t);
                    continue;
                }
                Step::Visit(loc, value) => (loc, value),
            };
            match value {
                Value::Object(map) => {
                    if let Some(r) = map.get("$ref") {
                        self.visit_ref(&loc, r, &mut active, &mut stack, sink);
                    }
                    for (k, child) in map {
                        let data = DATA_KEYS.contains(&k.as_str()) || k.starts_with("x-");
                        if k != "$ref" && !data && (child.is_object() || child.is_array()) {
                            stack.push(Step::Visit(loc.child(k), child));
                        }
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        if child.is_object() || child.is_array() {
                            stack.push(Step::Visit(loc.child(i), child));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn visit_ref(
        &mut self,
        loc: &Location,
        r: &'d Value,
        active: &mut HashSet<Target>,
        stack: &mut Vec<Step<'d>>,
        sink: &mut Vec<ImportError>,
    ) {
        let Some(reference) = r.as_str() else {
            sink.push(ImportError::wrong_type(&loc.child("$ref"), "a string", r));
            return;
        };
        match self.lookup(loc, reference) {
            Err(e) => sink.push(e),
            Ok((target, _)) if self.walked.contains(&target) => {}
            Ok((target, _)) if active.contains(&target) => {
                if self.cycles.len() < self.max_cycles && !self.cycles.contains(loc) {
                    self.cycles.push(loc.clone());
                }
            }
            Ok((target, value)) => {
                active.insert(target.clone());
                let tloc = target.location();
                stack.push(Step::Leave(target));
                stack.push(Step::Visit(tloc, value));
            }
        }
    }
}

/// The `type` of a schema: a string, or a 3.1 list (its first non-null entry); implied by
/// `properties` (object) or `items` (array).
fn type_of(v: &Value) -> Option<Type> {
    let named = match v.get("type") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).find(|s| *s != "null"),
        _ => None,
    };
    match named {
        Some("string") => Some(Type::String),
        Some("integer") => Some(Type::Integer),
        Some("number") => Some(Type::Number),
        Some("boolean") => Some(Type::Boolean),
        Some("array") => Some(Type::Array),
        Some("object") => Some(Type::Object),
        Some("file") => Some(Type::File),
        _ if v.get("properties").is_some() || v.get("additionalProperties").is_some() => {
            Some(Type::Object)
        }
        _ if v.get("items").is_some() => Some(Type::Array),
        _ => None,
    }
}
