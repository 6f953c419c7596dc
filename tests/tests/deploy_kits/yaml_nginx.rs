//! Every YAML file through yamllint, the collector config's pipelines, the nginx examples
//! through `nginx -t`.

use super::*;

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
