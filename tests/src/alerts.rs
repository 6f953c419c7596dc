//! Alert helpers for the detection tests: listing, waiting for analysis, replaying a file.

use crate::*;
use picket_proto::v1 as pb;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub async fn alerts_client(url: &str, token: &str) -> pb::alerts_client::AlertsClient<Authed> {
    pb::alerts_client::AlertsClient::new(channel(url, Some(token)).await)
}

/// Every alert of the token's tenant, newest first.
pub async fn all_alerts(url: &str, token: &str) -> Vec<pb::Alert> {
    let mut c = alerts_client(url, token).await;
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let r = c
            .list_alerts(pb::ListAlertsRequest {
                page: Some(pb::PageRequest {
                    page_size: 1000,
                    page_token,
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(r.alerts);
        page_token = r.page.unwrap_or_default().next_page_token;
        if page_token.is_empty() {
            return out;
        }
    }
}

/// Waits until the controller's analysis has consumed every committed batch (its
/// `picket_controller_analysis_lag_entries` gauge reads 0 twice in a row).
pub async fn wait_analyzed(controller: &ControllerProc) {
    let admin = controller.admin_addr.clone();
    let zeros = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    eventually(Duration::from_secs(120), "analysis to catch up", || {
        let (admin, zeros) = (admin.clone(), zeros.clone());
        async move {
            let lag = tokio::task::spawn_blocking(move || {
                let (_, body) = http_get(&admin, "/metrics");
                let fams = parse_prometheus(&body).unwrap_or_default();
                prom_value(&fams, "picket_controller_analysis_lag_entries", &[])
            })
            .await
            .ok()
            .flatten();
            use std::sync::atomic::Ordering::Relaxed;
            if lag == Some(0.0) {
                zeros.fetch_add(1, Relaxed);
            } else {
                zeros.store(0, Relaxed);
            }
            (zeros.load(Relaxed) >= 2).then_some(())
        }
    })
    .await;
}

/// `picket-sensor replay FILE` against the stack (exits once everything is acknowledged);
/// returns its stdout.
pub fn replay_file(stack: &Stack, file: &Path, id: &str) -> String {
    let data = stack.path(&format!("{id}-data"));
    let out = Command::new(bin("picket-sensor"))
        .args(["--controller", &stack.url(), "--token", &stack.sensor_token])
        .args(["--id", id, "--data-dir", data.to_str().unwrap()])
        .args(["--flush-interval-ms", "100", "replay"])
        .arg(file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "replay failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// An alert's identity for comparisons across runs: type, endpoint and actor address.
pub fn alert_key(a: &pb::Alert) -> String {
    let ip = a.actor.as_ref().map(|x| x.ip.as_str()).unwrap_or("");
    format!("{} {} {} {} {ip}", a.r#type, a.host, a.method, a.template)
}
