//! `picket-sensor replay FILE` exits 0 only once everything it read is acknowledged, so a
//! script can query right after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::collections::BTreeMap;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn har_and_json_lines_replay_then_query_immediately() {
    let stack = Stack::start().await;
    let har = stack.path("session.har");
    let entry = |t: &str, method: &str, url: &str, status: u16| {
        format!(
            r#"{{"startedDateTime":"{t}","time":20,"request":{{"method":"{method}","url":"{url}","headers":[],"headersSize":120,"bodySize":0}},"response":{{"status":{status},"bodySize":300,"content":{{"size":300}}}}}}"#
        )
    };
    let entries = [
        entry(
            "2026-11-21T08:00:00.000Z",
            "GET",
            "https://crapi.example/workshop/api/shop/orders/17",
            200,
        ),
        entry(
            "2026-11-21T08:00:01.000Z",
            "GET",
            "https://crapi.example/workshop/api/shop/orders/18",
            200,
        ),
        entry(
            "2026-11-21T08:00:02.000Z",
            "POST",
            "https://crapi.example/identity/api/auth/login",
            401,
        ),
    ];
    std::fs::write(&har, format!(r#"{{"log":{{"version":"1.2","creator":{{"name":"test","version":"1"}},"entries":[{}]}}}}"#, entries.join(","))).unwrap();
    let out = replay_file(&stack, &har, "har-replay");
    assert!(out.contains("replayed 3 requests"), "{out}");
    // No waiting: the replay exited only after the controller acknowledged everything.
    let got = calls_by_endpoint(&all_endpoints(&stack.url(), &stack.reader_token).await);
    let want: BTreeMap<String, u64> = [
        ("crapi.example GET /workshop/api/shop/orders/{id}", 2),
        ("crapi.example POST /identity/api/auth/login", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want);

    let jsonl = stack.path("traffic.jsonl");
    std::fs::write(
        &jsonl,
        [
            r#"{"ts":"2026-11-21T09:00:00Z","method":"GET","url":"https://shop.example/api/items/5","status":200,"client_ip":"81.2.69.7"}"#,
            r#"{"ts":"2026-11-21T09:00:01Z","method":"GET","url":"https://shop.example/api/items/6","status":404}"#,
            r#"{"ts_ms":1795338002000,"method":"DELETE","path":"/api/items/7","host":"shop.example","status":204,"headers":{"authorization":"x"}}"#,
            r#"{"method":"GET"}"#,
            "",
        ]
        .join("\n"),
    )
    .unwrap();
    let out = replay_file(&stack, &jsonl, "jsonl-replay");
    assert!(
        out.contains("replayed 3 requests (1 lines rejected)"),
        "{out}"
    );
    let got = calls_by_endpoint(&all_endpoints(&stack.url(), &stack.reader_token).await);
    assert_eq!(got.get("shop.example GET /api/items/{id}"), Some(&2));
    assert_eq!(got.get("shop.example DELETE /api/items/{id}"), Some(&1));
    assert_eq!(usage(&stack.url(), &stack.reader_token).await.calls, 6);
}

#[test]
fn replay_of_a_missing_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("picket-sensor"))
        .args([
            "--controller",
            "http://127.0.0.1:1",
            "--token",
            "t",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["replay", "/nonexistent/file.har", "--timeout-secs", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/file.har"), "{err}");
}
