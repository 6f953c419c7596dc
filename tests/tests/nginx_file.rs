//! nginx access-log files → sensor → controller inventory, through rotation and restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::collections::BTreeMap;

fn lines(n: usize, start: usize, uri: impl Fn(usize) -> String) -> Vec<String> {
    (start..start + n)
        .map(|i| {
            json_line(
                1_795_219_200.0 + i as f64,
                "api.example",
                "GET",
                &uri(i),
                200,
                "81.2.69.10",
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_combined_lines_become_templated_endpoints() {
    let stack = Stack::start().await;
    let json_log = stack.path("access.json");
    let combined_log = stack.path("access.log");
    let config = stack.path("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "[[file]]\npath = {:?}\nformat = \"json\"\n\n[[file]]\npath = {:?}\nformat = \"combined\"\ndefault_host = \"legacy.example\"\n",
            json_log, combined_log
        ),
    )
    .unwrap();
    let data = stack.path("sensor");
    let _sensor = SensorProc::start(
        &stack.url(),
        &stack.sensor_token,
        &[
            "--config",
            config.to_str().unwrap(),
            "--id",
            "edge-1",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );

    let mut json = Vec::new();
    for id in 1..=5 {
        json.push(json_line(
            1_795_219_200.0,
            "API.Example:443",
            "GET",
            &format!("/users/{id}?expand=1"),
            200,
            "81.2.69.10",
        ));
    }
    json.push(json_line(
        1_795_219_201.0,
        "api.example",
        "GET",
        "/users/7/orders/9f3a1c2b7e",
        200,
        "81.2.69.11",
    ));
    json.push(json_line(
        1_795_219_202.0,
        "api.example",
        "POST",
        "/orders",
        201,
        "10.0.0.5",
    ));
    json.push(json_line(
        1_795_219_202.5,
        "api.example",
        "POST",
        "/orders",
        500,
        "10.0.0.5",
    ));
    json.push(json_line(
        1_795_219_203.0,
        "api.example",
        "GET",
        "/items/550e8400-e29b-41d4-a716-446655440000",
        404,
        "10.0.0.6",
    ));
    json.push(
        r#"{"msec":"1795219204.000","remote_addr":"81.2.69.66","host":"api.example","request_method":"GET","request_uri":"/items/550e8400-e29b-41d4-a716-446655440001","status":"404","http_user_agent":"sqlmap/1.7.2#stable (https://sqlmap.org)"}"#.into(),
    );
    json.push("{not json".into());
    append(&json_log, &json);
    let combined = vec![
        r#"81.2.69.20 - - [21/Nov/2026:06:00:00 +0000] "GET /v1/products/42 HTTP/1.1" 200 512 "-" "curl/8.5""#.to_string(),
        r#"81.2.69.21 - bob [21/Nov/2026:06:00:01 +0000] "GET /v1/products/43 HTTP/1.1" 200 512 "-" "curl/8.5""#.to_string(),
        r#"81.2.69.22 - - [21/Nov/2026:06:00:02 +0000] "GET /v1/products/44?x=1 HTTP/1.1" 304 0 "-" "curl/8.5""#.to_string(),
        "garbage that is not a log line".to_string(),
    ];
    append(&combined_log, &combined);

    let eps = stack.wait_total_calls(13).await;
    let got = calls_by_endpoint(&eps);
    let want: BTreeMap<String, u64> = [
        ("api.example GET /users/{id}", 5),
        ("api.example GET /users/{id}/orders/{id}", 1),
        ("api.example POST /orders", 2),
        ("api.example GET /items/{id}", 2),
        ("legacy.example GET /v1/products/{id}", 3),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want);
    let orders = eps.iter().find(|e| e.path == "/orders").unwrap();
    let statuses: BTreeMap<u32, u64> = orders
        .statuses
        .iter()
        .map(|s| (s.status, s.count))
        .collect();
    assert_eq!(statuses, BTreeMap::from([(201, 1), (500, 1)]));
    assert_eq!(orders.sensors, vec!["edge-1".to_string()]);
    // request_time 0.004 s on every line: the sketch's quantiles sit within 6.25 % below it.
    assert!(
        (3_750..=4_000).contains(&orders.latency_p95_us),
        "{}",
        orders.latency_p95_us
    );
    assert!(
        (3_750..=4_000).contains(&orders.latency_p50_us),
        "{}",
        orders.latency_p50_us
    );
    let items = eps.iter().find(|e| e.path == "/items/{id}").unwrap();
    assert_eq!(items.suspicious_agents.get("scanner:sqlmap"), Some(&1));
    let products = eps.iter().find(|e| e.path == "/v1/products/{id}").unwrap();
    assert!(products.suspicious_agents.is_empty(), "curl is no scanner");
    stack.wait_exact("edge-1", 13, 13).await;
    let s = stack.sensor("edge-1").await.unwrap();
    let c = s.counters.unwrap();
    assert_eq!(c.rejected, 2);
    assert_eq!(c.rejected_by_reason.get("malformed_json"), Some(&1));
    assert_eq!(c.rejected_by_reason.get("malformed_combined"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_loses_and_duplicates_nothing() {
    let stack = Stack::start().await;
    let log = stack.path("access.json");
    let _sensor = stack.file_sensor("rot", &log);
    append(&log, &lines(100, 0, |i| format!("/a/{i}")));
    stack.wait_total_calls(100).await;
    // logrotate: rename; nginx keeps writing to the renamed file until it reopens.
    let rotated = stack.path("access.json.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, &lines(30, 100, |i| format!("/a/{i}")));
    append(&log, &lines(70, 130, |i| format!("/b/{i}")));
    stack.wait_exact("rot", 200, 200).await;
    let got = calls_by_endpoint(&all_endpoints(&stack.url(), &stack.reader_token).await);
    assert_eq!(got.get("api.example GET /a/{id}"), Some(&130));
    assert_eq!(got.get("api.example GET /b/{id}"), Some(&70));
    // A second rotation works too.
    std::fs::rename(&log, stack.path("access.json.2")).unwrap();
    append(&log, &lines(5, 200, |i| format!("/c/{i}")));
    stack.wait_exact("rot", 205, 205).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_rotation_loses_and_duplicates_nothing() {
    let stack = Stack::start().await;
    let log = stack.path("access.json");
    let _sensor = stack.file_sensor("ct", &log);
    append(&log, &lines(80, 0, |i| format!("/a/{i}")));
    stack.wait_exact("ct", 80, 80).await;
    // logrotate copytruncate: copy, then truncate in place; the writer continues at offset 0.
    std::fs::copy(&log, stack.path("access.json.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &lines(20, 80, |i| format!("/b/{i}")));
    stack.wait_exact("ct", 100, 100).await;
    let got = calls_by_endpoint(&all_endpoints(&stack.url(), &stack.reader_token).await);
    assert_eq!(got.get("api.example GET /b/{id}"), Some(&20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_restart_resumes_from_saved_position() {
    let stack = Stack::start().await;
    let log = stack.path("access.json");
    let mut sensor = stack.file_sensor("rs", &log);
    append(&log, &lines(50, 0, |i| format!("/a/{i}")));
    stack.wait_exact("rs", 50, 50).await;
    sensor.proc.terminate();
    append(&log, &lines(25, 50, |i| format!("/a/{i}")));
    let _sensor = stack.file_sensor("rs", &log);
    // The new process counts from zero: it must parse only the 25 new lines.
    stack.wait_exact("rs", 25, 75).await;
}
