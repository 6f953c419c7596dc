//! ARCHITECTURE.md's invariants, checked by scanning the sources: which files may know the
//! transport (tonic, `picket.v1`, prost, Envoy types) and the storage engine (sled), which
//! crates may depend on which, and that no two files import each other (directly or around a
//! circle; a module and its own submodules excepted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every `.rs` file under `dir`, as paths relative to the workspace root with `/`.
fn rust_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let rel = path.strip_prefix(root()).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The source without comments (line comments and doc comments), so prose may name types.
fn code_of(src: &str) -> String {
    src.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const TRANSPORT: &[&str] = &[
    "tonic::",
    "use tonic",
    "picket_proto",
    "pb::",
    "prost::",
    "prost_types",
    "envoy_types",
];

/// Files (or folders, ending in `/`) allowed to know the transport.
const TRANSPORT_ALLOWED: &[&str] = &[
    "controller/src/grpc/",
    "controller/src/server.rs",
    "controller/src/error.rs",
    "sensor/src/grpc.rs",
    "sensor/src/delivery/stream.rs",
    "sensor/src/sources/als/",
    "sensor/build.rs",
    "proto/",
    "cli/",
    "tests/",
];

fn allowed(file: &str, list: &[&str]) -> bool {
    list.iter().any(|a| {
        if a.ends_with('/') {
            file.starts_with(a)
        } else {
            file == *a
        }
    })
}

fn production_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "shared/src",
        "proto/src",
        "runtime/src",
        "sensor/src",
        "controller/src",
        "cli/src",
        "detect/src",
        "openapi/src",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    files.sort();
    files
}

/// The code of a file up to its first `#[cfg(test)]` module (tests may use anything; test
/// modules sit at the end of their files).
fn production_code(file: &str) -> String {
    let src = std::fs::read_to_string(root().join(file)).unwrap();
    let mut cut = src.len();
    let mut from = 0;
    while let Some(i) = src[from..].find("#[cfg(test)]") {
        let at = from + i;
        let rest = src[at + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") || rest.starts_with("pub(crate) mod ") {
            cut = at;
            break;
        }
        from = at + 1;
    }
    code_of(&src[..cut])
}

#[test]
fn transport_types_stay_at_the_grpc_edges() {
    let files = production_files();
    assert!(
        files.len() > 50,
        "the scan found only {} files",
        files.len()
    );
    let mut offenders = Vec::new();
    for f in &files {
        if allowed(f, TRANSPORT_ALLOWED) {
            continue;
        }
        let code = production_code(f);
        for needle in TRANSPORT {
            if code.contains(needle) {
                offenders.push(format!("{f}: {needle}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "transport types outside the gRPC edges (see ARCHITECTURE.md, Invariants):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn sled_stays_behind_the_store_trait() {
    let offenders: Vec<String> = production_files()
        .into_iter()
        .filter(|f| f != "controller/src/store/sled_store.rs")
        .filter(|f| production_code(f).contains("sled::"))
        .collect();
    assert!(offenders.is_empty(), "sled used in {offenders:?}");
}

/// The `picket-*` and selected third-party dependencies of a crate's `[dependencies]`.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
    let mut deps = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            deps.insert(name.trim().to_owned());
        }
    }
    deps
}

#[test]
fn crate_dependencies_flow_one_way() {
    // (crate folder, crates it must not depend on)
    let rules: &[(&str, &[&str])] = &[
        (
            "shared",
            &[
                "picket-proto",
                "picket-sensor",
                "picket-controller",
                "picket-cli",
                "picket-runtime",
                "tonic",
                "prost",
                "sled",
                "tokio",
            ],
        ),
        (
            "proto",
            &["picket-sensor", "picket-controller", "picket-cli", "sled"],
        ),
        (
            "runtime",
            &[
                "picket-shared",
                "picket-proto",
                "picket-sensor",
                "picket-controller",
                "picket-cli",
                "sled",
            ],
        ),
        (
            "detect",
            &[
                "picket-proto",
                "picket-sensor",
                "picket-controller",
                "picket-cli",
                "picket-runtime",
                "tonic",
                "prost",
                "sled",
                "tokio",
            ],
        ),
        (
            "sensor",
            &[
                "picket-controller",
                "picket-cli",
                "picket-detect",
                "picket-openapi",
                "sled",
            ],
        ),
        (
            "openapi",
            &[
                "picket-proto",
                "picket-sensor",
                "picket-controller",
                "picket-cli",
                "tonic",
                "prost",
                "sled",
                "tokio",
            ],
        ),
        ("controller", &["picket-sensor", "picket-cli"]),
        (
            "cli",
            &[
                "picket-sensor",
                "picket-controller",
                "picket-openapi",
                "sled",
            ],
        ),
    ];
    for (krate, forbidden) in rules {
        let deps = dependencies(krate);
        assert!(!deps.is_empty(), "{krate} has no [dependencies]?");
        for f in *forbidden {
            assert!(!deps.contains(*f), "{krate} must not depend on {f}");
        }
    }
}

/// The module path of a source file: `sensor/src/sources/als/mod.rs` → crate `sensor`,
/// path `sources::als`.
fn module_of(file: &str) -> Option<(String, Vec<String>)> {
    let (krate, rest) = file.split_once("/src/")?;
    let rest = rest.strip_suffix(".rs")?;
    let mut parts: Vec<String> = rest.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    Some((krate.to_owned(), parts))
}

/// Paths named in the code: `crate::a::b` and `super::a` forms, resolved to module paths.
fn referenced_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        // `super` is the parent module, whether the file is `a/b.rs` or `a/b/mod.rs`.
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut from = 0;
        while let Some(i) = code[from..].find(prefix) {
            let start = from + i;
            from = start + prefix.len();
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let mut path = base.clone();
            for seg in code[from..].split("::") {
                let name: String = seg
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() || name == "super" {
                    break;
                }
                path.push(name.clone());
                if name.len() != seg.len() {
                    break;
                }
            }
            out.push(path);
        }
    }
    out
}

#[test]
fn no_file_level_import_circles() {
    let files = production_files();
    let mut modules: BTreeMap<(String, Vec<String>), String> = BTreeMap::new();
    for f in &files {
        if let Some(m) = module_of(f) {
            modules.insert(m, f.clone());
        }
    }
    // Edges between files: a file names an item of a module that another file defines (the
    // longest module prefix of the path), unless one module contains the other.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some((krate, module)) = module_of(f) else {
            continue;
        };
        for path in referenced_paths(&production_code(f), &module) {
            let target = (0..=path.len())
                .rev()
                .find_map(|n| modules.get(&(krate.clone(), path[..n].to_vec())));
            let Some(target) = target else { continue };
            let (_, tmod) = module_of(target).unwrap();
            let nested = tmod.starts_with(&module) || module.starts_with(&tmod);
            if target != f && !nested {
                edges.entry(f.clone()).or_default().insert(target.clone());
            }
        }
    }
    // Any cycle in the file graph is a circle.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    let mut stack: Vec<&str> = Vec::new();
    fn visit<'a>(
        n: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|s| *s == n).unwrap();
                let mut c: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
                c.push(n.to_owned());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    for f in edges.keys() {
        if let Some(cycle) = visit(f, &edges, &mut state, &mut stack) {
            panic!("files import each other: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_scanner_sees_what_it_must() {
    // The scans above pass vacuously if they cannot see; check they see known facts.
    assert!(production_code("controller/src/grpc/ingest.rs").contains("pb::"));
    assert!(production_code("controller/src/store/sled_store.rs").contains("sled::"));
    let refs = referenced_paths(
        "use crate::store::db::Db; use super::billing::x;",
        &["store".to_owned(), "batch".to_owned()],
    );
    assert_eq!(
        refs,
        vec![
            vec!["store".to_owned(), "db".to_owned(), "Db".to_owned()],
            vec!["store".to_owned(), "billing".to_owned(), "x".to_owned()],
        ]
    );
    assert!(dependencies("sensor").contains("picket-shared"));
}
