//! Standard gRPC health (no token needed, for probes) and server reflection v1 and v1alpha.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use tokio_stream::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_serving_without_a_token() {
    let stack = Stack::start().await;
    let ch = channel(&stack.url(), None).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
    for service in ["", "picket.v1.Inventory", "picket.v1.Ingest"] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_list_the_picket_services() {
    use tonic_reflection::pb::{v1, v1alpha};
    let stack = Stack::start().await;
    let ch = channel(&stack.url(), Some(&stack.reader_token)).await;

    let mut c1 = v1::server_reflection_client::ServerReflectionClient::new(ch.clone());
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = c1
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.next().await.unwrap().unwrap();
    let names: Vec<String> = match resp.message_response.unwrap() {
        v1::server_reflection_response::MessageResponse::ListServicesResponse(l) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected {other:?}"),
    };
    for want in [
        "picket.v1.Ingest",
        "picket.v1.Inventory",
        "picket.v1.Fleet",
        "picket.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    let mut ca = v1alpha::server_reflection_client::ServerReflectionClient::new(ch);
    let req = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "picket.v1.Inventory".into(),
            ),
        ),
    };
    let mut stream = ca
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    match stream
        .next()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
    {
        v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(f) => {
            assert!(!f.file_descriptor_proto.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
}
