//! Token lifecycle: revocation ends open streams and stops billing at once, tokens expire,
//! rotation keeps the old secret for its grace period only, a sensor whose token is refused
//! loses nothing, and only the installation-admin token may revoke itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use std::time::{Duration, Instant};
use tonic::Code;

async fn new_token(
    url: &str,
    admin_token: &str,
    role: pb::Role,
    ttl_secs: u64,
) -> (String, String) {
    let mut a = admin(url, admin_token).await;
    let r = a
        .create_token(pb::CreateTokenRequest {
            tenant: String::new(),
            role: role as i32,
            description: "lifecycle".into(),
            ttl_secs,
        })
        .await
        .unwrap()
        .into_inner();
    (r.token.unwrap().id, r.secret)
}

async fn revoke(url: &str, admin_token: &str, id: &str) -> Result<pb::Token, tonic::Status> {
    let mut a = admin(url, admin_token).await;
    a.revoke_token(pb::RevokeTokenRequest { id: id.into() })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_ends_a_live_stream_within_seconds_and_nothing_is_billed_after() {
    let stack = Stack::start().await;
    let url = stack.url();
    let (id, secret) = new_token(&url, &stack.admin_token, pb::Role::Sensor, 0).await;
    let mut raw = RawSensor::connect(&url, &secret, "revoked-1", 1).await;
    raw.send(raw.batch(1, "api.example", 10)).await;
    // A watch stream follows the same rules: a reader token, revoked later.
    let (reader_id, reader) = new_token(&url, &stack.admin_token, pb::Role::Reader, 0).await;
    let mut watch_reader = alerts_client(&url, &reader).await;
    let mut changes = watch_reader
        .watch_alerts(pb::WatchAlertsRequest {
            bookmark_interval_ms: 60_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let billed_before = usage(&url, &stack.admin_token).await.calls;
    assert_eq!(billed_before, 10);

    revoke(&url, &stack.admin_token, &id).await.unwrap();
    let revoked_at = Instant::now();
    let status = raw.ended(Duration::from_secs(30)).await;
    let took = revoked_at.elapsed();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
    // The broadcast ends it at once; allow a loaded machine plenty of slack, yet far less
    // than "never" (today's behaviour) and less than two periodic re-checks.
    assert!(
        took < Duration::from_secs(10),
        "stream ended after {took:?}"
    );
    // The sensor keeps sending on the dead stream: nothing more is applied or billed.
    let _ = raw.try_send(raw.batch(2, "api.example", 7)).await;
    let again = RawSensor::try_connect(&url, &secret, "revoked-1", 1).await;
    assert_eq!(again.err().map(|s| s.code()), Some(Code::Unauthenticated));
    assert_eq!(usage(&url, &stack.admin_token).await.calls, billed_before);
    assert_eq!(stack.clone_handle().committed("revoked-1").await, Some(10));

    revoke(&url, &stack.admin_token, &reader_id).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match changes.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(s) => return Some(s),
            }
        }
    })
    .await
    .expect("the watch stream ends after its token is revoked");
    assert_eq!(ended.map(|s| s.code()), Some(Code::Unauthenticated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_and_its_stream_ends() {
    let stack = Stack::start().await;
    let url = stack.url();
    let (_, reader) = new_token(&url, &stack.admin_token, pb::Role::Reader, 3).await;
    let (_, sensor) = new_token(&url, &stack.admin_token, pb::Role::Sensor, 3).await;
    let mut inv = inventory(&url, &reader).await;
    let started = Instant::now();
    let first = inv.list_apis(pb::ListApisRequest::default()).await;
    let mut raw = RawSensor::connect(&url, &sensor, "expiring", 1).await;
    if started.elapsed() < Duration::from_secs(2) {
        first.unwrap();
    }
    let status = raw.ended(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("expired"), "{status:?}");
    let err = inv
        .list_apis(pb::ListApisRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("expired"), "{err:?}");
    // The listing shows the expiry; an absurd lifetime is refused.
    let listed = picketctl(&url, &stack.admin_token, &["-o", "json", "tokens", "list"]);
    assert!(listed.contains("\"expires\""), "{listed}");
    let mut a = admin(&url, &stack.admin_token).await;
    let err = a
        .create_token(pb::CreateTokenRequest {
            role: pb::Role::Reader as i32,
            ttl_secs: 3651 * 86_400,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_the_old_secret_for_the_grace_period_then_refuses_it() {
    let stack = Stack::start().await;
    let url = stack.url();
    let created = picketctl(
        &url,
        &stack.admin_token,
        &[
            "-o", "json", "tokens", "create", "--role", "reader", "--ttl", "30d",
        ],
    );
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let (id, old) = (
        created["id"].as_str().unwrap().to_owned(),
        created["token"].as_str().unwrap().to_owned(),
    );
    let mut by_old = inventory(&url, &old).await;
    by_old
        .list_apis(pb::ListApisRequest::default())
        .await
        .unwrap();
    // Taken before the call: the controller's rotation (and the grace period's start) is later.
    let rotated_at = Instant::now();
    let rotated = picketctl(
        &url,
        &stack.admin_token,
        &["-o", "json", "tokens", "rotate", &id, "--grace", "4s"],
    );
    let rotated: serde_json::Value = serde_json::from_str(&rotated).unwrap();
    let new = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["id"].as_str(), Some(id.as_str()));
    let mut by_new = inventory(&url, &new).await;
    by_new
        .list_apis(pb::ListApisRequest::default())
        .await
        .unwrap();
    let during = by_old.list_apis(pb::ListApisRequest::default()).await;
    if rotated_at.elapsed() < Duration::from_secs(3) {
        during.expect("the old secret works during the grace period");
    }
    eventually(Duration::from_secs(30), "the old secret refused", || {
        let mut c = by_old.clone();
        async move {
            match c.list_apis(pb::ListApisRequest::default()).await {
                Err(e) if e.code() == Code::Unauthenticated => Some(e),
                _ => None,
            }
        }
    })
    .await;
    assert!(rotated_at.elapsed() >= Duration::from_secs(4));
    by_new
        .list_apis(pb::ListApisRequest::default())
        .await
        .unwrap();
    // Last use is listed (from memory, within the minute).
    let listed = picketctl(&url, &stack.admin_token, &["-o", "json", "tokens", "list"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    let me = listed.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_ne!(me["last_used"], "-", "{me}");
    assert_ne!(me["rotated"], "-", "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_installation_admin_may_revoke_itself() {
    let stack = Stack::start().await;
    let url = stack.url();
    let (_, tenant_admin) = new_token(&url, &stack.admin_token, pb::Role::Admin, 0).await;
    let mut a = admin(&url, &stack.admin_token).await;
    let root = a
        .list_tokens(pb::ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tokens
        .into_iter()
        .find(|t| t.installation_admin)
        .unwrap();
    let err = revoke(&url, &tenant_admin, &root.id).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let mut as_tenant_admin = admin(&url, &tenant_admin).await;
    let err = as_tenant_admin
        .rotate_token(pb::RotateTokenRequest {
            id: root.id.clone(),
            grace_secs: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Still works; and it may revoke itself.
    a.list_tenants(pb::ListTenantsRequest {}).await.unwrap();
    let done = revoke(&url, &stack.admin_token, &root.id).await.unwrap();
    assert!(done.revoked_ms > 0);
    let err = a.list_tenants(pb::ListTenantsRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_whose_token_is_revoked_spools_and_delivers_everything_with_a_new_token() {
    let stack = Stack::start().await;
    let url = stack.url();
    let (id, first) = new_token(&url, &stack.admin_token, pb::Role::Sensor, 0).await;
    let token_file = stack.path("sensor.token");
    std::fs::write(&token_file, format!("{first}\n")).unwrap();
    let log = stack.path("access.log");
    let lines = |from: usize, n: usize| -> Vec<String> {
        (from..from + n)
            .map(|i| {
                json_line(
                    1_700_000_000.0 + i as f64,
                    "shop.example",
                    "GET",
                    &format!("/items/{i}"),
                    200,
                    "10.0.0.1",
                )
            })
            .collect()
    };
    append(&log, &lines(0, 50));
    let data = stack.path("s-data");
    // Retries come at most a second apart, so the new token is picked up promptly.
    let config = stack.path("sensor.toml");
    std::fs::write(&config, "backoff_max_ms = 1000\n").unwrap();
    let sensor = SensorProc::start(
        &url,
        "",
        &[
            "--token-file",
            token_file.to_str().unwrap(),
            "--nginx-log",
            log.to_str().unwrap(),
            "--id",
            "s1",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    stack.wait_exact("s1", 50, 50).await;

    revoke(&url, &stack.admin_token, &id).await.unwrap();
    append(&log, &lines(50, 70));
    let admin_addr = sensor.admin_addr.clone().unwrap();
    let why = eventually(
        Duration::from_secs(30),
        "the sensor reports the refusal",
        || {
            let addr = admin_addr.clone();
            async move {
                let (code, body) = tokio::task::spawn_blocking(move || http_get(&addr, "/readyz"))
                    .await
                    .unwrap();
                (code != 200 && body.contains("refuses this sensor's token")).then_some(body)
            }
        },
    )
    .await;
    assert!(why.contains("revoked"), "{why}");
    let (_, metrics) = http_get(&admin_addr, "/metrics");
    let fams = parse_prometheus(&metrics).unwrap();
    assert!(prom_value(&fams, "picket_sensor_auth_refusals_total", &[]).unwrap() >= 1.0);
    let committed = stack.clone_handle().committed("s1").await;
    assert_eq!(committed, Some(50), "nothing billed after the revoke");

    // A new token in the file: picked up on the next attempt, everything delivered once.
    let (_, second) = new_token(&url, &stack.admin_token, pb::Role::Sensor, 0).await;
    std::fs::write(&token_file, format!("{second}\n")).unwrap();
    stack.wait_exact("s1", 120, 120).await;
    assert_eq!(usage(&url, &stack.admin_token).await.calls, 120);
    let (code, _) = http_get(&admin_addr, "/readyz");
    assert_eq!(code, 200);
}
