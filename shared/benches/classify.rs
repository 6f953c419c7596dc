//! The injection classifier alone, on one core: values per second over the bundled payload and
//! benign corpora (each value judged as a query-parameter value), and whole requests per second
//! (path, query, five headers and a JSON body, one in four carrying a corpus payload). Prints
//! medians of several runs.
//!
//!   cargo bench -p picket-shared --bench classify [-- RUNS]

use picket_shared::inject::{RequestParts, scan_request, scan_value};
use std::path::Path;
use std::time::Instant;

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files = Vec::new();
    let mut stack = vec![root.join("payloads"), root.join("benign")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x == "txt" || x == "fuzz") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        out.extend(
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    out
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(7);
    let values = corpus();
    let bytes: usize = values.iter().map(String::len).sum();
    let values_run = || {
        let start = Instant::now();
        let mut attacks = 0usize;
        for v in &values {
            attacks += usize::from(scan_value(v).is_attack());
        }
        std::hint::black_box(attacks);
        values.len() as f64 / start.elapsed().as_secs_f64()
    };
    values_run();
    let (v_med, v_min, v_max) = median((0..runs).map(|_| values_run()).collect());

    // Requests: mostly ordinary API calls; every fourth carries a corpus value in its query.
    let requests: Vec<(String, String)> = (0..20_000)
        .map(|i| {
            let value = if i % 4 == 0 {
                values[i * 7 % values.len()].replace(['&', '#', ' '], "")
            } else {
                format!("{}", i * 31 % 1000)
            };
            (
                format!("/api/v1/users/{}/orders?page={}&q={value}", i % 977, i % 10),
                format!(r#"{{"item":{{"sku":"A-{i}","qty":2}},"note":"leave at the door"}}"#),
            )
        })
        .collect();
    let requests_run = || {
        let start = Instant::now();
        let mut attacks = 0usize;
        for (target, body) in &requests {
            let headers = [
                ("Host", "api.example.com"),
                (
                    "User-Agent",
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                ),
                ("Referer", "https://app.example.com/orders"),
                ("Cookie", "session=abc123; theme=dark"),
                ("Content-Type", "application/json"),
            ];
            let v = scan_request(&RequestParts {
                target,
                headers: &headers,
                content_type: Some("application/json"),
                body: body.as_bytes(),
            });
            attacks += usize::from(v.is_attack());
        }
        std::hint::black_box(attacks);
        requests.len() as f64 / start.elapsed().as_secs_f64()
    };
    requests_run();
    let (r_med, r_min, r_max) = median((0..runs).map(|_| requests_run()).collect());
    println!("injection classifier, 1 core, {runs} runs");
    println!(
        "values       {} ({:.1} MiB, payload and benign corpora)",
        values.len(),
        bytes as f64 / 1048576.0
    );
    println!("values/s     median {v_med:.0}  (min {v_min:.0} / max {v_max:.0})");
    println!("requests/s   median {r_med:.0}  (min {r_min:.0} / max {r_max:.0})");
}
