//! Alerts out, end to end: a real controller process delivers its alert and incident
//! changes to real HTTP receivers started by the test (raw HTTP/1.1 over tokio sockets) and
//! to the JSON-lines export file.
//!
//! - events arrive as signed CloudEvents (the signature verifies with the secret from `add`,
//!   not with another), filters hold, and secrets never appear in listings (RPC, CLI JSON);
//! - a receiver that answers 500 three times gets every event delivered once (repeats carry
//!   the same id); the file sink writes the same events as JSON lines and survives a rename;
//! - a `kill -9` while events are undelivered (receiver down) loses none after a restart,
//!   neither on the webhook nor in the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_controller::export::sign;
use picket_proto::v1 as pb;
use picket_tests::traffic::scenario::{Attack, Config, nginx_scenario};
use picket_tests::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

// --- helpers ----------------------------------------------------------------------------

type Client = pb::webhooks_client::WebhooksClient<Authed>;

async fn hooks(url: &str, token: &str) -> Client {
    pb::webhooks_client::WebhooksClient::new(channel(url, Some(token)).await)
}

async fn add(c: &mut Client, url: &str, min: pb::Severity, types: &[&str]) -> (String, String) {
    let r = c
        .add_webhook(pb::AddWebhookRequest {
            url: url.into(),
            min_severity: min as i32,
            types: types.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (r.webhook.unwrap().id, r.secret)
}

async fn list(c: &mut Client) -> Vec<pb::Webhook> {
    c.list_webhooks(pb::ListWebhooksRequest {})
        .await
        .unwrap()
        .into_inner()
        .webhooks
}

/// Waits until every destination has nothing pending; returns the alert log's newest cursor.
async fn wait_delivered(url: &str, token: &str, within: Duration) -> u64 {
    let (url, token) = (url.to_owned(), token.to_owned());
    eventually(within, "every webhook caught up", || {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let ws = list(&mut hooks(&url, &token).await).await;
            let s: Vec<pb::WebhookStatus> = ws.iter().map(|w| w.status.clone().unwrap()).collect();
            (s.iter().all(|s| s.pending == 0) && s.windows(2).all(|w| w[0].cursor == w[1].cursor))
                .then(|| s[0].cursor)
        }
    })
    .await
}

/// Traffic with an endpoint spray and an injection after a learning stretch.
fn traffic(path: &Path) {
    let mut cfg = Config::new(11);
    cfg.attacks = vec![Attack::EndpointSpray, Attack::Injection];
    let (lines, _) = nginx_scenario(&cfg);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// A controller config with the export file at `file`.
fn config(dir: &Path, file: &Path) -> PathBuf {
    let p = dir.join("controller.toml");
    std::fs::write(
        &p,
        format!(
            "[export]\nalerts_file = {:?}\n[webhooks]\nsource_name = \"ctl-test\"\n",
            file.to_str().unwrap()
        ),
    )
    .unwrap();
    p
}

fn file_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn ids<'a>(events: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    events
        .into_iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

fn now_unix() -> i64 {
    picket_runtime::now_ms() / 1000
}

/// `default-1 ..= default-n`: every event id of the default tenant's log.
fn all_ids(n: u64) -> BTreeSet<String> {
    (1..=n).map(|c| format!("default-{c}")).collect()
}

const LEARNING: &str = "600";

// --- tests ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_cloudevents_arrive_filtered_retried_and_exported() {
    let side = tempfile::tempdir().unwrap();
    let file = side.path().join("alerts.jsonl");
    let cfg = config(side.path(), &file);
    let s = Stack::start_with(&[
        "--config",
        cfg.to_str().unwrap(),
        "--learning-period-secs",
        LEARNING,
    ])
    .await;
    let (all, high, flaky) = (
        Receiver::start("127.0.0.1:0", 0).await,
        Receiver::start("127.0.0.1:0", 0).await,
        Receiver::start("127.0.0.1:0", 3).await,
    );
    let mut c = hooks(&s.url(), &s.admin_token).await;
    let (all_id, secret) = add(&mut c, &all.url(), pb::Severity::Informational, &[]).await;
    add(
        &mut c,
        &high.url(),
        pb::Severity::Medium,
        &["dev.picket.alert.raised"],
    )
    .await;
    // The flaky one through the CLI, with a secret of the caller's.
    let chosen = "a-caller-chosen-secret-0123456789";
    let out = picketctl(
        &s.url(),
        &s.admin_token,
        &[
            "-o",
            "json",
            "webhooks",
            "add",
            &flaky.url(),
            "--min-severity",
            "info",
            "--secret",
            chosen,
        ],
    );
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        added["secret"], chosen,
        "the add answer shows the secret once"
    );

    // Refusals: hostile URLs, unknown types, a non-admin caller.
    for bad in [
        "http://169.254.169.254/latest",
        "ftp://x/",
        "http://example.com/plain",
        "https://u:p@x.example/",
    ] {
        let e = c
            .add_webhook(pb::AddWebhookRequest {
                url: bad.into(),
                min_severity: pb::Severity::Low as i32,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}: {e:?}");
    }
    let e = c
        .add_webhook(pb::AddWebhookRequest {
            url: all.url(),
            min_severity: pb::Severity::Low as i32,
            types: vec!["dev.picket.nope".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = hooks(&s.url(), &s.reader_token)
        .await
        .list_webhooks(pb::ListWebhooksRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);

    // The test event arrives now, signed.
    let t = c
        .test_webhook(pb::TestWebhookRequest { id: all_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(t.ok && t.http_status == 200, "{t:?}");
    let test_hit = all.delivered().pop().unwrap();
    assert_eq!(test_hit.event()["type"], "dev.picket.test");
    assert_eq!(test_hit.id(), t.event_id);

    traffic(&s.path("traffic.json"));
    replay_file(&s, &s.path("traffic.json"), "gateway-a");
    wait_analyzed(&s.controller).await;
    let last = wait_delivered(&s.url(), &s.admin_token, Duration::from_secs(120)).await;
    assert!(
        last > 3,
        "the traffic raised alerts and incidents (log end {last})"
    );

    // Everything arrived at the unfiltered receiver, once each, as signed CloudEvents.
    let got: Vec<Hit> = all
        .delivered()
        .into_iter()
        .filter(|h| h.id() != t.event_id)
        .collect();
    assert_eq!(
        ids(&got.iter().map(Hit::event).collect::<Vec<_>>()),
        all_ids(last)
    );
    assert_eq!(got.len() as u64, last, "each event delivered once");
    for h in &got {
        assert_eq!(h.headers["content-type"], "application/cloudevents+json");
        let sig = &h.headers["picket-signature"];
        assert!(
            sign::verify(&secret, sig, &h.body, now_unix()),
            "signature verifies"
        );
        assert!(
            !sign::verify(chosen, sig, &h.body, now_unix()),
            "not with another secret"
        );
        let e = h.event();
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], "picket://ctl-test/tenants/default");
        assert_eq!(e["datacontenttype"], "application/json");
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
        let ty = e["type"].as_str().unwrap();
        assert!(
            picket_controller::export::event::TYPES.contains(&ty),
            "{ty}"
        );
        assert_eq!(e["subject"], e["data"]["id"], "{e}");
    }
    let types: BTreeSet<String> = got
        .iter()
        .map(|h| h.event()["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        types.contains("dev.picket.alert.raised") && types.contains("dev.picket.incident.opened"),
        "{types:?}"
    );

    // The payload is the alert JSON of `picketctl -o json`.
    let raised = got
        .iter()
        .map(Hit::event)
        .find(|e| e["type"] == "dev.picket.alert.raised")
        .unwrap();
    let id = raised["data"]["id"].as_str().unwrap();
    let cli: Value = serde_json::from_str(&picketctl(
        &s.url(),
        &s.reader_token,
        &["-o", "json", "alerts", "get", id],
    ))
    .unwrap();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let (data_keys, cli_keys) = (keys(&raised["data"]), keys(&cli));
    assert!(
        data_keys.is_subset(&cli_keys),
        "{data_keys:?} vs {cli_keys:?}"
    );
    let extra: Vec<_> = cli_keys.difference(&data_keys).collect();
    assert!(
        extra.iter().all(|k| *k == "incident_id"),
        "only what a later read adds: {extra:?}"
    );
    for k in ["id", "type", "title", "host", "endpoint", "first_seen"] {
        assert_eq!(raised["data"][k], cli[k], "{k}");
    }

    // The filter held: only raised alerts of medium or high severity, and all of them.
    let want: BTreeSet<String> = got
        .iter()
        .map(Hit::event)
        .filter(|e| e["type"] == "dev.picket.alert.raised")
        .filter(|e| e["picketseverity"] == "high" || e["picketseverity"] == "medium")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !want.is_empty(),
        "the injection raised a medium or high alert"
    );
    assert!(want.len() < got.len(), "the filter left something out");
    assert_eq!(
        ids(&high.delivered().iter().map(Hit::event).collect::<Vec<_>>()),
        want
    );
    assert_eq!(high.hits().len(), want.len());

    // The flaky receiver: three 500s (retries of the first event), then each event once.
    let hits = flaky.hits();
    assert!(
        hits[..3]
            .iter()
            .all(|h| h.status == 500 && h.id() == hits[0].id())
    );
    let ok = flaky.delivered();
    assert_eq!(
        ok.len() as u64,
        last,
        "each event delivered successfully once"
    );
    assert_eq!(
        ids(&ok.iter().map(Hit::event).collect::<Vec<_>>()),
        all_ids(last)
    );
    for h in &ok {
        assert!(sign::verify(
            chosen,
            &h.headers["picket-signature"],
            &h.body,
            now_unix()
        ));
    }

    // The outcomes are counted on /metrics.
    let (_, body) = http_get(&s.controller.admin_addr, "/metrics");
    let fams = parse_prometheus(&body).unwrap();
    let delivered = prom_value(&fams, "picket_controller_webhook_delivered_total", &[]).unwrap();
    assert!(delivered >= (2 * last + 1) as f64, "{delivered}");
    let failed = |r| {
        prom_value(
            &fams,
            "picket_controller_webhook_failed_attempts_total",
            &[("reason", r)],
        )
    };
    assert_eq!(failed("status_5xx"), Some(3.0));
    let filtered = prom_value(&fams, "picket_controller_webhook_filtered_total", &[]).unwrap();
    assert_eq!(filtered as usize, got.len() - want.len());
    let pending = prom_value(
        &fams,
        "picket_controller_webhook_pending_events",
        &[("tenant", "default")],
    );
    assert_eq!(pending, Some(0.0));

    // Secrets never come back: not from the RPC, not from the CLI.
    let listed = list(&mut c).await;
    assert_eq!(listed.len(), 3);
    let dump = format!("{listed:?}");
    let cli_list = picketctl(
        &s.url(),
        &s.admin_token,
        &["-o", "json", "webhooks", "list"],
    );
    for secret in [secret.as_str(), chosen] {
        assert!(!dump.contains(secret) && !cli_list.contains(secret));
    }
    let cli_list: Value = serde_json::from_str(&cli_list).unwrap();
    assert_eq!(cli_list.as_array().unwrap().len(), 3);
    assert!(cli_list[0]["status"]["last_success"].is_string());

    // The export file holds the same events, one valid JSON object per line.
    let lines = eventually(Duration::from_secs(30), "the file sink caught up", || {
        let f = file.clone();
        async move {
            let ev = file_events(&f);
            (ids(&ev) == all_ids(last)).then_some(ev)
        }
    })
    .await;
    assert_eq!(lines.len() as u64, last, "no repeats without a crash");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // logrotate renames the file: later events go to a new file at the path.
    let rotated = side.path().join("alerts.jsonl.1");
    std::fs::rename(&file, &rotated).unwrap();
    let alert_id = raised["data"]["id"].as_str().unwrap();
    picketctl(&s.url(), &s.admin_token, &["alerts", "ack", alert_id]);
    let fresh = eventually(Duration::from_secs(30), "a new export file", || {
        let f = file.clone();
        async move {
            let ev = file_events(&f);
            (!ev.is_empty()).then_some(ev)
        }
    })
    .await;
    assert_eq!(fresh[0]["id"], format!("default-{}", last + 1));
    assert_eq!(fresh[0]["type"], "dev.picket.alert.acknowledged");
    assert_eq!(
        file_events(&rotated).len() as u64,
        last,
        "the rotated file is left alone"
    );

    // Deleting stops deliveries.
    c.delete_webhook(pb::DeleteWebhookRequest { id: all_id.clone() })
        .await
        .unwrap();
    assert_eq!(list(&mut c).await.len(), 2);
    let e = c
        .delete_webhook(pb::DeleteWebhookRequest { id: all_id })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);

    // At most 16 destinations per tenant.
    for _ in 0..14 {
        add(&mut c, &high.url(), pb::Severity::High, &[]).await;
    }
    let e = c
        .add_webhook(pb::AddWebhookRequest {
            url: high.url(),
            min_severity: pb::Severity::High as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert_eq!(list(&mut c).await.len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_with_undelivered_events_loses_nothing() {
    let side = tempfile::tempdir().unwrap();
    let file = side.path().join("alerts.jsonl");
    let cfg = config(side.path(), &file);
    let cfg_arg = cfg.to_str().unwrap().to_owned();
    let mut s =
        Stack::start_with(&["--config", &cfg_arg, "--learning-period-secs", LEARNING]).await;
    // A port nobody listens on yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut c = hooks(&s.url(), &s.admin_token).await;
    let (_, secret) = add(
        &mut c,
        &format!("http://{bind}/hook"),
        pb::Severity::Informational,
        &[],
    )
    .await;

    traffic(&s.path("traffic.json"));
    replay_file(&s, &s.path("traffic.json"), "gateway-a");
    wait_analyzed(&s.controller).await;
    let failing = eventually(Duration::from_secs(60), "failed attempts recorded", || {
        let (url, token) = (s.url(), s.admin_token.clone());
        async move {
            let w = list(&mut hooks(&url, &token).await).await.remove(0);
            let st = w.status.unwrap();
            (st.pending > 3 && !st.last_error.is_empty()).then_some(st)
        }
    })
    .await;
    assert_eq!(failing.last_success_ms, 0);
    // A test event to the down receiver reports the failure synchronously.
    let id = list(&mut c).await.remove(0).id;
    let t = c
        .test_webhook(pb::TestWebhookRequest { id })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !t.ok && t.http_status == 0 && t.error.contains("connect"),
        "{t:?}"
    );

    // kill -9, then the receiver comes up, then the controller.
    let (addr, dir) = (s.controller.addr.clone(), s.controller.data_dir.clone());
    s.controller.proc.kill9();
    let rx = Receiver::start(&bind, 0).await;
    s.controller = ControllerProc::start_with(
        &dir,
        &addr,
        &["--config", &cfg_arg, "--learning-period-secs", LEARNING],
    );
    let last = wait_delivered(&s.url(), &s.admin_token, Duration::from_secs(120)).await;
    assert_eq!(
        last,
        failing.cursor + failing.pending,
        "no new entries appeared"
    );
    let ok = rx.delivered();
    assert_eq!(
        ids(&ok.iter().map(Hit::event).collect::<Vec<_>>()),
        all_ids(last),
        "every event arrived"
    );
    assert_eq!(
        ok.len() as u64,
        last,
        "each once (nothing was acknowledged before)"
    );
    for h in &ok {
        assert!(sign::verify(
            &secret,
            &h.headers["picket-signature"],
            &h.body,
            now_unix()
        ));
    }
    // The file sink lost nothing across the kill either (repeats would carry the same ids).
    eventually(
        Duration::from_secs(30),
        "the file holds every event",
        || {
            let f = file.clone();
            async move { (ids(&file_events(&f)) == all_ids(last)).then_some(()) }
        },
    )
    .await;
}
