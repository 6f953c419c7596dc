//! Envoy gRPC Access Log Service → sensor → controller, with a real ALS client from
//! `envoy-types`. TCP entries and junk are counted, never fatal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use envoy_types::pb::envoy::config::core::v3::{
    Address, RequestMethod, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::data::accesslog::v3::{
    AccessLogCommon, HttpAccessLogEntry, HttpRequestProperties, HttpResponseProperties,
    TcpAccessLogEntry,
};
use envoy_types::pb::envoy::service::accesslog::v3::StreamAccessLogsMessage;
use envoy_types::pb::envoy::service::accesslog::v3::access_log_service_client::AccessLogServiceClient;
use envoy_types::pb::envoy::service::accesslog::v3::stream_access_logs_message::{
    HttpAccessLogEntries, Identifier, LogEntries, TcpAccessLogEntries,
};
use envoy_types::pb::google::protobuf::{Duration as PbDuration, Timestamp, UInt32Value};
use picket_tests::*;
use std::collections::BTreeMap;

fn entry(method: RequestMethod, authority: &str, path: &str, status: u32) -> HttpAccessLogEntry {
    HttpAccessLogEntry {
        common_properties: Some(AccessLogCommon {
            start_time: Some(Timestamp {
                seconds: 1_795_219_200,
                nanos: 0,
            }),
            downstream_remote_address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress {
                    address: "81.2.69.50".into(),
                    port_specifier: Some(socket_address::PortSpecifier::PortValue(40_000)),
                    ..Default::default()
                })),
            }),
            time_to_last_downstream_tx_byte: Some(PbDuration {
                seconds: 0,
                nanos: 3_000_000,
            }),
            ..Default::default()
        }),
        request: Some(HttpRequestProperties {
            request_method: method as i32,
            scheme: "https".into(),
            authority: authority.into(),
            path: path.into(),
            request_headers: [("authorization".to_string(), "Bearer secret".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        }),
        response: Some(HttpResponseProperties {
            response_code: Some(UInt32Value { value: status }),
            response_body_bytes: 321,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn http(entries: Vec<HttpAccessLogEntry>) -> StreamAccessLogsMessage {
    StreamAccessLogsMessage {
        identifier: None,
        log_entries: Some(LogEntries::HttpLogs(HttpAccessLogEntries {
            log_entry: entries,
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn als_entries_become_endpoints_and_junk_is_counted() {
    let stack = Stack::start().await;
    let data = stack.path("sensor");
    let sensor = SensorProc::start(
        &stack.url(),
        &stack.sensor_token,
        &[
            "--als-listen",
            "127.0.0.1:0",
            "--id",
            "envoy-1",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let als = format!("http://{}", sensor.als_addr.clone().unwrap());
    let mut client = AccessLogServiceClient::connect(als.clone()).await.unwrap();

    let mut first = http(vec![
        entry(
            RequestMethod::Get,
            "shop.example:443",
            "/api/items/123",
            200,
        ),
        entry(
            RequestMethod::Get,
            "shop.example",
            "/api/items/456?x=1",
            200,
        ),
        entry(RequestMethod::Post, "shop.example", "/api/items", 201),
    ]);
    first.identifier = Some(Identifier {
        node: None,
        log_name: "picket".into(),
    });
    let mut bad_request = entry(RequestMethod::Get, "shop.example", "/x", 200);
    bad_request.request = None;
    let bad_method = entry(RequestMethod::MethodUnspecified, "shop.example", "/x", 200);
    let bad_target = entry(RequestMethod::Get, "shop.example", "not-a-path", 200);
    let messages = vec![
        first,
        StreamAccessLogsMessage {
            identifier: None,
            log_entries: Some(LogEntries::TcpLogs(TcpAccessLogEntries {
                log_entry: vec![TcpAccessLogEntry::default(), TcpAccessLogEntry::default()],
            })),
        },
        http(vec![
            bad_request,
            bad_method,
            bad_target,
            entry(
                RequestMethod::Delete,
                "shop.example",
                "/api/items/9f3a1c2b7e",
                204,
            ),
        ]),
        StreamAccessLogsMessage {
            identifier: None,
            log_entries: None,
        },
    ];
    // Envoy keeps the stream open; the sensor must process messages as they arrive.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let call = tokio::spawn(async move {
        client
            .stream_access_logs(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    for m in messages {
        tx.send(m).await.unwrap();
    }
    let eps = stack.wait_total_calls(4).await;
    let got = calls_by_endpoint(&eps);
    let want: BTreeMap<String, u64> = [
        ("shop.example GET /api/items/{id}", 2),
        ("shop.example POST /api/items", 1),
        ("shop.example DELETE /api/items/{id}", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want);
    let get = eps.iter().find(|e| e.method == "GET").unwrap();
    assert_eq!((get.auth_present, get.public_client_requests), (2, 2));
    assert_eq!(get.latency_us_sum, 6_000);

    // Junk on the wire: a stream of bytes that is not protobuf ends that stream only.
    drop(tx);
    let _ = call.await;
    let raw = tokio::net::TcpStream::connect(sensor.als_addr.clone().unwrap())
        .await
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut raw = raw;
        raw.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04garbage-frames")
            .await
            .unwrap();
    }
    let mut again = AccessLogServiceClient::connect(als).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tx.send(http(vec![entry(
        RequestMethod::Get,
        "shop.example",
        "/api/items/7",
        200,
    )]))
    .await
    .unwrap();
    drop(tx);
    again
        .stream_access_logs(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap();
    stack.wait_exact("envoy-1", 5, 5).await;
    let c = stack.sensor("envoy-1").await.unwrap().counters.unwrap();
    assert_eq!(c.rejected_by_reason.get("als_tcp_entry"), Some(&2));
    assert_eq!(c.rejected_by_reason.get("als_missing_request"), Some(&1));
    assert_eq!(c.rejected_by_reason.get("bad_method"), Some(&1));
    assert_eq!(c.rejected_by_reason.get("bad_target"), Some(&1));
    assert_eq!(c.rejected_by_reason.get("als_empty_message"), Some(&1));
    assert_eq!(c.received, 11);
}
