//! The audit log: administrative and operator actions are recorded with the acting token,
//! tenant admins see only their tenant's entries, and no secret ever appears.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use serde_json::Value;
use tonic::Code;

async fn token_id(url: &str, admin_token: &str, tenant: &str, secret: &str) -> String {
    let mut a = admin(url, admin_token).await;
    let id = secret.split('_').nth(1).unwrap().to_owned();
    let listed = a
        .list_tokens(pb::ListTokensRequest {
            tenant: tenant.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.tokens.iter().any(|t| t.id == id));
    id
}

fn entries(json: &str) -> Vec<Value> {
    serde_json::from_str(json).unwrap()
}

fn find<'a>(all: &'a [Value], action: &str, target: &str) -> &'a Value {
    all.iter()
        .find(|e| e["action"] == action && e["target"] == target)
        .unwrap_or_else(|| panic!("no {action} on {target} in {all:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_recorded_with_their_actor_tenants_are_kept_apart_and_no_secret_shows() {
    let stack = Stack::start().await;
    let url = stack.url();
    let root = stack.admin_token.clone();
    let root_id = token_id(&url, &root, "", &root).await;
    let mut root_admin = admin(&url, &root).await;
    root_admin
        .create_tenant(pb::CreateTenantRequest {
            name: "acme".into(),
        })
        .await
        .unwrap();
    let acme_admin = create_token(&url, &root, "acme", pb::Role::Admin).await;
    let acme_admin_id = token_id(&url, &root, "acme", &acme_admin).await;

    // The acme admin creates, rotates and revokes a sensor token; every secret is kept to
    // look for later.
    let created = picketctl(
        &url,
        &acme_admin,
        &[
            "-o", "json", "tokens", "create", "--role", "sensor", "--ttl", "7d",
        ],
    );
    let created: Value = serde_json::from_str(&created).unwrap();
    let sensor_id = created["id"].as_str().unwrap().to_owned();
    let rotated = picketctl(
        &url,
        &acme_admin,
        &["-o", "json", "tokens", "rotate", &sensor_id],
    );
    let rotated: Value = serde_json::from_str(&rotated).unwrap();
    picketctl(&url, &acme_admin, &["tokens", "revoke", &sensor_id]);
    let secrets: Vec<String> = [
        created["token"].as_str().unwrap(),
        rotated["token"].as_str().unwrap(),
        &acme_admin,
        &root,
    ]
    .iter()
    .map(|s| s.rsplit('_').next().unwrap().to_owned())
    .collect();

    // Operator and plan actions in the default tenant, by the installation admin.
    let mut alerts = alerts_client(&url, &root).await;
    let rule = alerts
        .create_suppression(pb::CreateSuppressionRequest {
            rule: Some(pb::Suppression {
                cidr: "10.9.0.0/16".into(),
                comment: "scanner".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    alerts
        .delete_suppression(pb::DeleteSuppressionRequest {
            id: rule.id.clone(),
        })
        .await
        .unwrap();
    let mut usage_c = pb::usage_client::UsageClient::new(channel(&url, Some(&root)).await);
    usage_c
        .set_plan(pb::SetPlanRequest {
            tenant: "acme".into(),
            plan: String::new(),
            enforcement: pb::Enforcement::Cap as i32,
        })
        .await
        .unwrap();
    // Onboarding and webhook destinations (the secret never reaches the audit detail).
    picketctl(&url, &root, &["apis", "onboard", "api.example.com"]);
    let hook: Value = serde_json::from_str(&picketctl(
        &url,
        &root,
        &[
            "-o",
            "json",
            "webhooks",
            "add",
            "http://127.0.0.1:9/hook",
            "--min-severity",
            "high",
        ],
    ))
    .unwrap();
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    picketctl(&url, &root, &["webhooks", "delete", &hook_id]);

    let all = entries(&picketctl(
        &url,
        &root,
        &[
            "-o",
            "json",
            "audit",
            "list",
            "--all-tenants",
            "--limit",
            "0",
        ],
    ));
    let by = |e: &Value| e["actor_token_id"].as_str().unwrap().to_owned();
    let tenant_of = |e: &Value| e["tenant"].as_str().unwrap().to_owned();
    let e = find(&all, "tenant.create", "acme");
    assert_eq!((by(e), tenant_of(e)), (root_id.clone(), "acme".into()));
    let e = find(&all, "token.create", &acme_admin_id);
    assert_eq!((by(e), tenant_of(e)), (root_id.clone(), "acme".into()));
    assert!(e["detail"].as_str().unwrap().contains("role=admin"), "{e}");
    for action in ["token.create", "token.rotate", "token.revoke"] {
        let e = find(&all, action, &sensor_id);
        assert_eq!(
            (by(e), tenant_of(e)),
            (acme_admin_id.clone(), "acme".into())
        );
    }
    for action in ["suppression.create", "suppression.delete"] {
        let e = find(&all, action, &rule.id);
        assert_eq!((by(e), tenant_of(e)), (root_id.clone(), "default".into()));
    }
    let e = find(&all, "api.onboard", "hosts");
    assert_eq!(e["detail"], "api.example.com", "{e}");
    let e = find(&all, "webhook.add", &hook_id);
    assert!(e["detail"].as_str().unwrap().contains("127.0.0.1:9"), "{e}");
    let secret = hook["secret"].as_str().unwrap_or_default();
    assert!(!secret.is_empty() && !e.to_string().contains(secret), "{e}");
    find(&all, "webhook.delete", &hook_id);
    let e = find(&all, "plan.set", "acme");
    assert_eq!((by(e), tenant_of(e)), (root_id.clone(), "acme".into()));
    // Newest first.
    let times: Vec<i64> = all.iter().map(|e| e["time_ms"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // Filters: an action prefix; the installation admin's own tenant by default.
    let tokens_only = entries(&picketctl(
        &url,
        &root,
        &[
            "-o",
            "json",
            "audit",
            "list",
            "--all-tenants",
            "--action",
            "token.",
        ],
    ));
    // The stack's sensor and reader tokens, the acme admin, and create, rotate, revoke.
    assert_eq!(tokens_only.len(), 6, "{tokens_only:#?}");
    let own = entries(&picketctl(&url, &root, &["-o", "json", "audit", "list"]));
    assert!(own.iter().all(|e| e["tenant"] == "default"), "{own:#?}");
    // The stack's two tokens, the suppression rule's creation and deletion, the onboarding,
    // and the webhook's addition and deletion.
    assert_eq!(own.len(), 7, "{own:#?}");
    let paged = entries(&picketctl(
        &url,
        &root,
        &[
            "-o",
            "json",
            "audit",
            "list",
            "--all-tenants",
            "--limit",
            "3",
        ],
    ));
    assert_eq!(paged.len(), 3);

    // A tenant admin sees its tenant only, and may not ask for others.
    let acme = entries(&picketctl(
        &url,
        &acme_admin,
        &["-o", "json", "audit", "list", "--limit", "0"],
    ));
    assert!(!acme.is_empty());
    assert!(acme.iter().all(|e| e["tenant"] == "acme"), "{acme:#?}");
    let mut acme_c = admin(&url, &acme_admin).await;
    for req in [
        pb::ListAuditRequest {
            all_tenants: true,
            ..Default::default()
        },
        pb::ListAuditRequest {
            tenant: "default".into(),
            ..Default::default()
        },
    ] {
        let err = acme_c.list_audit(req).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    }
    // Readers may not read the audit log at all.
    let mut reader = admin(&url, &stack.reader_token).await;
    let err = reader
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // No secret in any listing (table or JSON).
    let table = picketctl(
        &url,
        &root,
        &["audit", "list", "--all-tenants", "--limit", "0"],
    );
    let json = serde_json::to_string(&all).unwrap();
    for s in &secrets {
        assert!(
            !table.contains(s.as_str()) && !json.contains(s.as_str()),
            "secret {s} in the audit log"
        );
    }
}
