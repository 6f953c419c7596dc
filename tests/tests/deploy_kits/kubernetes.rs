//! Kubernetes manifests: built-in kinds through kubernetes-validate, custom resources through
//! the CRD schemas of the `@kubernetes-models/*` npm packages.

use super::*;

/// Custom-resource kinds no registry package has a schema for: checked as YAML (yamllint) and
/// by kubernetes_cross.rs (the ALS backend they name must be the sensor Service).
const NO_SCHEMA_KINDS: &[&str] = &["gateway.envoyproxy.io/v1alpha1 EnvoyProxy"];

pub(super) struct Manifest {
    pub(super) file: PathBuf,
    pub(super) docs: Vec<Value>,
}

/// Every manifest under deploy/kubernetes (kustomization.yaml is checked on its own).
pub(super) fn manifests(python: &Path) -> Vec<Manifest> {
    files_under(&repo().join("deploy/kubernetes"), ".yaml")
        .into_iter()
        .filter(|f| !f.ends_with("kustomization.yaml"))
        .map(|file| Manifest {
            docs: yaml_docs(python, &file),
            file,
        })
        .collect()
}

fn api_group(doc: &Value) -> &str {
    let api = doc["apiVersion"].as_str().expect("apiVersion");
    api.rsplit_once('/').map_or("", |(g, _)| g)
}

/// A kind the API server serves itself (core, apps, ...), as opposed to a custom resource.
fn is_builtin(doc: &Value) -> bool {
    let g = api_group(doc);
    !g.contains('.') || (g.ends_with(".k8s.io") && g != "gateway.networking.k8s.io")
}

pub(super) fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

#[test]
fn kubernetes_builtin_kinds_pass_kubernetes_validate() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let kv = existing(validators_dir().join("venv/bin/kubernetes-validate"));
    let Some(kv) = validator("kubernetes-validate (PyPI)", kv) else {
        return;
    };
    let mut builtin = Vec::new();
    for m in manifests(&python) {
        let n = m.docs.iter().filter(|d| is_builtin(d)).count();
        assert!(
            n == 0 || n == m.docs.len(),
            "{}: mixes built-in kinds and custom resources; keep them in separate files",
            rel(&m.file)
        );
        if n > 0 {
            builtin.push(m.file);
        }
    }
    assert!(
        builtin.len() >= 5,
        "expected the controller and sensor manifests: {builtin:?}"
    );
    // --strict rejects unknown fields; the schemas ship inside the package (nothing fetched).
    let (ok, out) = run(Command::new(kv)
        .args(["--strict", "--quiet"])
        .args(&builtin));
    assert!(ok && out.trim().is_empty(), "kubernetes-validate:\n{out}");

    let kustomization = repo().join("deploy/kubernetes/kustomization.yaml");
    let k = &yaml_docs(&python, &kustomization)[0];
    for r in k["resources"].as_array().unwrap() {
        let path = kustomization.parent().unwrap().join(r.as_str().unwrap());
        assert!(
            path.is_file(),
            "kustomization.yaml lists a missing {}",
            path.display()
        );
    }
}

/// Validates custom resources with the `@kubernetes-models/*` packages' schemas. Reads
/// `[{file, doc}]` on stdin, prints `ok|error|noschema FILE KIND/NAME[: why]` per document.
const CRD_VALIDATE_JS: &str = r#"
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
const PACKAGES = { "istio.io": "istio", "monitoring.coreos.com": "prometheus-operator",
                   "gateway.networking.k8s.io": "gateway-api" };
const nodeModules = process.argv[2];
for (const { file, doc } of JSON.parse(readFileSync(0, "utf8"))) {
  const [group, version] = doc.apiVersion.split("/");
  const pkg = Object.entries(PACKAGES).find(([g]) => group === g || group.endsWith("." + g));
  const what = `${file} ${doc.apiVersion} ${doc.kind}/${doc.metadata?.name}`;
  if (!pkg) { console.log(`noschema ${what}`); continue; }
  try {
    const index = join(nodeModules, "@kubernetes-models", pkg[1], group, version, "index.js");
    const models = await import(pathToFileURL(index).href);
    if (!models[doc.kind]) throw new Error(`no model for ${doc.kind}`);
    new models[doc.kind](doc).validate();
    console.log(`ok ${what}`);
  } catch (e) { console.log(`error ${what}: ${e.message}`); }
}
"#;

#[test]
fn kubernetes_custom_resources_pass_their_crd_schemas() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let Some(node) = validator("node (Debian/npm)", on_path("node")) else {
        return;
    };
    let modules = validators_dir().join("node_modules");
    let found = existing(modules.join("@kubernetes-models/istio"));
    if validator("@kubernetes-models/* (npm)", found).is_none() {
        return;
    }
    let items: Vec<Value> = manifests(&python)
        .into_iter()
        .flat_map(|m| {
            let file = rel(&m.file);
            m.docs
                .into_iter()
                .filter(|d| !is_builtin(d))
                .map(move |doc| serde_json::json!({ "file": file, "doc": doc }))
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let (script, input) = (
        tmp.path().join("validate.mjs"),
        tmp.path().join("docs.json"),
    );
    std::fs::write(&script, CRD_VALIDATE_JS).unwrap();
    std::fs::write(&input, serde_json::to_vec(&items).unwrap()).unwrap();
    let stdin = std::fs::File::open(&input).unwrap();
    let (ok, out) = run(Command::new(node).arg(&script).arg(&modules).stdin(stdin));
    assert!(ok, "node: {out}");
    eprintln!("{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        items.len(),
        "one verdict per custom resource:\n{out}"
    );
    for line in &lines {
        let no_schema = NO_SCHEMA_KINDS
            .iter()
            .any(|k| line.contains(&format!(" {k}/")));
        assert!(
            line.starts_with("ok ") || (line.starts_with("noschema ") && no_schema),
            "{line}"
        );
    }
    for kind in [
        "Telemetry/",
        "EnvoyFilter/",
        "IstioOperator/",
        "ServiceMonitor/",
        "GatewayClass/",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("ok ") && l.contains(kind)),
            "no {kind} validated:\n{out}"
        );
    }
}
