//! The deploy kits (`deploy/systemd`, `deploy/kubernetes`, `deploy/otel`) and the example
//! configs the README shows, checked with the tools their ecosystems use and against the
//! binaries themselves:
//!
//! - every TOML config (`deploy/*.toml`, `deploy/systemd/*.toml`, the ConfigMaps' `*.toml`)
//!   loads and validates through the binaries' own config loaders (unknown keys are errors);
//! - every flag a unit or a manifest passes is one the binary's `--help` lists;
//! - systemd units: `systemd-analyze verify` and `systemd-analyze security --offline=yes`;
//! - Kubernetes built-in kinds: `kubernetes-validate --strict` (schemas bundled in the package,
//!   nothing fetched); Istio, Gateway API and Prometheus Operator kinds: the JSON schemas of
//!   the `@kubernetes-models/*` npm packages; all YAML: `yamllint`;
//! - cross-checks: probes on the admin port, grace periods above the sensor's shutdown grace,
//!   ALS providers pointing at the sensor Service, complete collector pipelines;
//! - nginx examples: `nginx -t`.
//!
//! The tools live in `$PICKET_VALIDATORS_DIR` (default `/opt/picket-validators`: `venv/` and
//! `node_modules/`), put there by `.ci/run`, plus Debian's `systemd-analyze` and `nginx`. A
//! missing tool gives a loud SKIPPED banner and a pass; with `PICKET_REQUIRE_VALIDATORS=1`
//! (set by `.ci/run`) it fails instead (nginx follows `PICKET_REQUIRE_NGINX`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_controller::config::ControllerConfig;
use picket_sensor::config::SensorConfig;
use picket_tests::bin;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Flags the kits use that land in the same release as the kits (the admin listener, the log
/// format, OTLP export): tolerated while a binary's `--help` does not list them yet, and
/// checked like every other flag once it does.
const PENDING_FLAGS: &[&str] = &["--admin-listen", "--log-format", "--otlp-endpoint"];

/// Highest `systemd-analyze security` exposure accepted, in tenths (2.0 of 10: "OK").
const MAX_SYSTEMD_EXPOSURE_TENTHS: u32 = 20;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn validators_dir() -> PathBuf {
    std::env::var_os("PICKET_VALIDATORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/picket-validators"))
}

fn existing(p: PathBuf) -> Option<PathBuf> {
    p.exists().then_some(p)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The tool, or `None` after a loud banner (a failure under `require_var=1`).
fn tool_or_skip(what: &str, found: Option<PathBuf>, require_var: &str) -> Option<PathBuf> {
    if found.is_none() {
        assert!(
            std::env::var(require_var).as_deref() != Ok("1"),
            "{what} is required ({require_var}=1) but not installed"
        );
        eprintln!(
            "\n!!!!!!!!\n!!! SKIPPED deploy-kit check: {what} not found (.ci/run installs it)\n!!!!!!!!\n"
        );
    }
    found
}

fn validator(what: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    tool_or_skip(what, found, "PICKET_REQUIRE_VALIDATORS")
}

/// PyYAML (a kubernetes-validate dependency) in the validators' venv.
fn python_or_skip() -> Option<PathBuf> {
    let python = existing(validators_dir().join("venv/bin/python"));
    validator("PyYAML (validators venv)", python)
}

/// Runs a command; returns whether it succeeded and its stdout + stderr.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The YAML documents of a file as JSON, read by PyYAML's `safe_load_all` (empty ones dropped).
fn yaml_docs(python: &Path, file: &Path) -> Vec<Value> {
    let script = "import json,sys,yaml\n\
                  docs=[d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
                  print(json.dumps(docs))";
    let (ok, out) = run(Command::new(python).args(["-c", script]).arg(file));
    assert!(ok, "{} is not valid YAML: {out}", file.display());
    serde_json::from_str(&out).unwrap()
}

fn load_controller_toml(text: &str, origin: &str) {
    let cfg: ControllerConfig =
        toml::from_str(text).unwrap_or_else(|e| panic!("{origin}: controller config: {e}"));
    cfg.validate()
        .unwrap_or_else(|e| panic!("{origin}: controller config: {e}"));
}

fn load_sensor_toml(text: &str, origin: &str) -> SensorConfig {
    let cfg: SensorConfig =
        toml::from_str(text).unwrap_or_else(|e| panic!("{origin}: sensor config: {e}"));
    cfg.validate()
        .unwrap_or_else(|e| panic!("{origin}: sensor config: {e}"));
    cfg.trusted_proxy_cidrs()
        .unwrap_or_else(|e| panic!("{origin}: sensor config: {e}"));
    cfg
}

/// Checks every `--flag` in `args` against `binary --help`; returns the problems.
fn unknown_flags(binary: &str, args: &[String], origin: &str) -> Vec<String> {
    let (ok, help) = run(Command::new(bin(binary)).arg("--help"));
    assert!(ok, "{binary} --help failed: {help}");
    let mut problems = Vec::new();
    for arg in args.iter().filter(|a| a.starts_with("--")) {
        let flag = arg.split('=').next().unwrap();
        let listed = help
            .split(|c: char| c.is_whitespace() || c == ',')
            .any(|w| w == flag);
        if listed {
            continue;
        }
        if PENDING_FLAGS.contains(&flag) {
            eprintln!(
                "note: {origin}: {flag} is not in `{binary} --help` yet (pending, tolerated)"
            );
        } else {
            problems.push(format!("{origin}: {binary} has no flag {flag}"));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// TOML configs and systemd units: no external tool needed.

#[test]
fn example_configs_load_through_the_binaries_config_loaders() {
    let deploy = repo().join("deploy");
    for (file, controller) in [
        ("controller.example.toml", true),
        ("systemd/controller.toml", true),
        ("sensor.example.toml", false),
        ("systemd/sensor.toml", false),
    ] {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap();
        if controller {
            load_controller_toml(&text, file);
        } else {
            load_sensor_toml(&text, file);
        }
    }
}

/// `Key=value` lines of a unit file (comments and sections dropped).
fn unit_entries(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';', '[']))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn unit_seconds(v: &str) -> u64 {
    v.trim_end_matches('s').parse().unwrap()
}

#[test]
fn systemd_units_carry_the_hardening_and_only_known_flags() {
    let dir = repo().join("deploy/systemd");
    let sensor_grace_ms = load_sensor_toml(
        &std::fs::read_to_string(dir.join("sensor.toml")).unwrap(),
        "sensor.toml",
    )
    .shutdown_grace_ms;
    let mut problems = Vec::new();
    for unit in ["picket-controller.service", "picket-sensor.service"] {
        let entries = unit_entries(&std::fs::read_to_string(dir.join(unit)).unwrap());
        let get = |k: &str| -> Vec<&str> {
            entries
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        for (key, want) in [
            ("DynamicUser", Some("yes")),
            ("ProtectSystem", Some("strict")),
            ("ProtectHome", Some("yes")),
            ("PrivateTmp", Some("yes")),
            ("NoNewPrivileges", Some("yes")),
            ("CapabilityBoundingSet", Some("")),
            ("SystemCallFilter", Some("@system-service")),
            ("Restart", Some("on-failure")),
            ("StateDirectory", None),
            ("RestrictAddressFamilies", None),
            ("LimitNOFILE", None),
        ] {
            let found = get(key);
            let ok = match want {
                Some(v) => found.contains(&v),
                None => !found.is_empty(),
            };
            if !ok {
                problems.push(format!("{unit}: {key}={} missing", want.unwrap_or("…")));
            }
        }
        let exec: Vec<String> = get("ExecStart")[0]
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let binary = Path::new(&exec[0]).file_name().unwrap().to_str().unwrap();
        problems.extend(unknown_flags(binary, &exec[1..], unit));
        let stop_s = unit_seconds(get("TimeoutStopSec")[0]);
        if binary == "picket-sensor" && stop_s * 1000 <= sensor_grace_ms {
            problems.push(format!(
                "{unit}: TimeoutStopSec={stop_s}s is not above shutdown_grace_ms={sensor_grace_ms}"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Copies of the units whose ExecStart names the binaries cargo built (verify insists that the
/// executable exists), everything else byte for byte.
fn units_pointing_at_built_binaries(tmp: &Path) -> Vec<PathBuf> {
    let built = bin("picket-controller").parent().unwrap().to_path_buf();
    files_under(&repo().join("deploy/systemd"), ".service")
        .into_iter()
        .map(|unit| {
            let text = std::fs::read_to_string(&unit).unwrap();
            let text = text.replace(
                "/usr/local/bin/picket-",
                &format!("{}/picket-", built.display()),
            );
            let copy = tmp.join(unit.file_name().unwrap());
            std::fs::write(&copy, text).unwrap();
            copy
        })
        .collect()
}

#[test]
fn systemd_units_pass_systemd_analyze() {
    let Some(analyze) = validator(
        "systemd-analyze (Debian package systemd)",
        on_path("systemd-analyze"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let units = units_pointing_at_built_binaries(tmp.path());
    assert_eq!(units.len(), 2, "expected the controller and sensor units");
    // verify exits 0 on unknown keys and unparsable values (it only warns): any output fails.
    let (ok, out) = run(Command::new(&analyze)
        .args(["verify", "--man=no", "--generators=no"])
        .args(&units));
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );
    for unit in &units {
        let (ok, out) = run(Command::new(&analyze)
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("--threshold={MAX_SYSTEMD_EXPOSURE_TENTHS}"))
            .arg(unit));
        let last = out.lines().last().unwrap_or_default().to_owned();
        eprintln!("{last}");
        assert!(
            ok,
            "systemd-analyze security {}: exposure above 2.0:\n{out}",
            unit.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes.

/// Custom-resource kinds no registry package has a schema for: checked as YAML (yamllint) and
/// by the cross-checks below (the ALS backend they name must be the sensor Service).
const NO_SCHEMA_KINDS: &[&str] = &["gateway.envoyproxy.io/v1alpha1 EnvoyProxy"];

struct Manifest {
    file: PathBuf,
    docs: Vec<Value>,
}

/// Every manifest under deploy/kubernetes (kustomization.yaml is checked on its own).
fn manifests(python: &Path) -> Vec<Manifest> {
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

fn rel(p: &Path) -> String {
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

/// `--name=value` from container args.
fn arg_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
}

/// The text of the file at `path` inside a container, when a ConfigMap volume provides it.
fn mounted_file<'a>(
    spec: &Value,
    container: &Value,
    path: &Path,
    config_maps: &'a BTreeMap<String, Value>,
) -> Option<&'a str> {
    let (dir, name) = (path.parent()?.to_str()?, path.file_name()?.to_str()?);
    let mount = container["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["mountPath"] == dir)?;
    let volume = spec["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == mount["name"])?;
    let cm = &volume["configMap"];
    let key = match cm["items"].as_array() {
        Some(items) => items.iter().find(|i| i["path"] == name)?["key"].as_str()?,
        None => name,
    };
    config_maps.get(cm["name"].as_str()?)?["data"][key].as_str()
}

/// What a Picket container in a workload must get right; returns (binary, ALS port) and the
/// problems found.
fn check_picket_container(
    origin: &str,
    spec: &Value,
    c: &Value,
    config_maps: &BTreeMap<String, Value>,
    problems: &mut Vec<String>,
) -> Option<(String, Option<u16>)> {
    let command = c["command"][0].as_str()?;
    let binary = Path::new(command).file_name()?.to_str()?.to_owned();
    if !binary.starts_with("picket-") {
        return None;
    }
    let origin = format!("{origin} container {}", c["name"]);
    let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap_or_default();
    problems.extend(unknown_flags(&binary, &args, &origin));
    let sc = &c["securityContext"];
    let non_root = sc["runAsNonRoot"] == true || spec["securityContext"]["runAsNonRoot"] == true;
    let drops_all = sc["capabilities"]["drop"]
        .as_array()
        .is_some_and(|d| d.contains(&"ALL".into()));
    if !(non_root
        && sc["readOnlyRootFilesystem"] == true
        && sc["allowPrivilegeEscalation"] == false
        && drops_all)
    {
        problems.push(format!("{origin}: needs runAsNonRoot, readOnlyRootFilesystem, no privilege escalation, drop ALL"));
    }
    // The admin listener must leave loopback in a pod, and the probes must use it.
    match arg_value(&args, "--admin-listen").map(str::parse::<std::net::SocketAddr>) {
        Some(Ok(addr)) if addr.ip().is_unspecified() => {
            let port = c["ports"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["containerPort"] == addr.port()));
            let probe_ok = |probe: &str, path: &str| {
                let get = &c[probe]["httpGet"];
                get["path"] == path
                    && port.is_some_and(|p| {
                        get["port"] == p["name"] || get["port"] == p["containerPort"]
                    })
            };
            if !probe_ok("livenessProbe", "/healthz") || !probe_ok("readinessProbe", "/readyz") {
                problems.push(format!(
                    "{origin}: liveness /healthz and readiness /readyz on the admin port {}",
                    addr.port()
                ));
            }
        }
        other => problems.push(format!(
            "{origin}: --admin-listen must bind 0.0.0.0 (found {other:?})"
        )),
    }
    if let Some(token) = arg_value(&args, "--token-file") {
        let dir = Path::new(token).parent().unwrap().to_str().unwrap();
        let secret = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mountPath"] == dir)
            .and_then(|m| {
                spec["volumes"]
                    .as_array()?
                    .iter()
                    .find(|v| v["name"] == m["name"])
            })
            .is_some_and(|v| v["secret"].is_object());
        if !secret {
            problems.push(format!(
                "{origin}: --token-file {token} is not in a Secret volume"
            ));
        }
    }
    let config = Path::new(arg_value(&args, "--config")?);
    let Some(text) = mounted_file(spec, c, config, config_maps) else {
        problems.push(format!(
            "{origin}: no ConfigMap provides {}",
            config.display()
        ));
        return Some((binary, None));
    };
    if binary == "picket-controller" {
        load_controller_toml(text, &origin);
        return Some((binary, None));
    }
    let cfg = load_sensor_toml(text, &origin);
    let grace_s = spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    if grace_s * 1000 <= cfg.shutdown_grace_ms {
        problems.push(format!(
            "{origin}: terminationGracePeriodSeconds {grace_s} not above shutdown_grace_ms"
        ));
    }
    Some((binary, cfg.als.map(|a| a.listen.port())))
}

/// A workload's ALS receiver: namespace, pod labels, container ports, the sensor's ALS port.
struct AlsReceiver {
    namespace: String,
    labels: Value,
    ports: Value,
    als_port: u16,
}

/// ALS destinations named by the Istio and Envoy Gateway kits: (namespace, service, port).
fn als_references(doc: &Value) -> Vec<(String, String, u64)> {
    let mut refs = Vec::new();
    let from_host = |host: &str, port: u64| {
        let mut parts = host.split('.');
        let name = parts.next().unwrap_or_default().to_owned();
        (parts.next().unwrap_or_default().to_owned(), name, port)
    };
    match doc["kind"].as_str().unwrap_or_default() {
        "IstioOperator" => {
            for p in doc["spec"]["meshConfig"]["extensionProviders"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let als = &p["envoyHttpAls"];
                refs.push(from_host(
                    als["service"].as_str().unwrap(),
                    als["port"].as_u64().unwrap(),
                ));
            }
        }
        "EnvoyFilter" => {
            for patch in doc["spec"]["configPatches"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let logs = &patch["patch"]["value"]["typed_config"]["access_log"];
                for log in logs.as_array().into_iter().flatten() {
                    let grpc = &log["typed_config"]["common_config"]["grpc_service"];
                    let cluster = grpc["envoy_grpc"]["cluster_name"].as_str().unwrap();
                    // Istio's outbound|PORT||HOST
                    let parts: Vec<&str> = cluster.split('|').collect();
                    refs.push(from_host(parts[3], parts[1].parse().unwrap()));
                }
            }
        }
        "EnvoyProxy" => {
            for setting in doc["spec"]["telemetry"]["accessLog"]["settings"]
                .as_array()
                .into_iter()
                .flatten()
            {
                for sink in setting["sinks"].as_array().into_iter().flatten() {
                    for b in sink["als"]["backendRefs"].as_array().into_iter().flatten() {
                        let ns = b["namespace"].as_str().unwrap().to_owned();
                        refs.push((
                            ns,
                            b["name"].as_str().unwrap().to_owned(),
                            b["port"].as_u64().unwrap(),
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    refs
}

/// Whether Service `svc` sends `port` to a sensor container's ALS listener.
fn service_reaches_als(svc: &Value, port: u64, receivers: &[AlsReceiver]) -> bool {
    let Some(sp) = svc["spec"]["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["port"] == port))
    else {
        return false;
    };
    let selector = svc["spec"]["selector"].as_object().unwrap();
    receivers.iter().any(|r| {
        r.namespace == svc["metadata"]["namespace"].as_str().unwrap_or_default()
            && selector.iter().all(|(k, v)| &r.labels[k] == v)
            && r.ports.as_array().into_iter().flatten().any(|cp| {
                (cp["name"] == sp["targetPort"] || cp["containerPort"] == sp["targetPort"])
                    && cp["containerPort"] == r.als_port
            })
    })
}

#[test]
fn kubernetes_kits_agree_with_the_binaries_and_each_other() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let manifests = manifests(&python);
    let mut problems = Vec::new();
    let (mut receivers, mut services, mut refs, mut picket_containers) =
        (Vec::new(), BTreeMap::new(), Vec::new(), 0);
    for m in &manifests {
        let origin = rel(&m.file);
        let config_maps: BTreeMap<String, Value> = m
            .docs
            .iter()
            .filter(|d| d["kind"] == "ConfigMap")
            .map(|d| {
                (
                    d["metadata"]["name"].as_str().unwrap().to_owned(),
                    d.clone(),
                )
            })
            .collect();
        for doc in &m.docs {
            let namespace = doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            refs.extend(als_references(doc).into_iter().map(|r| (origin.clone(), r)));
            if doc["kind"] == "Service" {
                services.insert(
                    (
                        namespace.clone(),
                        doc["metadata"]["name"].as_str().unwrap().to_owned(),
                    ),
                    doc.clone(),
                );
            }
            let spec = &doc["spec"]["template"]["spec"];
            for c in spec["containers"].as_array().into_iter().flatten() {
                let origin = format!("{origin} {}", doc["metadata"]["name"]);
                let Some((_, als)) =
                    check_picket_container(&origin, spec, c, &config_maps, &mut problems)
                else {
                    continue;
                };
                picket_containers += 1;
                if let Some(als_port) = als {
                    let labels = doc["spec"]["template"]["metadata"]["labels"].clone();
                    receivers.push(AlsReceiver {
                        namespace: namespace.clone(),
                        labels,
                        ports: c["ports"].clone(),
                        als_port,
                    });
                }
            }
        }
    }
    assert!(
        picket_containers >= 4,
        "expected controller, node, ALS and sidecar sensors"
    );
    assert!(
        refs.len() >= 4,
        "expected Istio, EnvoyFilter and Envoy Gateway ALS references: {refs:?}"
    );
    for (origin, (ns, name, port)) in &refs {
        let reaches = services
            .get(&(ns.clone(), name.clone()))
            .is_some_and(|s| service_reaches_als(s, *port, &receivers));
        if !reaches {
            problems.push(format!(
                "{origin}: ALS to {name}.{ns}:{port} reaches no sensor's ALS listener"
            ));
        }
    }
    // The sidecar's nginx must log exactly the documented format.
    let sidecar = manifests
        .iter()
        .find(|m| m.file.ends_with("sensor-sidecar.yaml"))
        .unwrap();
    let copy = sidecar
        .docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .unwrap()["data"]["picket-log-format.conf"]
        .clone();
    let original =
        std::fs::read_to_string(repo().join("deploy/nginx/picket-log-format.conf")).unwrap();
    if copy != original.as_str() {
        problems
            .push("sensor-sidecar.yaml: picket-log-format.conf differs from deploy/nginx/".into());
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

// ---------------------------------------------------------------------------------------------
// Every YAML file, the collector config and the nginx examples.

#[test]
fn every_yaml_kit_passes_yamllint() {
    let lint = existing(validators_dir().join("venv/bin/yamllint"));
    let Some(lint) = validator("yamllint (PyPI)", lint) else {
        return;
    };
    let deploy = repo().join("deploy");
    let files = files_under(&deploy, ".yaml");
    assert!(files.len() >= 10, "{files:?}");
    let (ok, out) = run(Command::new(lint)
        .arg("-s")
        .arg("-c")
        .arg(deploy.join(".yamllint.yaml"))
        .args(&files));
    assert!(ok, "yamllint:\n{out}");
}

/// Checks what `otelcol validate` checks of a config's shape: every pipeline has receivers and
/// exporters, every component a pipeline names is defined, every defined one is used.
#[test]
fn otel_collector_config_has_complete_pipelines() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let docs = yaml_docs(&python, &repo().join("deploy/otel/collector.yaml"));
    let cfg = &docs[0];
    let service = &cfg["service"];
    let mut problems = Vec::new();
    let mut used: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let pipelines = service["pipelines"].as_object().expect("service.pipelines");
    for name in ["traces", "metrics"] {
        if !pipelines.contains_key(name) {
            problems.push(format!("no {name} pipeline: Picket exports both"));
        }
    }
    for (name, p) in pipelines {
        for section in ["receivers", "processors", "exporters"] {
            let list: Vec<String> = serde_json::from_value(p[section].clone()).unwrap_or_default();
            if list.is_empty() && section != "processors" {
                problems.push(format!("pipeline {name} has no {section}"));
            }
            for c in &list {
                if cfg[section].get(c).is_none() {
                    problems.push(format!("pipeline {name}: {section}.{c} is not defined"));
                }
            }
            used.entry(section).or_default().extend(list);
        }
    }
    let ext: Vec<String> =
        serde_json::from_value(service["extensions"].clone()).unwrap_or_default();
    used.insert("extensions", ext);
    for (section, names) in &used {
        for defined in cfg[*section].as_object().into_iter().flat_map(|o| o.keys()) {
            if !names.contains(defined) {
                problems.push(format!("{section}.{defined} is defined but never used"));
            }
        }
    }
    let grpc = cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].as_str();
    if grpc.is_none_or(|e| !e.ends_with(":4317")) {
        problems.push(format!(
            "the OTLP gRPC receiver should listen on 4317 (found {grpc:?})"
        ));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `nginx -t` over the README's nginx examples and the sidecar's nginx config, with their
/// absolute paths moved into a scratch directory.
#[test]
fn nginx_examples_pass_nginx_t() {
    let found = on_path("nginx").or_else(|| existing(PathBuf::from("/usr/sbin/nginx")));
    let Some(nginx) = tool_or_skip(
        "nginx (Debian package nginx)",
        found,
        "PICKET_REQUIRE_NGINX",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let conf_d = d.join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    let relocate = |text: &str| {
        text.replace("/etc/nginx/conf.d/", &format!("{}/", conf_d.display()))
            .replace("/var/log/nginx/", &format!("{}/", d.display()))
            .replace("/var/log/picket/", &format!("{}/", d.display()))
    };
    let nginx_dir = repo().join("deploy/nginx");
    let mut sites = Vec::new();
    for f in files_under(&nginx_dir, ".conf") {
        let name = f.file_name().unwrap().to_str().unwrap().to_owned();
        std::fs::write(
            conf_d.join(&name),
            relocate(&std::fs::read_to_string(&f).unwrap()),
        )
        .unwrap();
        if name != "picket-log-format.conf" {
            sites.push(name);
        }
    }
    if let Some(python) = python_or_skip() {
        let docs = yaml_docs(
            &python,
            &repo().join("deploy/kubernetes/sensor-sidecar.yaml"),
        );
        let conf = docs[0]["data"]["default.conf"].as_str().unwrap();
        std::fs::write(conf_d.join("sidecar-default.conf"), relocate(conf)).unwrap();
        sites.push("sidecar-default.conf".into());
    }
    for site in sites {
        // picket-mirror.conf uses the format defined by picket-log-format.conf only if it
        // includes it; the main config includes the format once for sites that do not.
        let site_text = std::fs::read_to_string(conf_d.join(&site)).unwrap();
        let format = if site_text.contains("picket-log-format.conf") {
            String::new()
        } else {
            format!("include {}/picket-log-format.conf;", conf_d.display())
        };
        let main = d.join("nginx.conf");
        std::fs::write(
            &main,
            format!(
                "pid {p}/nginx.pid;\nerror_log {p}/error.log warn;\nevents {{}}\nhttp {{\n  {format}\n  \
                 client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  \
                 uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  include {p}/conf.d/{site};\n}}\n",
                p = d.display()
            ),
        )
        .unwrap();
        let (ok, out) = run(Command::new(&nginx)
            .arg("-t")
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(&main));
        assert!(ok, "nginx -t with {site}:\n{out}");
    }
}
