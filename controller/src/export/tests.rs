//! The exports over a real store and a real HTTP receiver, in process: delivery resumes from
//! the stored cursors, and entries retention purged before an export reached them are
//! skipped and counted, by the webhooks and by the file sink alike.

use super::config::{ExportConfig, WebhooksConfig};
use super::{Exports, event};
use crate::config::Limits;
use crate::metering::{ManualClock, MeterPolicy};
use crate::state::State;
use crate::store::alerts::{AlertLogRecord, AnalysisCommit};
use crate::store::analysis_log::BillingNotice;
use crate::store::memory::MemoryStore;
use crate::store::webhooks::WebhookRecord;
use crate::store::{Db, TenantRecord};
use picket_detect::Severity;
use picket_shared::TenantId;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn render(_: &TenantId, rec: &AlertLogRecord) -> serde_json::Value {
    serde_json::json!({"notice": rec.notice})
}

/// Appends one billing entry per `seq` to the tenant's alert log at `now_ms`.
fn append(db: &Db, tenant: &TenantId, seqs: std::ops::RangeInclusive<u64>, now_ms: i64) {
    for seq in seqs {
        let notice = [BillingNotice {
            cycle_start_ms: 0,
            threshold_pct: seq as u32,
        }];
        db.commit_analysis(&AnalysisCommit {
            first_seq: seq,
            seq,
            tenant,
            changes: &[],
            incidents: &[],
            suppressed: &[],
            billing: &notice,
            now_ms,
        })
        .unwrap();
    }
}

/// A receiver answering 200 to every POST; returns its port and the bodies it got.
async fn receiver() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let n = s.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if body.len() >= len || n == 0 {
                        break body.to_owned();
                    }
                }
            };
            g.lock().unwrap().push(serde_json::from_str(&body).unwrap());
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    (port, got)
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_resume_from_stored_cursors_and_skip_what_retention_purged() {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let t = TenantId::default_tenant();
    db.create_tenant(&TenantRecord {
        name: t.clone(),
        created_ms: 0,
    })
    .unwrap();
    let (port, got) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    // Both exports start at cursor 0 (stored as a restart would find them) ...
    let hook = WebhookRecord {
        id: "w1".into(),
        url: format!("http://127.0.0.1:{port}/hook"),
        min_severity: Severity::Informational,
        types: vec![],
        secret: "0123456789abcdef".into(),
        description: String::new(),
        created_by: "test".into(),
        created_ms: 0,
    };
    assert_eq!(db.add_webhook(&t, &hook).unwrap(), 0);
    db.put_export_file_cursors(&[(t.clone(), 0)], true).unwrap();
    // ... then 5 old entries come and go with retention, and 2 new ones follow.
    append(&db, &t, 1..=5, 1_000);
    append(&db, &t, 6..=7, 10_000);
    assert_eq!(db.purge_alerts(&t, 5_000).unwrap(), (0, 5));
    let state = Arc::new(State::new(
        db.clone(),
        Limits::default(),
        MeterPolicy::default(),
        Arc::new(ManualClock::new(20_000)),
    ));
    let export = ExportConfig {
        alerts_file: Some(file.clone()),
    };
    let webhooks = WebhooksConfig {
        source_name: Some("unit".into()),
        ..Default::default()
    };
    let ex = Exports::start(state, webhooks, &export, render).unwrap();
    until("two deliveries", || got.lock().unwrap().len() >= 2).await;
    let ids: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["default-6", "default-7"]);
    assert_eq!(ex.stats.skipped_retention.load(Relaxed), 5);
    assert_eq!(ex.stats.delivered.load(Relaxed), 2);
    until("the cursor stored", || {
        db.delivery_state(&t, "w1").unwrap().cursor == 7
    })
    .await;
    until("two lines", || {
        std::fs::read_to_string(&file).is_ok_and(|s| s.lines().count() == 2)
    })
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], "default-6");
    assert_eq!(lines[1]["type"], "dev.picket.billing.threshold");
    assert_eq!(lines[1]["source"], "picket://unit/tenants/default");
    assert_eq!(ex.stats.file_skipped_retention.load(Relaxed), 5);
    until("the file cursor stored", || {
        db.export_file_cursor(&t).unwrap() == Some(7)
    })
    .await;
    assert!(event::TYPES.contains(&"dev.picket.billing.threshold"));
    ex.shutdown();
}

fn exports(allow_plain_http: bool) -> (Db, Arc<Exports>) {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let state = Arc::new(State::new(
        db.clone(),
        Limits::default(),
        MeterPolicy::default(),
        Arc::new(ManualClock::new(20_000)),
    ));
    let webhooks = WebhooksConfig {
        allow_plain_http,
        ..Default::default()
    };
    let ex = Exports::start(state, webhooks, &ExportConfig::default(), render).unwrap();
    (db, ex)
}

#[tokio::test]
async fn adds_are_validated_and_secrets_generated_or_checked() {
    use super::webhooks::{MAX_DESCRIPTION_BYTES, NewWebhook};
    use crate::error::Error;
    let (db, ex) = exports(false);
    let t = TenantId::default_tenant();
    let new = |url: &str| NewWebhook {
        url: url.into(),
        min_severity: Severity::Low,
        types: vec![],
        secret: String::new(),
        description: String::new(),
    };
    let rec = ex
        .add_webhook(&t, "tok", new("http://127.0.0.1:9/h"), 1)
        .unwrap();
    assert_eq!(rec.secret.len(), 64, "a generated secret");
    assert_eq!(
        db.get_webhook(&t, &rec.id).unwrap().unwrap().secret,
        rec.secret
    );
    let invalid =
        |r: crate::error::Result<WebhookRecord>| matches!(r, Err(Error::InvalidArgument(_)));
    assert!(invalid(ex.add_webhook(
        &t,
        "tok",
        new("http://siem.example/h"),
        1
    )));
    assert!(invalid(ex.add_webhook(
        &t,
        "tok",
        new("https://169.254.169.254/"),
        1
    )));
    let mut w = new("https://siem.example/h");
    w.secret = "too-short".into();
    assert!(invalid(ex.add_webhook(&t, "tok", w.clone(), 1)));
    w.secret = "x".repeat(20);
    w.description = "d".repeat(MAX_DESCRIPTION_BYTES + 1);
    assert!(invalid(ex.add_webhook(&t, "tok", w.clone(), 1)));
    w.description.clear();
    w.types = vec!["dev.picket.alert.raised".into(), "bogus".into()];
    assert!(invalid(ex.add_webhook(&t, "tok", w.clone(), 1)));
    w.types.truncate(1);
    assert_eq!(
        ex.add_webhook(&t, "tok", w, 1).unwrap().secret,
        "x".repeat(20)
    );
    assert_eq!(ex.list_webhooks(&t).unwrap().len(), 2);
    ex.shutdown();
    let (_, open) = exports(true);
    assert!(
        open.add_webhook(&t, "tok", new("http://siem.example/h"), 1)
            .is_ok(),
        "allowed by config"
    );
    open.shutdown();
}
