//! Exactly-once metering under crashes and replays, cap enforcement, and cycle rollover.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use std::time::Duration;

fn lines(prefix: &str, start: usize, n: usize) -> Vec<String> {
    (start..start + n)
        .map(|i| {
            json_line(
                1_795_219_200.0 + i as f64 / 100.0,
                &format!("{prefix}.example"),
                "GET",
                &format!("/v1/things/{i}"),
                200,
                "81.2.69.4",
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_across_controller_and_sensor_kills_and_replays() {
    let mut stack = Stack::start().await;
    let ids = ["alpha", "beta", "gamma"];
    let logs: Vec<_> = ids
        .iter()
        .map(|id| stack.path(&format!("{id}.json")))
        .collect();
    let datas: Vec<_> = ids
        .iter()
        .map(|id| stack.path(&format!("{id}-data")))
        .collect();
    let args = |i: usize| -> Vec<String> {
        vec![
            "--nginx-log".into(),
            logs[i].display().to_string(),
            "--id".into(),
            ids[i].into(),
            "--data-dir".into(),
            datas[i].display().to_string(),
        ]
    };
    let start = |i: usize, url: &str, token: &str| {
        let a = args(i);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        SensorProc::start(url, token, &a)
    };
    let mut sensors: Vec<SensorProc> = (0..3)
        .map(|i| start(i, &stack.url(), &stack.sensor_token))
        .collect();
    let mut sent = 0u64;
    let (addr, dir) = (
        stack.controller.addr.clone(),
        stack.controller.data_dir.clone(),
    );

    for round in 0..3 {
        for (i, log) in logs.iter().enumerate() {
            append(log, &lines(ids[i], round * 1000, 150 + 50 * i));
            sent += 150 + 50 * i as u64;
        }
        // Let some of it land, then kill the controller mid-stream and bring it back.
        let h = stack.clone_handle();
        eventually(Duration::from_secs(30), "progress before the crash", || {
            let h = h.clone();
            async move { h.committed("gamma").await.filter(|c| *c > 0).map(|_| ()) }
        })
        .await;
        stack.controller.proc.kill9();
        for (i, log) in logs.iter().enumerate() {
            append(log, &lines(ids[i], round * 1000 + 500, 40));
            sent += 40;
        }
        if round == 1 {
            // A sensor dies too, while the controller is down.
            sensors[1].proc.kill9();
            sensors[1] = start(1, &stack.url(), &stack.sensor_token);
        }
        stack.controller = ControllerProc::start(&dir, &addr);
    }

    // Replays on purpose: the same batches twice, and again on a new stream.
    let mut raw = RawSensor::connect(&stack.url(), &stack.sensor_token, "replayer", 42).await;
    for seq in 1..=3 {
        assert!(
            !raw.send(raw.batch(seq, "replay.example", 10))
                .await
                .duplicate
        );
        assert!(
            raw.send(raw.batch(seq, "replay.example", 10))
                .await
                .duplicate
        );
    }
    sent += 30;
    drop(raw);
    let mut again = RawSensor::connect(&stack.url(), &stack.sensor_token, "replayer", 42).await;
    assert_eq!(again.welcome.committed_seq, 3);
    assert!(
        again
            .send(again.batch(2, "replay.example", 10))
            .await
            .duplicate
    );

    let url = stack.url();
    let reader = stack.reader_token.clone();
    let calls = eventually(
        Duration::from_secs(60),
        &format!("{sent} metered calls"),
        || {
            let (url, reader) = (url.clone(), reader.clone());
            async move {
                let u = usage(&url, &reader).await;
                (u.calls >= sent).then_some(u.calls)
            }
        },
    )
    .await;
    assert_eq!(calls, sent, "metering lost or double-counted calls");
    // The CLI reports the same number, in the documented JSON shape.
    let json: serde_json::Value =
        serde_json::from_str(&picketctl(&url, &reader, &["-o", "json", "usage", "show"])).unwrap();
    assert_eq!(json["calls"], sent);
    for key in [
        "plan",
        "cycle_start",
        "entitlement",
        "overage_calls",
        "overage_cost_micros",
        "projected_calls",
        "unprotected_calls",
    ] {
        assert!(json.get(key).is_some(), "usage JSON lacks {key}");
    }
    assert_eq!(json["plan"], "P1");
    assert_eq!(json["entitlement"], 1_000_000);
    let history: serde_json::Value = serde_json::from_str(&picketctl(
        &url,
        &reader,
        &["-o", "json", "usage", "history", "--days", "2"],
    ))
    .unwrap();
    let total: u64 = history
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(total, sent);
    drop(sensors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_mode_stops_analysis_tells_sensors_and_resumes_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("controller.toml");
    std::fs::write(
        &config,
        "[billing]\ndefault_plan = \"tiny\"\ndefault_enforcement = \"cap\"\n\
         [[billing.plans]]\nname = \"tiny\"\nincluded_calls = 100\nmonthly_fee_micros = 1000000\noverage_micros_per_call = 10\n\
         [[billing.plans]]\nname = \"big\"\nincluded_calls = 1000000000\nmonthly_fee_micros = 9000000\noverage_micros_per_call = 1\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(bin("picket-controller"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
    ])
    .arg(dir.path().join("c"))
    .env("RUST_LOG", "warn");
    let mut proc = Proc::spawn(cmd);
    let url = format!(
        "http://{}",
        proc.wait_line("picket-controller listening on ")
    );
    let admin_token = std::fs::read_to_string(dir.path().join("c/admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    let sensor_token = create_token(&url, &admin_token, "", pb::Role::Sensor).await;

    let mut raw = RawSensor::connect(&url, &sensor_token, "capped", 7).await;
    assert!(
        !raw.directive().await.analysis_paused,
        "fresh tenant is not paused"
    );
    let mut seq = 0;
    for _ in 0..6 {
        seq += 1;
        raw.send(raw.batch(seq, "api.example", 40)).await;
    }
    let d = raw.directive().await;
    assert!(
        d.analysis_paused && d.paused_until_ms > 0,
        "sensor must learn of the pause: {d:?}"
    );
    let u = usage(&url, &admin_token).await;
    assert_eq!(u.calls, 240, "calls are still counted");
    // 40 + 40 + 40 reach 120 ≥ 100: the third batch started below the entitlement.
    assert_eq!((u.analyzed_calls, u.unanalyzed_calls), (120, 120));
    assert!(u.analysis_paused);
    assert_eq!(u.overage_calls, 140);
    let notes = picketctl(
        &url,
        &admin_token,
        &["-o", "json", "usage", "notifications"],
    );
    let notes: serde_json::Value = serde_json::from_str(&notes).unwrap();
    let pcts: Vec<u64> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["threshold_pct"].as_u64().unwrap())
        .collect();
    assert_eq!(pcts, vec![80, 100]);

    // An upgrade lifts the pause at once, and the sensor hears it. (The new plan's entitlement
    // is prorated over what is left of the month: big enough to cover 240 calls even in the
    // month's last second.)
    picketctl(&url, &admin_token, &["plans", "set", "big"]);
    assert!(!raw.directive().await.analysis_paused);
    seq += 1;
    raw.send(raw.batch(seq, "api.example", 5)).await;
    let u = usage(&url, &admin_token).await;
    assert_eq!(
        (u.analyzed_calls, u.unanalyzed_calls, u.analysis_paused),
        (125, 120, false)
    );
    let rec: serde_json::Value = serde_json::from_str(&picketctl(
        &url,
        &admin_token,
        &["-o", "json", "plans", "recommend"],
    ))
    .unwrap();
    assert_eq!(rec["calls"], 245);
    assert_eq!(rec["recommended_plan"], "tiny");
}
