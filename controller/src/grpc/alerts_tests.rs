//! `picket.v1.Alerts` over a real in-process server on 127.0.0.1:0: roles, validation codes,
//! suppression CRUD, status changes and the watch stream's resume.

use crate::auth::mint;
use crate::config::ControllerConfig;
use crate::store::alerts::AnalysisCommit;
use picket_detect::{AlertChange, AlertFacts, AlertType, Severity};
use picket_proto::v1 as pb;
use picket_proto::v1::alerts_client::AlertsClient;
use picket_runtime::admin::AdminListen;
use picket_shared::{Role, TenantId};
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

type Intercept =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
type Client = AlertsClient<tonic::service::interceptor::InterceptedService<Channel, Intercept>>;

async fn client(addr: std::net::SocketAddr, bearer: &str) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {bearer}").parse().unwrap();
    let intercept: Intercept = Box::new(move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", value.clone());
        Ok(r)
    });
    AlertsClient::with_interceptor(channel, intercept)
}

/// Stores an alert last seen now (older ones would fall to the retention pruning at start).
fn raise(db: &crate::store::Db, seq: u64, id: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let facts = AlertFacts {
        id: id.into(),
        kind: Some(AlertType::EndpointSpray),
        severity: Some(Severity::High),
        host: "api".into(),
        last_seen_ms: now + seq as i64,
        ..Default::default()
    };
    db.commit_analysis(&AnalysisCommit {
        first_seq: seq,
        seq,
        tenant: &TenantId::default_tenant(),
        changes: &[AlertChange::Raised(facts)],
        incidents: &[],
        suppressed: &[],
        billing: &[],
        now_ms: now,
    })
    .unwrap();
}

#[tokio::test]
async fn the_alerts_service_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ControllerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    cfg.telemetry.admin_listen = AdminListen::Off;
    let ctl = crate::start(cfg).await.unwrap();
    let admin = std::fs::read_to_string(ctl.admin_token_file.as_ref().unwrap()).unwrap();
    let mut op = client(ctl.local_addr, admin.trim()).await;
    let reader_token = mint(
        TenantId::default_tenant(),
        Role::Reader,
        "r".into(),
        false,
        1,
        0,
    )
    .unwrap();
    ctl.state.db.put_token(&reader_token.record).unwrap();
    let mut reader = client(ctl.local_addr, &reader_token.bearer).await;
    let db = ctl.state.db.clone();
    raise(&db, 1, "a1");
    raise(&db, 2, "a2");

    let listed = reader
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed.alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a2", "a1"]);
    assert_eq!(listed.alerts[0].r#type, "endpoint_spray");
    assert_eq!(listed.alerts[0].severity, pb::Severity::High as i32);
    let bad_type = pb::ListAlertsRequest {
        r#type: "nope".into(),
        ..Default::default()
    };
    let e = reader.list_alerts(bad_type).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = reader
        .get_alert(pb::GetAlertRequest { id: "zz".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let ack = pb::UpdateAlertStatusRequest {
        id: "a1".into(),
        status: pb::AlertStatus::Acknowledged as i32,
        comment: "looking".into(),
    };
    let got = reader
        .get_alert(pb::GetAlertRequest { id: "a1".into() })
        .await
        .unwrap();
    assert_eq!(got.into_inner().id, "a1");
    let e = reader.update_alert_status(ack.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "readers do not triage");
    let updated = op.update_alert_status(ack).await.unwrap().into_inner();
    assert_eq!(updated.status, pb::AlertStatus::Acknowledged as i32);
    let e = op
        .update_alert_status(pb::UpdateAlertStatusRequest {
            id: "zz".into(),
            status: pb::AlertStatus::Resolved as i32,
            comment: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // The watch resumes strictly after cursor 1: a2's raise, then the status change.
    let mut watch = reader
        .watch_alerts(pb::WatchAlertsRequest {
            after_cursor: 1,
            snapshot: false,
            bookmark_interval_ms: 100,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push((m.cursor, m.kind));
    }
    use pb::alert_change::Kind;
    assert_eq!(
        got,
        [
            (2, Kind::Raised as i32),
            (3, Kind::Status as i32),
            (3, Kind::Bookmark as i32)
        ]
    );
    let e = reader
        .watch_alerts(pb::WatchAlertsRequest {
            after_cursor: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);

    let rule = pb::Suppression {
        cidr: "10.0.0.0/8".into(),
        comment: "scanner".into(),
        ..Default::default()
    };
    let create = |r: pb::Suppression| pb::CreateSuppressionRequest { rule: Some(r) };
    let e = reader
        .create_suppression(create(rule.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = op
        .create_suppression(create(pb::Suppression::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let made = op
        .create_suppression(create(rule))
        .await
        .unwrap()
        .into_inner();
    assert!(!made.id.is_empty() && made.created_by.starts_with("token:"));
    let rules = reader
        .list_suppressions(pb::ListSuppressionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(rules.len(), 1);
    let del = pb::DeleteSuppressionRequest { id: made.id };
    op.delete_suppression(del.clone()).await.unwrap();
    let e = op.delete_suppression(del).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    drop(watch);
    ctl.shutdown().await.unwrap();
}
