//! Import and matching cost. Generates a large spec in memory: operations in groups of five
//! (`/v1/svcA/resB` GET/POST, `/v1/svcA/resB/{id}` GET/PUT/DELETE), a shared parameter reached
//! through a 20-hop `$ref` chain, and request/response schemas in a second file, 100 chains of
//! 20 schemas each referencing the next (the last one back to the first: a cycle). Imports it
//! as JSON and as block YAML, then matches a mix of documented, parameterized, placeholder,
//! drift and shadow paths against 10,000 documented operations. Prints medians of RUNS runs.
//!
//!   cargo bench -p picket-openapi --bench import [-- RUNS]
//!
//! Memory is the process's peak resident set during one import above the level before it
//! (`/proc/self/status` VmHWM after resetting it through `/proc/self/clear_refs`): the workspace
//! forbids `unsafe`, so no counting allocator.

use std::hint::black_box;
use std::time::Instant;

use picket_openapi::{ImportOptions, Matcher, Spec, import_bundle};
use serde_json::{Value, json};

const CHAINS: usize = 100;
const CHAIN_DEPTH: usize = 20;

fn generate(operations: usize) -> (Value, Value) {
    let mut paths = serde_json::Map::new();
    let groups = operations / 5;
    for g in 0..groups {
        let (a, b) = (g / 20, g % 20);
        let schema = json!({"$ref": format!("schemas.json#/C{}_0", g % CHAINS)});
        let body = json!({"required": true, "content": {"application/json": {"schema": schema}}});
        let ok = json!({"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}, "default": {"description": "error"}});
        let shared = json!([{"$ref": "#/components/parameters/L0"}, {"$ref": "#/components/parameters/Trace"}]);
        paths.insert(
            format!("/v1/svc{a}/res{b}"),
            json!({
                "parameters": shared,
                "get": {"operationId": format!("list{g}"), "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}], "responses": ok},
                "post": {"operationId": format!("create{g}"), "requestBody": body, "responses": ok},
            }),
        );
        paths.insert(
            format!("/v1/svc{a}/res{b}/{{id}}"),
            json!({
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}],
                "get": {"operationId": format!("get{g}"), "parameters": shared, "responses": ok},
                "put": {"operationId": format!("put{g}"), "requestBody": body, "responses": ok, "security": []},
                "delete": {"operationId": format!("delete{g}"), "deprecated": true, "responses": ok},
            }),
        );
    }
    let mut params = serde_json::Map::new();
    for k in 0..CHAIN_DEPTH - 1 {
        params.insert(
            format!("L{k}"),
            json!({"$ref": format!("#/components/parameters/L{}", k + 1)}),
        );
    }
    params.insert(
        format!("L{}", CHAIN_DEPTH - 1),
        json!({"name": "limit", "in": "query", "schema": {"type": "integer"}}),
    );
    params.insert(
        "Trace".into(),
        json!({"name": "X-Trace", "in": "header", "schema": {"type": "string"}}),
    );
    let api = json!({
        "openapi": "3.0.3",
        "info": {"title": "bench", "version": "1"},
        "servers": [{"url": "https://{env}.example.com/api", "variables": {"env": {"default": "bench"}}}],
        "security": [{"key": []}],
        "paths": paths,
        "components": {
            "parameters": params,
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}},
        },
    });
    let mut schemas = serde_json::Map::new();
    for c in 0..CHAINS {
        for k in 0..CHAIN_DEPTH {
            let next = format!("#/C{c}_{}", (k + 1) % CHAIN_DEPTH);
            schemas.insert(
                format!("C{c}_{k}"),
                json!({"type": "object", "properties": {"value": {"type": "string"}, "next": {"$ref": next}}}),
            );
        }
    }
    (api, Value::Object(schemas))
}

/// Block-style YAML (strings double-quoted with JSON escapes, which YAML accepts).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                out.push_str(&format!("\n{pad}{}:", Value::String(k.clone())));
                yaml(child, indent + 2, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for child in a {
                out.push_str(&format!("\n{pad}-"));
                yaml(child, indent + 2, out);
            }
        }
        other => out.push_str(&format!(" {other}")),
    }
}

fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml(v, 0, &mut out);
    out.push('\n');
    out
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn status_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident growth while `f` runs, in MiB (`None` off Linux).
fn peak_mib<T>(f: impl FnOnce() -> T) -> (T, Option<f64>) {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kib("VmRSS:");
    let out = f();
    let peak = status_kib("VmHWM:");
    let grown = match (reset, before, peak) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b) as f64 / 1024.0),
        _ => None,
    };
    (out, grown)
}

fn import(files: &[(&str, &[u8])], opts: &ImportOptions) -> Spec {
    match import_bundle(files[0].0, files, opts) {
        Ok(spec) => spec,
        Err(e) => panic!("bench spec does not import: {e}"),
    }
}

fn bench_import(name: &str, files: &[(&str, &[u8])], runs: usize, want_ops: usize) {
    let opts = ImportOptions::default();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let (spec, peak) = peak_mib(|| import(files, &opts));
    assert_eq!(spec.operations.len(), want_ops);
    assert!(spec.problems.is_empty(), "{:?}", spec.problems.first());
    let cycles = spec.cycles.len();
    drop(spec);
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(import(files, &opts));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let ms = median(times);
    let peak = peak.map_or("n/a".to_owned(), |p| format!("{p:.1}"));
    println!(
        "{name:<28} {want_ops:>6} ops  {:>6.2} MiB  {ms:>8.1} ms  {:>6.1} MiB/s  peak +{peak} MiB  cycles {cycles}",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / (ms / 1e3),
    );
}

fn bench_match(runs: usize) {
    let (api, schemas) = generate(10_000);
    let (api, schemas) = (
        serde_json::to_vec(&api).unwrap_or_default(),
        serde_json::to_vec(&schemas).unwrap_or_default(),
    );
    let spec = import(
        &[("api.json", &api), ("schemas.json", &schemas)],
        &ImportOptions::default(),
    );
    let start = Instant::now();
    let m = Matcher::new(&[("bench", &spec)]);
    let build_ms = start.elapsed().as_secs_f64() * 1e3;
    let host = "bench.example.com";
    let mix: Vec<(&str, String)> = (0..4_000)
        .map(|i| {
            let (a, b) = ((i * 7) % 100, (i * 13) % 20);
            match i % 5 {
                0 => ("GET", format!("/api/v1/svc{a}/res{b}")),
                1 => ("GET", format!("/api/v1/svc{a}/res{b}/{}", 1000 + i)),
                2 => ("DELETE", format!("/api/v1/svc{a}/res{b}/{{id}}")),
                3 => ("PATCH", format!("/api/v1/svc{a}/res{b}/{{id}}")),
                _ => ("GET", format!("/api/v1/svc{a}/unknown{b}/{i}")),
            }
        })
        .collect();
    let rounds = 250;
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds {
                for (method, path) in &mix {
                    black_box(m.lookup(black_box(host), method, path));
                }
            }
            start.elapsed().as_secs_f64() * 1e9 / (rounds * mix.len()) as f64
        })
        .collect();
    println!(
        "matcher: {} operations indexed in {build_ms:.1} ms; {:.0} ns/lookup (median), mix of \
         documented, concrete ids, placeholders, zombie, drift and shadow paths",
        m.len(),
        median(times)
    );
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(7);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("picket-openapi import bench — {runs} runs, {cores} cores visible, single-threaded");
    let (api, schemas) = generate(2_000);
    let json_api = serde_json::to_vec(&api).unwrap_or_default();
    let json_schemas = serde_json::to_vec(&schemas).unwrap_or_default();
    bench_import(
        "2,000 ops json (2 files)",
        &[("api.json", &json_api), ("schemas.json", &json_schemas)],
        runs,
        2_000,
    );
    let yaml_api = to_yaml(&api).replace("schemas.json#", "schemas.yaml#");
    let yaml_schemas = to_yaml(&schemas);
    bench_import(
        "2,000 ops yaml (2 files)",
        &[
            ("api.yaml", yaml_api.as_bytes()),
            ("schemas.yaml", yaml_schemas.as_bytes()),
        ],
        runs,
        2_000,
    );
    bench_match(runs);
}
