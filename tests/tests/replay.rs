//! `picket-sensor replay FILE` exits 0 only once everything it read is acknowledged, so a
//! script can query right after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A recording of `n` Picket JSON lines over a few hosts and templated paths.
fn recording(n: usize) -> String {
    let mut out = String::with_capacity(n * 120);
    for i in 0..n {
        out.push_str(&format!(
            r#"{{"ts_ms":{},"method":"GET","url":"https://h{}.example/api/items/{}","status":200,"client_ip":"81.2.69.{}"}}"#,
            1_795_338_000_000u64 + i as u64 * 10,
            i % 7,
            i,
            i % 200
        ));
        out.push('\n');
    }
    out
}

/// splitmix64, seeded from the clock (the seed is printed, so a failure can be rerun).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

/// `picket-sensor replay FILE EXTRA…` with the data directory `data`, not waited for.
fn replay_cmd(url: &str, token: &str, data: &Path, file: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin("picket-sensor"));
    cmd.args(["--controller", url, "--token", token, "--id", "crashy"])
        .arg("--data-dir")
        .arg(data)
        .args(["--flush-interval-ms", "50"])
        .arg("replay")
        .arg(file)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("RUST_LOG", "warn");
    cmd
}

/// Waits for a child up to `limit`; kills it when still running. Returns its exit status.
fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Replay is exactly once: a run with the controller absent (the replay times out), a
/// controller killed mid-replay, repeated `kill -9` of the sensor at random points, then a
/// run to completion: the controller billed each recorded request once. A rerun delivers
/// nothing; a changed recording is a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_exactly_once_across_kills_outages_and_timeouts() {
    const LINES: u64 = 60_000;
    let mut stack = Stack::start().await;
    let file = stack.path("big.jsonl");
    std::fs::write(&file, recording(LINES as usize)).unwrap();
    let data = stack.path("crashy-data");
    // A small outbox, so a replay without a controller fills it and waits.
    let cfg = stack.path("small-outbox.toml");
    std::fs::write(&cfg, "max_pending_batches = 4\n").unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("replay kill seed {seed}");
    let mut rng = Rng(seed);
    let (url, token) = (stack.url(), stack.sensor_token.clone());
    let (addr, dir) = (
        stack.controller.addr.clone(),
        stack.controller.data_dir.clone(),
    );

    // 1. The controller is away for a whole run: the outbox fills, the replay waits and
    //    times out, and what it read stays spooled.
    stack.controller.proc.kill9();
    let cfg_arg = cfg.to_str().unwrap();
    let mut child = replay_cmd(
        &url,
        &token,
        &data,
        &file,
        &["--config", cfg_arg, "--timeout-secs", "3"],
    )
    .spawn()
    .unwrap();
    let status = wait_or_kill(&mut child, Duration::from_secs(120));
    assert!(
        status.is_some_and(|s| s.code() == Some(1)),
        "no controller: the replay times out ({status:?})"
    );
    stack.controller = ControllerProc::start(&dir, &addr);

    // 2. The controller dies mid-replay; the replay gives up after its timeout (or had
    //    finished before).
    let mut child = replay_cmd(&url, &token, &data, &file, &["--timeout-secs", "6"])
        .spawn()
        .unwrap();
    std::thread::sleep(rng.ms(200, 1_500));
    stack.controller.proc.kill9();
    let status = wait_or_kill(&mut child, Duration::from_secs(120));
    assert!(
        status.is_some_and(|s| matches!(s.code(), Some(0 | 1))),
        "the replay ends by itself: {status:?}"
    );
    stack.controller = ControllerProc::start(&dir, &addr);
    let billed = usage(&url, &stack.reader_token).await.calls;
    eprintln!("controller back after a mid-replay kill ({status:?}): billed so far {billed}");

    // 3. kill -9 of the sensor at random points.
    for _ in 0..4 {
        let mut child = replay_cmd(&url, &token, &data, &file, &[]).spawn().unwrap();
        let killed = wait_or_kill(&mut child, rng.ms(100, 2_500)).is_none();
        let billed = usage(&url, &stack.reader_token).await.calls;
        eprintln!("kill -9 round: killed {killed}, billed so far {billed}");
    }

    // 4. To completion.
    let out = replay_cmd(&url, &token, &data, &file, &[])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "final replay failed: {stdout}");
    let billed = usage(&url, &stack.reader_token).await.calls;
    assert_eq!(billed, LINES, "billed calls (seed {seed})");
    let eps = all_endpoints(&url, &stack.reader_token).await;
    assert_eq!(total_calls(&eps), LINES, "inventory total (seed {seed})");

    // 5. A rerun after completion delivers nothing new.
    let out = replay_cmd(&url, &token, &data, &file, &[])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("replayed 0 requests"), "{stdout}");
    assert_eq!(usage(&url, &stack.reader_token).await.calls, LINES);

    // 6. A changed file is a new recording: replayed from its start.
    let mut grown = std::fs::read_to_string(&file).unwrap();
    grown.push_str(&recording(10));
    std::fs::write(&file, grown).unwrap();
    let out = replay_cmd(&url, &token, &data, &file, &[])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("replayed {} requests", LINES + 10)),
        "{stdout}"
    );
}
