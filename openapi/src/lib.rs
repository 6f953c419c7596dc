//! OpenAPI import and operation matching, as pure logic (no network, no storage).
//!
//! - [`import_path`], [`import_bytes`], [`import_bundle`]: OpenAPI 2.0 (Swagger), 3.0 and 3.1
//!   documents, JSON or YAML, with `$ref`s inside a document and to sibling files, walked into
//!   one [`Spec`] model within [`Limits`]. One faulty operation becomes a [`Problem`] and the
//!   rest is imported; document-level faults fail with an [`ImportError`] naming the file and
//!   the JSON pointer (`petstore.yaml#/paths/~1pets/get/parameters/0: $ref '#/parameters/nope'
//!   not found`).
//! - [`Matcher`]: observed `(host, method, path)` → documented operation, method drift,
//!   shadow (undocumented) or zombie (deprecated) endpoint, through a segment trie.
//! - [`sensor_templates`]: the `(host, template)` hints the sensor's templater takes.
//! - [`bundle_root`]: the root document of a bundle sent without naming it (a folder's files).
//!
//! Remote references are never fetched, and references never leave the imported folder.

mod error;
mod limits;
mod matcher;
mod model;
mod pointer;
mod resolve;
mod source;
mod templates;
mod walk;

use std::path::Path;

pub use error::{Effect, ImportError, Location, Problem, Result};
pub use limits::{ImportOptions, Limits};
pub use matcher::{Class, Hit, Match, Matcher};
pub use model::{
    Kind, Operation, Param, ParamIn, SecurityScheme, Server, Spec, Type, Version, join_path,
};
pub use templates::sensor_templates;

use source::{Documents, Loader};

/// Imports the OpenAPI document at `path`.
///
/// A file is imported with its neighbours: `$ref`s may name files in its folder (or in
/// [`ImportOptions::root_dir`], when set). A folder is searched for its one root document (the
/// file with a top-level `swagger` or `openapi` field) and every file in it may be referenced.
pub fn import_path(path: &Path, opts: &ImportOptions) -> Result<Spec> {
    let shown = path.display().to_string();
    let read = |e: std::io::Error| ImportError::Read {
        file: shown.clone(),
        reason: e.to_string(),
    };
    let canonical = path.canonicalize().map_err(read)?;
    let limits = &opts.limits;
    let mut docs = Documents::new();
    if canonical.is_dir() {
        let loader = Loader::Dir(canonical.clone());
        let files = source::folder_files(&canonical, limits)?;
        for file in &files {
            docs.load(&loader, file, limits)?;
        }
        let roots: Vec<&String> = files
            .iter()
            .filter(|f| docs.docs.get(*f).is_some_and(source::is_root))
            .collect();
        let root = match roots.as_slice() {
            [one] => (*one).clone(),
            [] => {
                // A root document that does not parse is the likelier story than none at all.
                if let Some(e) = files.iter().find_map(|f| docs.failed.get(f)) {
                    return Err(e.clone());
                }
                return Err(ImportError::RootDocument {
                    folder: shown,
                    found: "none".to_owned(),
                });
            }
            many => {
                let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                return Err(ImportError::RootDocument {
                    folder: shown,
                    found: names.join(", "),
                });
            }
        };
        docs.load_closure(&loader, &root, limits)?;
        return walk::build(&docs, &root, opts);
    }
    let root_dir = match &opts.root_dir {
        Some(d) => d.canonicalize().map_err(read)?,
        None => canonical
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let Ok(rel) = canonical.strip_prefix(&root_dir) else {
        return Err(ImportError::Read {
            file: shown,
            reason: "the file is outside root_dir".to_owned(),
        });
    };
    let rel = rel.to_string_lossy().replace('\\', "/");
    docs.load_closure(&Loader::Dir(root_dir), &rel, limits)?;
    walk::build(&docs, &rel, opts)
}

/// Imports one document held in memory; `name` names it in errors (`petstore.yaml`) and
/// decides the format (`.json` → JSON; otherwise JSON when it starts with `{`, else YAML).
/// References to other files fail (see [`import_bundle`]).
pub fn import_bytes(name: &str, bytes: &[u8], opts: &ImportOptions) -> Result<Spec> {
    import_bundle(name, &[(name, bytes)], opts)
}

/// Imports the document `root` out of a bundle of named files (`/`-separated names relative to
/// one folder, e.g. what a client read from a folder and sent), so that its `$ref`s may name
/// the other files of the bundle.
pub fn import_bundle(root: &str, files: &[(&str, &[u8])], opts: &ImportOptions) -> Result<Spec> {
    let mut docs = Documents::new();
    let root = source::normalize(root);
    docs.load_closure(&Loader::Memory(files), &root, &opts.limits)?;
    walk::build(&docs, &root, opts)
}

/// The root document of a bundle (`/`-separated names, as [`import_bundle`] takes them): the
/// one file with a top-level `swagger` or `openapi` field, found as [`import_path`] finds it in
/// a folder. Errors when there is none or more than one; `shown` names the bundle in errors.
pub fn bundle_root(shown: &str, files: &[(&str, &[u8])], limits: &Limits) -> Result<String> {
    let loader = Loader::Memory(files);
    let mut docs = Documents::new();
    let mut names: Vec<String> = files.iter().map(|(n, _)| source::normalize(n)).collect();
    names.sort();
    names.dedup();
    for name in &names {
        docs.load(&loader, name, limits)?;
    }
    let roots: Vec<&String> = names
        .iter()
        .filter(|f| docs.docs.get(*f).is_some_and(source::is_root))
        .collect();
    match roots.as_slice() {
        [one] => Ok((*one).clone()),
        [] => match names.iter().find_map(|f| docs.failed.get(f)) {
            Some(e) => Err(e.clone()),
            None => Err(ImportError::RootDocument {
                folder: shown.to_owned(),
                found: "none".to_owned(),
            }),
        },
        many => Err(ImportError::RootDocument {
            folder: shown.to_owned(),
            found: many
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
