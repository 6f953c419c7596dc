//! Kubernetes manifests against the binaries and each other: flags, config loading, probes,
//! security contexts, grace periods, ALS references.

use super::kubernetes::{Manifest, manifests, rel};
use super::*;

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

/// Non-root, read-only root filesystem, no privilege escalation, no capabilities.
fn check_security(origin: &str, spec: &Value, c: &Value, problems: &mut Vec<String>) {
    let sc = &c["securityContext"];
    let non_root = sc["runAsNonRoot"] == true || spec["securityContext"]["runAsNonRoot"] == true;
    let drops_all = sc["capabilities"]["drop"]
        .as_array()
        .is_some_and(|d| d.contains(&"ALL".into()));
    let locked = sc["readOnlyRootFilesystem"] == true && sc["allowPrivilegeEscalation"] == false;
    if !(non_root && locked && drops_all) {
        problems.push(format!(
            "{origin}: needs runAsNonRoot, readOnlyRootFilesystem, no privilege escalation, drop ALL"
        ));
    }
}

/// The admin listener must leave loopback in a pod, and the probes must use it.
fn check_admin_probes(origin: &str, c: &Value, args: &[String], problems: &mut Vec<String>) {
    let addr = match arg_value(args, "--admin-listen").map(str::parse::<std::net::SocketAddr>) {
        Some(Ok(addr)) if addr.ip().is_unspecified() => addr,
        other => {
            problems.push(format!(
                "{origin}: --admin-listen must bind 0.0.0.0 (found {other:?})"
            ));
            return;
        }
    };
    let port = c["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["containerPort"] == addr.port()));
    let probe_ok = |probe: &str, path: &str| {
        let get = &c[probe]["httpGet"];
        get["path"] == path
            && port.is_some_and(|p| get["port"] == p["name"] || get["port"] == p["containerPort"])
    };
    if !probe_ok("livenessProbe", "/healthz") || !probe_ok("readinessProbe", "/readyz") {
        problems.push(format!(
            "{origin}: liveness /healthz and readiness /readyz on the admin port {}",
            addr.port()
        ));
    }
}

/// `--token-file` must come from a Secret volume.
fn check_token_secret(
    origin: &str,
    spec: &Value,
    c: &Value,
    args: &[String],
    problems: &mut Vec<String>,
) {
    let Some(token) = arg_value(args, "--token-file") else {
        return;
    };
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

/// What a Picket container in a workload must get right; returns (binary, ALS port) and
/// pushes the problems found.
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
    check_security(&origin, spec, c, problems);
    check_admin_probes(&origin, c, &args, problems);
    check_token_secret(&origin, spec, c, &args, problems);
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

/// What the manifests say, gathered in one pass.
#[derive(Default)]
struct Survey {
    problems: Vec<String>,
    receivers: Vec<AlsReceiver>,
    /// (namespace, name) → Service.
    services: BTreeMap<(String, String), Value>,
    /// (file, (namespace, service, port)) of every ALS destination.
    refs: Vec<(String, (String, String, u64))>,
    picket_containers: usize,
}

fn name_of(doc: &Value) -> String {
    doc["metadata"]["name"].as_str().unwrap().to_owned()
}

fn survey(manifests: &[Manifest]) -> Survey {
    let mut s = Survey::default();
    for m in manifests {
        let origin = rel(&m.file);
        let config_maps: BTreeMap<String, Value> = m
            .docs
            .iter()
            .filter(|d| d["kind"] == "ConfigMap")
            .map(|d| (name_of(d), d.clone()))
            .collect();
        for doc in &m.docs {
            let namespace = doc["metadata"]["namespace"].as_str().unwrap_or_default();
            s.refs
                .extend(als_references(doc).into_iter().map(|r| (origin.clone(), r)));
            if doc["kind"] == "Service" {
                s.services
                    .insert((namespace.to_owned(), name_of(doc)), doc.clone());
            }
            let spec = &doc["spec"]["template"]["spec"];
            for c in spec["containers"].as_array().into_iter().flatten() {
                let origin = format!("{origin} {}", doc["metadata"]["name"]);
                let checked =
                    check_picket_container(&origin, spec, c, &config_maps, &mut s.problems);
                let Some((_, als)) = checked else { continue };
                s.picket_containers += 1;
                if let Some(als_port) = als {
                    s.receivers.push(AlsReceiver {
                        namespace: namespace.to_owned(),
                        labels: doc["spec"]["template"]["metadata"]["labels"].clone(),
                        ports: c["ports"].clone(),
                        als_port,
                    });
                }
            }
        }
    }
    s
}

#[test]
fn kubernetes_kits_agree_with_the_binaries_and_each_other() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let manifests = manifests(&python);
    let Survey {
        mut problems,
        receivers,
        services,
        refs,
        picket_containers,
    } = survey(&manifests);
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
    let config_map = sidecar
        .docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .unwrap();
    let original =
        std::fs::read_to_string(repo().join("deploy/nginx/picket-log-format.conf")).unwrap();
    if config_map["data"]["picket-log-format.conf"] != original.as_str() {
        problems
            .push("sensor-sidecar.yaml: picket-log-format.conf differs from deploy/nginx/".into());
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
