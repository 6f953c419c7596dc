//! Reading and parsing the files of one import, within the [`Limits`]: a folder on disk or a
//! bundle of named byte buffers. Every file a `$ref` reaches is loaded before the walk starts,
//! so the walk reads an immutable set of documents.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{ImportError, Location, Result};
use crate::limits::Limits;
use crate::pointer;

/// Deepest folder nesting searched when importing a folder.
const MAX_FOLDER_DEPTH: usize = 16;

/// Where files come from.
pub(crate) enum Loader<'a> {
    /// A folder on disk (canonical path); files must stay inside it, symbolic links included.
    Dir(PathBuf),
    /// Named buffers (`/`-separated relative names).
    Memory(&'a [(&'a str, &'a [u8])]),
}

impl Loader<'_> {
    fn read(&self, file: &str, limits: &Limits) -> Result<Vec<u8>> {
        match self {
            Loader::Memory(files) => {
                let Some((_, bytes)) = files.iter().find(|(name, _)| normalize(name) == file)
                else {
                    return Err(read_error(file, "no such file in the bundle"));
                };
                check_size(file, bytes.len() as u64, limits)?;
                Ok(bytes.to_vec())
            }
            Loader::Dir(root) => read_inside(root, file, limits),
        }
    }
}

fn read_error(file: &str, reason: impl ToString) -> ImportError {
    ImportError::Read {
        file: file.to_owned(),
        reason: reason.to_string(),
    }
}

fn check_size(file: &str, bytes: u64, limits: &Limits) -> Result<()> {
    if bytes > limits.max_file_bytes as u64 {
        return Err(ImportError::FileTooLarge {
            file: file.to_owned(),
            found_bytes: bytes,
            max_bytes: limits.max_file_bytes,
        });
    }
    Ok(())
}

/// Reads `file` under `root`, refusing paths that resolve (through links) outside it.
fn read_inside(root: &Path, file: &str, limits: &Limits) -> Result<Vec<u8>> {
    let path = root
        .join(file)
        .canonicalize()
        .map_err(|e| read_error(file, e))?;
    if !path.starts_with(root) {
        return Err(read_error(file, "resolves outside the imported folder"));
    }
    let f = std::fs::File::open(&path).map_err(|e| read_error(file, e))?;
    let len = f.metadata().map_err(|e| read_error(file, e))?.len();
    check_size(file, len, limits)?;
    let mut bytes = Vec::with_capacity(len as usize);
    // Read one byte past the limit so a file growing while read is still caught.
    f.take(limits.max_file_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(file, e))?;
    check_size(file, bytes.len() as u64, limits)?;
    Ok(bytes)
}

/// `a/./b//c.yaml` → `a/b/c.yaml`, for names given in a bundle.
pub(crate) fn normalize(name: &str) -> String {
    let parts: Vec<&str> = name
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    parts.join("/")
}

/// Parses one file: JSON when its name ends in `.json` or it starts with `{`, YAML otherwise.
pub(crate) fn parse(file: &str, bytes: &[u8], limits: &Limits) -> Result<Value> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let json = file.ends_with(".json") || first == Some(&b'{');
    let value = if json {
        serde_json::from_slice(bytes).map_err(|e| ImportError::Syntax {
            file: file.to_owned(),
            format: "json",
            reason: e.to_string(),
        })?
    } else {
        parse_yaml(file, bytes, limits)?
    };
    check_depth(file, &value, limits.max_depth)?;
    Ok(value)
}

fn parse_yaml(file: &str, bytes: &[u8], limits: &Limits) -> Result<Value> {
    let syntax = |reason: String| ImportError::Syntax {
        file: file.to_owned(),
        format: "yaml",
        reason,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| syntax(format!("expected utf-8 text, found invalid bytes: {e}")))?;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_aliases = limits.max_yaml_aliases;
    budget.max_documents = 1;
    // Without aliases a node costs at least a byte or two of input, so these only bind when
    // aliases multiply the input; the alias limits below are the real bound.
    budget.max_events = limits.max_file_bytes;
    budget.max_nodes = limits.max_file_bytes;
    budget.max_total_scalar_bytes = limits.max_file_bytes;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = limits.max_yaml_alias_events;
    options.alias_limits.max_replay_stack_depth = limits.max_depth;
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| {
        let full = e.without_snippet().to_string();
        let line = full.lines().next().unwrap_or("").trim();
        syntax(line.strip_prefix("error: ").unwrap_or(line).to_owned())
    })
}

/// Fails when `value` nests deeper than `max_depth`, naming the first node too deep.
fn check_depth(file: &str, value: &Value, max_depth: usize) -> Result<()> {
    /// Whether `v` (at `depth`) holds a node deeper than `max`; `path` receives the keys
    /// leading to it when asked for (only on the slow path, after a first pass said yes).
    fn deeper(v: &Value, depth: usize, max: usize, path: &mut Option<Vec<String>>) -> bool {
        if depth > max {
            return true;
        }
        let mut descend = |key: &dyn Fn() -> String, child: &Value| {
            if !matches!(child, Value::Object(_) | Value::Array(_)) {
                return false;
            }
            if let Some(p) = path.as_mut() {
                p.push(key());
            }
            if deeper(child, depth + 1, max, path) {
                return true;
            }
            if let Some(p) = path.as_mut() {
                p.pop();
            }
            false
        };
        match v {
            Value::Object(m) => m.iter().any(|(k, c)| descend(&|| k.clone(), c)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .any(|(i, c)| descend(&|| i.to_string(), c)),
            _ => false,
        }
    }
    // The parsers already bound the depth (serde_json at 128 levels, YAML by its budget), so
    // this recursion is bounded too.
    if !deeper(value, 1, max_depth, &mut None) {
        return Ok(());
    }
    let mut path = Some(Vec::new());
    deeper(value, 1, max_depth, &mut path);
    let mut at = Location::file(file);
    for key in path.unwrap_or_default() {
        at = at.child(key);
    }
    Err(ImportError::TooDeep { at, max_depth })
}

/// The parsed files of one import.
pub(crate) struct Documents {
    /// Parsed documents by file name.
    pub docs: HashMap<String, Value>,
    /// Files that could not be loaded, with the reason (reported where a `$ref` names them).
    pub failed: HashMap<String, ImportError>,
    files: usize,
    total_bytes: usize,
}

impl Documents {
    pub fn new() -> Self {
        Self {
            docs: HashMap::new(),
            failed: HashMap::new(),
            files: 0,
            total_bytes: 0,
        }
    }

    /// Loads and parses `file` once. Per-file failures are kept in `failed`; only the limits
    /// on the import as a whole (file count, total bytes) fail here.
    pub fn load(&mut self, loader: &Loader<'_>, file: &str, limits: &Limits) -> Result<()> {
        if self.docs.contains_key(file) || self.failed.contains_key(file) {
            return Ok(());
        }
        self.files += 1;
        if self.files > limits.max_files {
            return Err(ImportError::TooManyFiles {
                file: file.to_owned(),
                max_files: limits.max_files,
            });
        }
        let parsed = loader.read(file, limits).and_then(|bytes| {
            self.total_bytes += bytes.len();
            if self.total_bytes > limits.max_total_bytes {
                return Err(ImportError::TotalTooLarge {
                    file: file.to_owned(),
                    max_bytes: limits.max_total_bytes,
                });
            }
            parse(file, &bytes, limits)
        });
        match parsed {
            Ok(value) => {
                self.docs.insert(file.to_owned(), value);
            }
            Err(e @ ImportError::TotalTooLarge { .. }) => return Err(e),
            Err(e) => {
                self.failed.insert(file.to_owned(), e);
            }
        }
        Ok(())
    }

    /// Loads `root` and, transitively, every file its `$ref`s name.
    pub fn load_closure(&mut self, loader: &Loader<'_>, root: &str, limits: &Limits) -> Result<()> {
        let mut queue = vec![root.to_owned()];
        while let Some(file) = queue.pop() {
            self.load(loader, &file, limits)?;
            let Some(doc) = self.docs.get(&file) else {
                continue;
            };
            for target in external_refs(&file, doc) {
                if !self.docs.contains_key(&target) && !self.failed.contains_key(&target) {
                    queue.push(target);
                }
            }
        }
        Ok(())
    }
}

/// The other files `doc` refers to (references that leave the folder or name URLs are
/// skipped here; the walk reports them where they are used).
fn external_refs(file: &str, doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![doc];
    let at = Location::file(file);
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref")
                    && !r.starts_with('#')
                    && let Ok(t) = pointer::target(r, file, &at)
                    && t.file != file
                    && !out.contains(&t.file)
                {
                    out.push(t.file);
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// The `.json`/`.yaml`/`.yml` files under `root` (relative names, sorted), at most
/// `max_files`.
pub(crate) fn folder_files(root: &Path, limits: &Limits) -> Result<Vec<String>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let shown = root.display().to_string();
    while let Some((dir, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| read_error(&shown, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| read_error(&shown, e))?;
            let kind = entry.file_type().map_err(|e| read_error(&shown, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if kind.is_dir() && depth < MAX_FOLDER_DEPTH {
                stack.push((path, depth + 1));
            } else if kind.is_file() && is_spec_name(&name) {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel.to_string_lossy().replace('\\', "/");
                found.insert(rel, ());
                if found.len() > limits.max_files {
                    return Err(ImportError::TooManyFiles {
                        file: shown,
                        max_files: limits.max_files,
                    });
                }
            }
        }
    }
    Ok(found.into_keys().collect())
}

fn is_spec_name(name: &str) -> bool {
    [".json", ".yaml", ".yml"].iter().any(|e| name.ends_with(e))
}

/// Whether `doc` is an OpenAPI root document (has `swagger` or `openapi` at the top).
pub(crate) fn is_root(doc: &Value) -> bool {
    doc.get("swagger").is_some() || doc.get("openapi").is_some()
}
