//! Every RPC is authenticated; roles limit what a token may do; tenants never see each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_bad_token_and_revoked_token_are_unauthenticated() {
    let stack = Stack::start().await;
    let url = stack.url();
    let mut anon = pb::inventory_client::InventoryClient::new(channel(&url, None).await);
    let err = anon
        .list_endpoints(pb::ListEndpointsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let mut forged = inventory(&url, "pkt_0123456789abcdef_00").await;
    assert_eq!(
        forged
            .list_apis(pb::ListApisRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    let mut admin = admin(&url, &stack.admin_token).await;
    let created = admin
        .create_token(pb::CreateTokenRequest {
            tenant: String::new(),
            role: pb::Role::Reader as i32,
            description: "tmp".into(),
            ttl_secs: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut reader = inventory(&url, &created.secret).await;
    reader
        .list_apis(pb::ListApisRequest::default())
        .await
        .unwrap();
    admin
        .revoke_token(pb::RevokeTokenRequest {
            id: created.token.unwrap().id,
        })
        .await
        .unwrap();
    let err = reader
        .list_apis(pb::ListApisRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // Tokens are stored hashed: the secret appears nowhere in the data directory.
    let secret_hex = created.secret.rsplit('_').next().unwrap().to_owned();
    assert!(
        !dir_contains(&stack.controller.data_dir, secret_hex.as_bytes()),
        "token secret stored in clear"
    );
}

fn dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            dir_contains(&p, needle)
        } else {
            p.file_name().is_some_and(|n| n != "admin.token")
                && std::fs::read(&p)
                    .map(|b| b.windows(needle.len()).any(|w| w == needle))
                    .unwrap_or(false)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_role_is_permission_denied() {
    let stack = Stack::start().await;
    let url = stack.url();
    // A reader may not manage tokens.
    let mut as_reader = admin(&url, &stack.reader_token).await;
    let err = as_reader
        .create_token(pb::CreateTokenRequest {
            tenant: String::new(),
            role: pb::Role::Admin as i32,
            description: String::new(),
            ttl_secs: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A sensor token may not query.
    let mut as_sensor = inventory(&url, &stack.sensor_token).await;
    assert_eq!(
        as_sensor
            .list_endpoints(pb::ListEndpointsRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // A reader may not ingest.
    let mut ingest =
        pb::ingest_client::IngestClient::new(channel(&url, Some(&stack.reader_token)).await);
    let hello = pb::SensorMessage {
        msg: Some(pb::sensor_message::Msg::Hello(pb::Hello {
            sensor_id: "x".into(),
            stream_epoch: 1,
            ..Default::default()
        })),
    };
    let err = ingest
        .stream(tokio_stream::iter(vec![hello]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A tenant admin may not create tenants or tokens elsewhere.
    let mut root = admin(&url, &stack.admin_token).await;
    root.create_tenant(pb::CreateTenantRequest {
        name: "acme".into(),
    })
    .await
    .unwrap();
    let acme_admin = create_token(&url, &stack.admin_token, "acme", pb::Role::Admin).await;
    let mut acme = admin(&url, &acme_admin).await;
    assert_eq!(
        acme.create_tenant(pb::CreateTenantRequest {
            name: "evil".into()
        })
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    let err = acme
        .create_token(pb::CreateTokenRequest {
            tenant: "default".into(),
            role: pb::Role::Reader as i32,
            description: String::new(),
            ttl_secs: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let own = acme
        .create_token(pb::CreateTokenRequest {
            tenant: String::new(),
            role: pb::Role::Sensor as i32,
            description: String::new(),
            ttl_secs: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.token.unwrap().tenant, "acme");
    let tenants = acme
        .list_tenants(pb::ListTenantsRequest {})
        .await
        .unwrap()
        .into_inner()
        .tenants;
    assert_eq!(
        tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["acme"]
    );
    assert_eq!(
        root.create_tenant(pb::CreateTenantRequest {
            name: "acme".into()
        })
        .await
        .unwrap_err()
        .code(),
        Code::AlreadyExists
    );
    assert_eq!(
        root.create_tenant(pb::CreateTenantRequest {
            name: "Bad Name".into()
        })
        .await
        .unwrap_err()
        .code(),
        Code::InvalidArgument
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_other() {
    let stack = Stack::start().await;
    let url = stack.url();
    let mut root = admin(&url, &stack.admin_token).await;
    for t in ["tenant-a", "tenant-b"] {
        root.create_tenant(pb::CreateTenantRequest { name: t.into() })
            .await
            .unwrap();
    }
    let sensor_a = create_token(&url, &stack.admin_token, "tenant-a", pb::Role::Sensor).await;
    let reader_a = create_token(&url, &stack.admin_token, "tenant-a", pb::Role::Reader).await;
    let reader_b = create_token(&url, &stack.admin_token, "tenant-b", pb::Role::Reader).await;
    let log = stack.path("a.json");
    append(
        &log,
        &[json_line(
            1_795_219_200.0,
            "secret.a.example",
            "GET",
            "/private/1",
            200,
            "81.2.69.1",
        )],
    );
    let data = stack.path("sensor-a");
    // The same sensor id in two tenants is two different sensors.
    let _a = SensorProc::start(
        &url,
        &sensor_a,
        &[
            "--nginx-log",
            log.to_str().unwrap(),
            "--id",
            "edge",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let eps = eventually(
        std::time::Duration::from_secs(30),
        "tenant-a endpoint",
        || async {
            let eps = all_endpoints(&url, &reader_a).await;
            (!eps.is_empty()).then_some(eps)
        },
    )
    .await;
    assert_eq!(eps[0].host, "secret.a.example");
    assert!(all_endpoints(&url, &reader_b).await.is_empty());
    assert!(
        all_endpoints(&url, &stack.reader_token).await.is_empty(),
        "default tenant sees nothing of tenant-a"
    );
    let mut inv_b = inventory(&url, &reader_b).await;
    assert!(
        inv_b
            .list_apis(pb::ListApisRequest::default())
            .await
            .unwrap()
            .into_inner()
            .apis
            .is_empty()
    );
    let err = inv_b
        .get_endpoint(pb::GetEndpointRequest {
            host: "secret.a.example".into(),
            method: "GET".into(),
            path: "/private/{id}".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let mut fleet_b = fleet(&url, &reader_b).await;
    assert!(
        fleet_b
            .list_sensors(pb::ListSensorsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .sensors
            .is_empty()
    );
    let mut inv_a = inventory(&url, &reader_a).await;
    let got = inv_a
        .get_endpoint(pb::GetEndpointRequest {
            host: "secret.a.example".into(),
            method: "get".into(),
            path: "/private/77".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.path.as_str(), got.calls), ("/private/{id}", 1));
}
