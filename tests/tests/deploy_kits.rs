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
        if !listed {
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

#[path = "deploy_kits/kubernetes.rs"]
mod kubernetes;
#[path = "deploy_kits/kubernetes_cross.rs"]
mod kubernetes_cross;
#[path = "deploy_kits/yaml_nginx.rs"]
mod yaml_nginx;
