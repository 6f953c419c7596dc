//! The HTTP mirror listener: mirrored requests (bodies capped, never refused) become endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::io::{Read, Write};
use std::net::TcpStream;

fn send(addr: &str, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_requests_become_endpoints() {
    let stack = Stack::start().await;
    let data = stack.path("mirror-data");
    let sensor = SensorProc::start(
        &stack.url(),
        &stack.sensor_token,
        &[
            "--mirror-listen",
            "127.0.0.1:0",
            "--id",
            "mirror",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let addr = sensor.mirror_addr.clone().unwrap();
    for id in 1..=4 {
        let resp = send(
            &addr,
            &format!(
                "GET /api/users/{id}?full=1 HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 81.2.69.{id}\r\nConnection: close\r\n\r\n"
            ),
            b"",
        );
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    // A body far over the 64 KiB cap is read, counted and discarded, never refused.
    let big = vec![b'a'; 300_000];
    let resp = send(
        &addr,
        &format!(
            "POST /api/orders HTTP/1.1\r\nHost: shop.example-shadow\r\nAuthorization: Bearer x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            big.len()
        ),
        &big,
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let json = br#"{"sku":"A-1","qty":2,"customer":{"email":"x@y.example"}}"#;
    let resp = send(
        &addr,
        &format!(
            "POST /api/orders HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            json.len()
        ),
        json,
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let eps = stack.wait_total_calls(6).await;
    let got = calls_by_endpoint(&eps);
    assert_eq!(got.get("shop.example GET /api/users/{id}"), Some(&4));
    let orders = eps.iter().find(|e| e.path == "/api/orders").unwrap();
    assert_eq!(
        (orders.host.as_str(), orders.calls, orders.auth_present),
        ("shop.example", 2, 1)
    );
    let param = |e: &picket_proto::v1::Endpoint, loc: &str, name: &str| {
        e.params
            .iter()
            .find(|p| p.location == loc && p.name == name)
            .map(|p| (p.count, p.shapes.clone()))
    };
    let (n, shapes) = param(orders, "body", "sku").unwrap();
    assert_eq!((n, shapes.get("text_short")), (1, Some(&1)));
    assert_eq!(param(orders, "body", "qty").unwrap().1.get("int"), Some(&1));
    assert_eq!(
        param(orders, "body", "customer.email")
            .unwrap()
            .1
            .get("email"),
        Some(&1)
    );
    assert!(orders.request_bytes_sum >= 300_000);
    let users = eps.iter().find(|e| e.path == "/api/users/{id}").unwrap();
    assert_eq!(
        users.public_client_requests, 4,
        "client address from X-Forwarded-For"
    );
    assert_eq!(
        param(users, "query", "full").unwrap(),
        (4, [("int".to_string(), 4)].into_iter().collect())
    );
    assert_eq!(
        param(users, "path", "users.id").unwrap().1.get("int"),
        Some(&4)
    );
    stack.wait_exact("mirror", 6, 6).await;
}

const ORDERS_SPEC: &str = r#"
openapi: 3.0.3
info: {title: Orders, version: "1"}
servers: [{url: "https://shop.example"}]
paths:
  /api/orders:
    post:
      operationId: createOrder
      requestBody:
        content:
          application/json: {schema: {type: object}}
          application/vnd.api+json: {schema: {type: object}}
      responses: {"200": {description: ok}}
"#;

/// Content-type drift end to end: the mirror sees the request's Content-Type, the summary
/// carries only its label, and the controller lists labels the operation does not document
/// (`application/json; charset=utf-8` and a `+json` type are json, documented; XML is not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undocumented_request_content_type_is_drift() {
    let stack = Stack::start().await;
    let spec = stack.path("orders.yaml");
    std::fs::write(&spec, ORDERS_SPEC).unwrap();
    picketctl(
        &stack.url(),
        &stack.admin_token,
        &["specs", "import", spec.to_str().unwrap(), "--api", "orders"],
    );
    let data = stack.path("mirror-data");
    let sensor = SensorProc::start(
        &stack.url(),
        &stack.sensor_token,
        &[
            "--mirror-listen",
            "127.0.0.1:0",
            "--id",
            "mirror",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let addr = sensor.mirror_addr.clone().unwrap();
    let post = |ct: &str, body: &[u8]| {
        let resp = send(
            &addr,
            &format!(
                "POST /api/orders HTTP/1.1\r\nHost: shop.example\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ),
            body,
        );
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    };
    post("application/json; charset=utf-8", br#"{"sku":"A-1"}"#);
    post("application/vnd.api+json", br#"{"data":{}}"#);
    let eps = stack.wait_total_calls(2).await;
    let orders = eps.iter().find(|e| e.path == "/api/orders").unwrap();
    let status = orders.spec_status.clone().unwrap();
    assert_eq!(status.class(), picket_proto::v1::SpecClass::Documented);
    assert!(status.undocumented_content_types.is_empty(), "{status:?}");
    assert_eq!(orders.request_content_types.get("json"), Some(&2));

    post("Application/XML", b"<order><sku>A-1</sku></order>");
    let eps = stack.wait_total_calls(3).await;
    let orders = eps.iter().find(|e| e.path == "/api/orders").unwrap();
    let status = orders.spec_status.clone().unwrap();
    assert_eq!(status.undocumented_content_types, ["xml"], "{status:?}");
    assert_eq!(orders.request_content_types.get("xml"), Some(&1));
    // The header's value never travels: only its label.
    assert!(
        !orders.request_content_types.keys().any(|k| k.contains('/')),
        "{:?}",
        orders.request_content_types
    );

    let out = picketctl(
        &stack.url(),
        &stack.reader_token,
        &["-o", "json", "endpoints", "list", "--host", "shop.example"],
    );
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["path"] == "/api/orders"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        row["spec_status"]["undocumented_content_types"],
        serde_json::json!(["xml"]),
        "{out}"
    );
    assert_eq!(row["request_content_types"]["xml"], 1, "{out}");
}
