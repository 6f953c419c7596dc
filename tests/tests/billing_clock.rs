//! Billing cycles under an injected clock: month, year and leap-day rollovers reset the cycle
//! counters and keep the daily history; the analysis gate receives exactly what metering lets
//! through. The controller runs in this process (real gRPC, real sled) so the test can own its
//! clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_controller::ControllerConfig;
use picket_controller::metering::ManualClock;
use picket_proto::v1 as pb;
use picket_shared::TenantId;
use picket_shared::time::parse_rfc3339_ms;
use picket_tests::*;
use std::sync::Arc;

async fn controller(
    clock: Arc<ManualClock>,
    dir: &std::path::Path,
    billing: &str,
) -> (picket_controller::Controller, String, String) {
    let mut cfg: ControllerConfig = toml::from_str(billing).unwrap();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.data_dir = dir.to_owned();
    // Several controllers run side by side here: none needs the default admin port.
    cfg.telemetry.admin_listen = picket_runtime::admin::AdminListen::Off;
    let c = picket_controller::start_with_clock(cfg, clock)
        .await
        .unwrap();
    let url = format!("http://{}", c.local_addr);
    let admin = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    (c, url, admin)
}

fn history_calls(h: &pb::UsageHistory) -> Vec<(String, u64)> {
    h.days
        .iter()
        .filter(|d| d.calls > 0)
        .map(|d| (d.date.clone(), d.calls))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leap_day_month_and_year_rollovers_reset_counters_and_keep_history() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        parse_rfc3339_ms("2028-02-29T23:59:00Z").unwrap(),
    ));
    let (ctl, url, admin) = controller(clock.clone(), dir.path(), "").await;
    let sensor_token = create_token(&url, &admin, "", pb::Role::Sensor).await;
    let mut raw = RawSensor::connect(&url, &sensor_token, "clocked", 1).await;
    raw.send(raw.batch(1, "api.example", 100)).await;
    let feb = usage(&url, &admin).await;
    assert_eq!(
        (feb.calls, feb.cycle_start_ms),
        (100, parse_rfc3339_ms("2028-02-01T00:00:00Z").unwrap())
    );

    clock.set(parse_rfc3339_ms("2028-03-01T00:00:30Z").unwrap());
    raw.send(raw.batch(2, "api.example", 50)).await;
    let mar = usage(&url, &admin).await;
    assert_eq!(
        (mar.calls, mar.cycle_start_ms),
        (50, parse_rfc3339_ms("2028-03-01T00:00:00Z").unwrap())
    );
    assert_eq!(mar.remaining, 1_000_000 - 50);

    // Year boundary.
    clock.set(parse_rfc3339_ms("2028-12-31T23:59:59Z").unwrap());
    raw.send(raw.batch(3, "api.example", 7)).await;
    clock.set(parse_rfc3339_ms("2029-01-01T00:00:01Z").unwrap());
    raw.send(raw.batch(4, "other.example", 3)).await;
    let jan = usage(&url, &admin).await;
    assert_eq!(
        (jan.calls, jan.cycle_start_ms),
        (3, parse_rfc3339_ms("2029-01-01T00:00:00Z").unwrap())
    );
    assert_eq!(
        jan.apis
            .iter()
            .map(|a| (a.host.as_str(), a.calls))
            .collect::<Vec<_>>(),
        vec![("other.example", 3)]
    );

    let mut u = pb::usage_client::UsageClient::new(channel(&url, Some(&admin)).await);
    let all = u
        .get_usage_history(pb::GetUsageHistoryRequest {
            from_ms: parse_rfc3339_ms("2028-02-28T00:00:00Z").unwrap(),
            to_ms: parse_rfc3339_ms("2029-01-01T12:00:00Z").unwrap(),
            host: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        history_calls(&all),
        vec![
            ("2028-02-29".into(), 100),
            ("2028-03-01".into(), 50),
            ("2028-12-31".into(), 7),
            ("2029-01-01".into(), 3)
        ]
    );
    let per_api = u
        .get_usage_history(pb::GetUsageHistoryRequest {
            from_ms: parse_rfc3339_ms("2028-12-31T00:00:00Z").unwrap(),
            to_ms: 0,
            host: "api.example".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history_calls(&per_api), vec![("2028-12-31".into(), 7)]);

    // Thirteen months on, the maintenance prune drops February 2028 but keeps a year of history.
    clock.set(parse_rfc3339_ms("2029-03-15T00:00:00Z").unwrap());
    picket_controller::maintenance::prune(&ctl.state);
    let kept = u
        .get_usage_history(pb::GetUsageHistoryRequest {
            from_ms: parse_rfc3339_ms("2028-02-28T00:00:00Z").unwrap(),
            to_ms: parse_rfc3339_ms("2029-01-01T12:00:00Z").unwrap(),
            host: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        history_calls(&kept),
        vec![
            ("2028-03-01".into(), 50),
            ("2028-12-31".into(), 7),
            ("2029-01-01".into(), 3)
        ]
    );
    drop(raw);
    ctl.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_traffic_never_reaches_analysis_and_a_new_cycle_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        parse_rfc3339_ms("2027-06-10T00:00:00Z").unwrap(),
    ));
    let billing = "[billing]\ndefault_plan = \"mini\"\ndefault_enforcement = \"cap\"\n\
                   [[billing.plans]]\nname = \"mini\"\nincluded_calls = 300\nmonthly_fee_micros = 1\noverage_micros_per_call = 1\n";
    let (ctl, url, admin) = controller(clock.clone(), dir.path(), billing).await;
    let sensor_token = create_token(&url, &admin, "", pb::Role::Sensor).await;
    let tenant = TenantId::new("default").unwrap();
    let mut raw = RawSensor::connect(&url, &sensor_token, "gate", 1).await;
    for seq in 1..=10 {
        raw.send(raw.batch(seq, "api.example", 100)).await;
    }
    let u = usage(&url, &admin).await;
    assert_eq!(
        (u.calls, u.analyzed_calls, u.unanalyzed_calls),
        (1000, 300, 700)
    );
    assert_eq!(
        ctl.state.analysis.received(&tenant),
        300,
        "the analysis input saw capped traffic"
    );
    // Replays of capped batches reach nothing either.
    assert!(raw.send(raw.batch(10, "api.example", 100)).await.duplicate);
    assert_eq!(ctl.state.analysis.received(&tenant), 300);

    // July: a fresh entitlement, analysis resumes without any plan change.
    clock.set(parse_rfc3339_ms("2027-07-01T00:00:05Z").unwrap());
    picket_controller::maintenance::refresh_pauses(&ctl.state);
    loop {
        if !raw.directive().await.analysis_paused {
            break;
        }
    }
    raw.send(raw.batch(11, "api.example", 100)).await;
    assert_eq!(ctl.state.analysis.received(&tenant), 400);
    let july = usage(&url, &admin).await;
    assert_eq!(
        (july.calls, july.analyzed_calls, july.analysis_paused),
        (100, 100, false)
    );
    drop(raw);
    ctl.shutdown().await.unwrap();
}
