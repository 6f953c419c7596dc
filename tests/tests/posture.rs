//! Onboarding and posture end to end: a real controller (posture re-evaluated every second),
//! a file sensor and `picketctl`. With auto-onboarding off, a new API's traffic is
//! unprotected (counted, not billed, not analyzed: no alert) and raises "onboard this API";
//! onboarding bills and analyzes new traffic and resolves that finding; offboarding reverses
//! it. Findings for drift (parameters, status codes), shadow, unauthenticated and exposed
//! endpoints come from the shop spec and the traffic, with their benign look-alikes absent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

const SHOP: &str = "shop.example.com";
const SQLI: &str = "/api/v1/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--";

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn lines(first: usize, n: usize, method: &str, uri: &str, status: u16, ip: &str) -> Vec<String> {
    (first..first + n)
        .map(|i| json_line(1_795_219_200.0 + i as f64, SHOP, method, uri, status, ip))
        .collect()
}

fn cli_json(url: &str, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let out = picketctl(url, token, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Waits until `findings list` (with `args`) holds a finding accepted by `want`.
async fn until_finding(
    url: &str,
    token: &str,
    args: &[&str],
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let mut list = vec!["findings", "list"];
    list.extend_from_slice(args);
    eventually(Duration::from_secs(60), what, || {
        let found = cli_json(url, token, &list)
            .as_array()
            .unwrap()
            .iter()
            .find(|f| want(f))
            .cloned();
        async move { found }
    })
    .await
}

/// Runs `picketctl` expecting it to fail; returns its stderr.
fn picketctl_fails(url: &str, token: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(bin("picketctl"))
        .args(["--controller", url, "--token", token])
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "picketctl {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn has(f: &Value, kind: &str, endpoint: &str) -> bool {
    f["kind"] == kind && f["host"] == SHOP && f["endpoint"] == endpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_gates_billing_and_analysis_and_posture_follows() {
    let stack = Stack::start_with(&["--posture-interval-secs", "1"]).await;
    let (url, admin) = (stack.url(), stack.admin_token.clone());
    let reader = stack.reader_token.clone();
    assert_eq!(
        cli_json(&url, &admin, &["apis", "auto-onboard", "off"])["auto_onboard"],
        false
    );
    cli_json(
        &url,
        &admin,
        &[
            "specs",
            "import",
            repo("tests/data/openapi/shop.yaml").to_str().unwrap(),
            "--api",
            "shop",
        ],
    );
    let log = stack.path("access.json");
    append(&log, &[]);
    let _sensor = stack.file_sensor("edge-1", &log);

    // Phase 1: the shop is discovered (auto-onboarding off).
    let mut batch = Vec::new();
    // Public by the spec, answered 200 without credentials, one undocumented query parameter.
    batch.extend(lines(
        0,
        3,
        "GET",
        "/api/v1/products?page=1&debug=1",
        200,
        "81.2.69.10",
    ));
    // The cart needs a bearer token by the spec, yet answers 200 without one.
    batch.extend(lines(3, 2, "GET", "/api/v1/cart", 200, "81.2.69.10"));
    // Undocumented endpoint; and an injection answered 500 (a status the spec does not list).
    batch.extend(lines(
        5,
        1,
        "GET",
        "/api/v1/internal/debug",
        200,
        "10.0.0.7",
    ));
    batch.extend(lines(6, 3, "GET", SQLI, 500, "81.2.69.20"));
    append(&log, &batch);
    stack.wait_total_calls(9).await;
    let usage = cli_json(&url, &reader, &["usage", "show"]);
    assert_eq!(
        (usage["calls"].as_u64(), usage["unprotected_calls"].as_u64()),
        (Some(0), Some(9)),
        "{usage}"
    );
    wait_analyzed(&stack.controller).await;
    assert!(
        all_alerts(&url, &reader).await.is_empty(),
        "traffic of a discovered API was analyzed"
    );
    let apis = cli_json(&url, &reader, &["apis", "list"]);
    assert_eq!(apis[0]["state"], "discovered", "{apis}");

    let onboard = until_finding(&url, &reader, &[], "onboard finding", |f| {
        has(f, "onboard_api", "")
    })
    .await;
    for key in [
        "id",
        "kind",
        "severity",
        "api",
        "host",
        "method",
        "endpoint",
        "evidence",
        "remediation",
    ] {
        assert!(
            onboard.get(key).is_some(),
            "finding JSON lacks {key}: {onboard}"
        );
    }
    assert_eq!(onboard["evidence"]["unprotected_requests_seen"], 9);
    let drift = until_finding(
        &url,
        &reader,
        &["--kind", "spec_drift"],
        "drift on /products",
        |f| has(f, "spec_drift", "/api/v1/products"),
    )
    .await;
    assert_eq!(
        drift["details"],
        serde_json::json!(["query:debug"]),
        "{drift}"
    );
    let drift = until_finding(
        &url,
        &reader,
        &["--kind", "spec_drift"],
        "drift on /search",
        |f| has(f, "spec_drift", "/api/v1/search"),
    )
    .await;
    assert_eq!(
        drift["details"],
        serde_json::json!(["status:500"]),
        "{drift}"
    );
    until_finding(&url, &reader, &[], "unauthenticated cart", |f| {
        has(f, "unauthenticated_endpoint", "/api/v1/cart")
    })
    .await;
    until_finding(&url, &reader, &[], "shadow", |f| {
        has(f, "shadow_endpoint", "/api/v1/internal/debug")
    })
    .await;
    until_finding(&url, &reader, &[], "exposed", |f| {
        has(f, "externally_exposed", "/api/v1/cart")
    })
    .await;
    let all = cli_json(&url, &reader, &["findings", "list"]);
    let all = all.as_array().unwrap();
    // Look-alikes: documented public (no unauthenticated finding), internal client (not
    // exposed), 4 requests from one client in a second (under the rate threshold).
    assert!(
        !all.iter()
            .any(|f| has(f, "unauthenticated_endpoint", "/api/v1/products")),
        "{all:?}"
    );
    assert!(
        !all.iter()
            .any(|f| has(f, "externally_exposed", "/api/v1/internal/debug"))
    );
    assert!(!all.iter().any(|f| f["kind"] == "no_rate_limiting"));
    // The inventory shows the drift details too.
    let eps = all_endpoints(&url, &reader).await;
    let products = eps.iter().find(|e| e.path == "/api/v1/products").unwrap();
    assert_eq!(
        products.spec_status.as_ref().unwrap().undocumented_params,
        ["query:debug"]
    );

    // Roles: a reader may not onboard, an operator may not change the tenant setting.
    let err = picketctl_fails(&url, &reader, &["apis", "onboard", SHOP]);
    assert!(err.contains("permission denied"), "{err}");
    let operator = create_token(&url, &admin, "", picket_proto::v1::Role::Operator).await;
    let err = picketctl_fails(&url, &operator, &["apis", "auto-onboard", "on"]);
    assert!(err.contains("permission denied"), "{err}");
    let err = picketctl_fails(&url, &operator, &["apis", "onboard"]);
    assert!(err.contains("--all"), "{err}");

    // Phase 2: onboarded. New traffic is billed and analyzed; the finding resolves.
    let changed = cli_json(&url, &operator, &["apis", "onboard", SHOP]);
    assert_eq!(changed["changed"], serde_json::json!([SHOP]));
    append(&log, &lines(10, 3, "GET", SQLI, 500, "81.2.69.30"));
    stack.wait_total_calls(12).await;
    let usage = cli_json(&url, &reader, &["usage", "show"]);
    assert_eq!(
        (usage["calls"].as_u64(), usage["unprotected_calls"].as_u64()),
        (Some(3), Some(9)),
        "{usage}"
    );
    wait_analyzed(&stack.controller).await;
    let alerts = all_alerts(&url, &reader).await;
    let by_ip = |ip: &str| {
        alerts
            .iter()
            .any(|a| a.actor.as_ref().is_some_and(|x| x.ip == ip))
    };
    assert!(
        by_ip("81.2.69.30"),
        "onboarded traffic raised no alert: {alerts:?}"
    );
    assert!(
        !by_ip("81.2.69.20"),
        "traffic from before onboarding was analyzed: {alerts:?}"
    );
    let resolved = until_finding(
        &url,
        &reader,
        &["--status", "resolved"],
        "onboard finding resolved",
        |f| has(f, "onboard_api", ""),
    )
    .await;
    assert_eq!(
        resolved["id"], onboard["id"],
        "a resolved finding keeps its id"
    );
    let posture = cli_json(&url, &reader, &["posture", "show", "--api", SHOP]);
    assert_eq!(posture["apis"][0]["state"], "onboarded", "{posture}");
    let score = posture["score"].as_u64().unwrap();
    assert!(score < 100, "open findings must lower the score: {posture}");

    // Phase 3: offboarded. Unprotected again; the finding reopens under the same id.
    cli_json(&url, &admin, &["apis", "offboard", "--all"]);
    append(
        &log,
        &lines(20, 2, "GET", "/api/v1/cart", 200, "81.2.69.40"),
    );
    stack.wait_total_calls(14).await;
    let usage = cli_json(&url, &reader, &["usage", "show"]);
    assert_eq!(
        (usage["calls"].as_u64(), usage["unprotected_calls"].as_u64()),
        (Some(3), Some(11)),
        "{usage}"
    );
    let reopened = until_finding(&url, &reader, &[], "onboard finding reopened", |f| {
        has(f, "onboard_api", "")
    })
    .await;
    assert_eq!(reopened["id"], onboard["id"]);
    let err = picketctl_fails(&url, &reader, &["posture", "show", "--api", "nope.example"]);
    assert!(err.contains("not found"), "{err}");
    let err = picketctl_fails(&url, &reader, &["findings", "list", "--kind", "nope"]);
    assert!(err.contains("invalid argument"), "{err}");
    // The human table names the tenant score and the API.
    let table = picketctl(&url, &reader, &["posture", "show"]);
    assert!(
        table.contains("posture score") && table.contains(SHOP),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_merges_endpoints_learned_before_the_spec() {
    let stack = Stack::start().await;
    let (url, admin) = (stack.url(), stack.admin_token.clone());
    let log = stack.path("access.json");
    append(&log, &[]);
    let _sensor = stack.file_sensor("edge-1", &log);
    let mut batch = lines(0, 2, "GET", "/api/v1/orders/1001", 200, "81.2.69.10");
    batch.extend(lines(2, 3, "GET", "/api/v1/orders/1002", 200, "81.2.69.11"));
    append(&log, &batch);
    let eps = stack.wait_total_calls(5).await;
    assert!(
        eps.iter().any(|e| e.path == "/api/v1/orders/{id}"),
        "{eps:?}"
    );
    let spec = repo("tests/data/openapi/shop.yaml");
    let args = ["specs", "import", spec.to_str().unwrap(), "--api", "shop"];
    let imported = cli_json(&url, &admin, &args);
    assert_eq!(imported["merged_endpoints"], 1, "{imported}");
    let eps = all_endpoints(&url, &stack.reader_token).await;
    let paths: Vec<(&str, u64)> = eps.iter().map(|e| (e.path.as_str(), e.calls)).collect();
    assert_eq!(paths, [("/api/v1/orders/{orderId}", 5)]);
    // Importing again finds nothing left to merge.
    assert_eq!(cli_json(&url, &admin, &args)["merged_endpoints"], 0);
}
