//! `picketctl specs`: import, list, show and delete API specs. An import reads the document
//! and its neighbours from disk into a bundle of named files and sends it; the controller
//! parses it (the CLI never interprets the document, so `$ref`s to files outside the bundle
//! fail on the controller with the file and pointer named).

use crate::client::Authed;
use crate::output::{Format, Listing, json, when};
use crate::{CliError, SpecsCmd};
use picket_proto::v1 as pb;
use serde_json::json as j;
use std::path::{Path, PathBuf};

/// Most files one import sends (the controller's limit too).
pub const MAX_BUNDLE_FILES: usize = 256;
/// Most bytes one import sends, all files together (the controller's limit too).
pub const MAX_BUNDLE_BYTES: u64 = 8 << 20;
/// Deepest sub-folder read under the imported folder.
pub const MAX_FOLDER_DEPTH: usize = 16;

/// Files the importer may read: `.json`, `.yaml`, `.yml`.
fn is_spec_name(name: &str) -> bool {
    [".json", ".yaml", ".yml"].iter().any(|e| name.ends_with(e))
}

/// A spec read from disk: the root file's name (empty: the controller finds it) and the files,
/// named relative to the folder.
#[derive(Debug, Default)]
pub struct Bundle {
    pub root: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Reads `path`: a folder (its `.json`/`.yaml`/`.yml` files, sub-folders included), or a file
/// with the files of its folder. Hidden entries and symbolic links are skipped, so nothing
/// outside the folder is read; the limits above fail the read.
pub fn read_bundle(path: &Path) -> Result<Bundle, CliError> {
    let io = |p: &Path, e: std::io::Error| CliError::Usage(format!("reading {}: {e}", p.display()));
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    let (folder, root) = if meta.is_dir() {
        (path.to_path_buf(), String::new())
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| CliError::Usage(format!("{} names no file", path.display())))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (parent, name)
    };
    let mut bundle = Bundle {
        root: root.clone(),
        files: Vec::new(),
    };
    let mut total = 0u64;
    let mut stack = vec![(folder.clone(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // `file_type` does not follow symbolic links: a link is neither file nor folder.
            let kind = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            if name.starts_with('.') {
                continue;
            }
            let rel = format!("{prefix}{name}");
            if kind.is_dir() && depth < MAX_FOLDER_DEPTH {
                stack.push((entry.path(), format!("{rel}/"), depth + 1));
            } else if kind.is_file() && (is_spec_name(&name) || rel == root) {
                let content = std::fs::read(entry.path()).map_err(|e| io(&entry.path(), e))?;
                total += content.len() as u64;
                if bundle.files.len() == MAX_BUNDLE_FILES || total > MAX_BUNDLE_BYTES {
                    return Err(CliError::Usage(format!(
                        "{} holds more than {MAX_BUNDLE_FILES} spec files or {MAX_BUNDLE_BYTES} bytes; put the spec in a folder of its own",
                        folder.display()
                    )));
                }
                bundle.files.push((rel, content));
            }
        }
    }
    if !root.is_empty() && !bundle.files.iter().any(|(n, _)| *n == root) {
        return Err(CliError::Usage(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    bundle.files.sort();
    Ok(bundle)
}

/// Runs a `specs` command.
pub async fn specs(svc: Authed, fmt: Format, cmd: &SpecsCmd) -> Result<String, CliError> {
    let mut c = pb::specs_client::SpecsClient::new(svc);
    match cmd {
        SpecsCmd::Import { path, api, host } => {
            let bundle = read_bundle(path)?;
            let r = c
                .import_spec(pb::ImportSpecRequest {
                    api: api.clone(),
                    host: host.clone().unwrap_or_default(),
                    root: bundle.root,
                    files: bundle
                        .files
                        .into_iter()
                        .map(|(name, content)| pb::SpecFile { name, content })
                        .collect(),
                })
                .await?
                .into_inner();
            let s = r.spec.unwrap_or_default();
            Ok(match fmt {
                Format::Json => json(&j!({"spec": summary_json(&s), "replaced": r.replaced,
                    "merged_endpoints": r.merged_endpoints,
                    "problems": r.problems.iter().map(problem_json).collect::<Vec<_>>()})),
                Format::Table => {
                    let mut out = format!(
                        "{} spec {:?} ({} {}, OpenAPI {}): {} operations, {} deprecated, {} templates, {} problems\n",
                        if r.replaced { "replaced" } else { "imported" },
                        s.api,
                        s.title,
                        s.version,
                        s.openapi_version,
                        s.operations,
                        s.deprecated_operations,
                        s.templates,
                        s.problems
                    );
                    if r.merged_endpoints > 0 {
                        out.push_str(&format!(
                            "{} learned endpoints merged into the spec's templates\n",
                            r.merged_endpoints
                        ));
                    }
                    out.push_str(&problems_table(&r.problems));
                    out
                }
            })
        }
        SpecsCmd::List => {
            let r = c.list_specs(pb::ListSpecsRequest {}).await?.into_inner();
            let mut l = summary_listing();
            for s in &r.specs {
                push_summary(&mut l, s);
            }
            Ok(l.render(fmt))
        }
        SpecsCmd::Show { api } => {
            let d = c
                .get_spec(pb::GetSpecRequest { api: api.clone() })
                .await?
                .into_inner();
            Ok(show(&d, fmt))
        }
        SpecsCmd::Delete { api } => {
            c.delete_spec(pb::DeleteSpecRequest { api: api.clone() })
                .await?;
            Ok(match fmt {
                Format::Json => json(&j!({"deleted": api})),
                Format::Table => format!("deleted spec {api:?}\n"),
            })
        }
    }
}

fn summary_listing() -> Listing {
    Listing::new(&[
        "API",
        "TITLE",
        "VERSION",
        "OPENAPI",
        "HOST",
        "OPERATIONS",
        "DEPRECATED",
        "PROBLEMS",
        "IMPORTED",
        "ERROR",
    ])
}

fn push_summary(l: &mut Listing, s: &pb::SpecSummary) {
    l.push(
        vec![
            s.api.clone(),
            s.title.clone(),
            s.version.clone(),
            s.openapi_version.clone(),
            dash(&s.host),
            s.operations.to_string(),
            s.deprecated_operations.to_string(),
            s.problems.to_string(),
            when(s.imported_ms),
            dash(&s.error),
        ],
        summary_json(s),
    );
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

fn summary_json(s: &pb::SpecSummary) -> serde_json::Value {
    j!({"api": s.api, "title": s.title, "version": s.version, "openapi_version": s.openapi_version,
        "host": s.host, "root": s.root, "files": s.files, "bytes": s.bytes,
        "operations": s.operations, "deprecated_operations": s.deprecated_operations,
        "templates": s.templates, "problems": s.problems, "imported": when(s.imported_ms),
        "imported_ms": s.imported_ms, "imported_by": s.imported_by, "error": s.error})
}

fn problem_json(p: &pb::SpecProblem) -> serde_json::Value {
    j!({"location": p.location, "message": p.message, "effect": p.effect})
}

fn problems_table(problems: &[pb::SpecProblem]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = problems
        .iter()
        .map(|p| vec![p.effect.clone(), p.message.clone()])
        .collect();
    format!("\n{}", crate::output::table(&["EFFECT", "PROBLEM"], &rows))
}

fn show(d: &pb::SpecDetail, fmt: Format) -> String {
    let s = d.spec.clone().unwrap_or_default();
    let mut ops = Listing::new(&[
        "METHOD",
        "PATH",
        "OPERATION",
        "DEPRECATED",
        "AUTH",
        "PARAMS",
        "SEEN",
        "CALLS",
        "LAST SEEN",
    ]);
    for o in &d.operations {
        ops.push(
            vec![
                o.method.clone(),
                o.path.clone(),
                dash(&o.operation_id),
                yes(o.deprecated),
                if o.requires_auth { "required" } else { "-" }.into(),
                o.params.to_string(),
                if o.seen { "seen" } else { "unused" }.into(),
                o.calls.to_string(),
                if o.last_seen_ms > 0 {
                    when(o.last_seen_ms)
                } else {
                    "-".into()
                },
            ],
            j!({"method": o.method, "path": o.path, "templates": o.templates,
                "operation_id": o.operation_id, "deprecated": o.deprecated,
                "requires_auth": o.requires_auth, "params": o.params, "seen": o.seen,
                "unused": !o.seen, "calls": o.calls, "last_seen_ms": o.last_seen_ms}),
        );
    }
    match fmt {
        Format::Json => json(&j!({"spec": summary_json(&s), "operations": ops.objects,
            "problems": d.problems.iter().map(problem_json).collect::<Vec<_>>(),
            "problems_dropped": d.problems_dropped, "usage_complete": d.usage_complete})),
        Format::Table => {
            let mut l = summary_listing();
            push_summary(&mut l, &s);
            let unused = d.operations.iter().filter(|o| !o.seen).count();
            let mut out = l.render(fmt);
            out.push_str(&format!(
                "\n{} operations, {unused} unused{}\n",
                d.operations.len(),
                if d.usage_complete {
                    ""
                } else {
                    " (inventory only partly scanned)"
                }
            ));
            out.push_str(&ops.render(fmt));
            out.push_str(&problems_table(&d.problems));
            out
        }
    }
}

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "-".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_brings_its_folder_and_a_folder_its_tree_but_nothing_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("api");
        std::fs::create_dir_all(root.join("common")).unwrap();
        std::fs::write(root.join("openapi.yaml"), "openapi: 3.0.0").unwrap();
        std::fs::write(root.join("common/err.json"), "{}").unwrap();
        std::fs::write(root.join("notes.txt"), "not a spec").unwrap();
        std::fs::write(root.join(".hidden.yaml"), "x").unwrap();
        std::fs::write(dir.path().join("outside.yaml"), "secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.yaml"), root.join("link.yaml"))
            .unwrap();
        let names = |b: &Bundle| b.files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();

        let file = read_bundle(&root.join("openapi.yaml")).unwrap();
        assert_eq!(file.root, "openapi.yaml");
        assert_eq!(names(&file), ["common/err.json", "openapi.yaml"]);
        let folder = read_bundle(&root).unwrap();
        assert_eq!(folder.root, "");
        assert_eq!(names(&folder), names(&file));
        assert!(read_bundle(&root.join("missing.yaml")).is_err());

        let big = dir.path().join("big");
        std::fs::create_dir_all(&big).unwrap();
        std::fs::write(
            big.join("a.yaml"),
            vec![b' '; MAX_BUNDLE_BYTES as usize + 1],
        )
        .unwrap();
        assert!(read_bundle(&big).is_err());
    }
}
