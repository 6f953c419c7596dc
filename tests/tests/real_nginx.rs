//! A real nginx (Debian package `nginx`) proxies a small backend and writes the documented JSON
//! log (`deploy/nginx/picket-log-format.conf`, included as is); real HTTP requests through
//! nginx must land in the inventory with the right templates and counts.
//!
//! Without nginx the test says so loudly and passes; with `PICKET_REQUIRE_NGINX=1` (set by
//! `.ci/run`) a missing nginx fails it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"])
        .map(|d| Path::new(d).join("nginx"))
        .find(|p| p.is_file())
}

/// A tiny HTTP/1.1 backend: 404 for paths under /missing, 201 for POST, 200 otherwise.
async fn backend() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 16 * 1024];
                let mut len = 0;
                // Read until the end of the headers (bodies here are tiny and ignored).
                while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
                    match sock.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => len += n,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]).to_string();
                let mut parts = head.split(' ');
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let status = if path.starts_with("/missing") {
                    "404 Not Found"
                } else if method == "POST" {
                    "201 Created"
                } else {
                    "200 OK"
                };
                let body = r#"{"ok":true}"#;
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends one request through nginx and returns the status code.
fn request(port: u16, method: &str, path: &str, extra: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = if method == "POST" {
        r#"{"item":1}"#
    } else {
        ""
    };
    write!(s, "{method} {path} HTTP/1.1\r\nHost: shop.test\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(
    nginx: &Path,
    dir: &Path,
    backend: std::net::SocketAddr,
    log: &Path,
    mirror_to: Option<&str>,
) -> (Nginx, u16) {
    // As in deploy/nginx/picket-mirror.conf.
    let location = match mirror_to {
        Some(sensor) => format!(
            "location / {{ mirror /picket_mirror; mirror_request_body on; proxy_pass http://{backend}; }}\n    \
             location = /picket_mirror {{ internal; proxy_pass http://{sensor}$request_uri; proxy_set_header Host $host; \
             proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-Proto $scheme; }}"
        ),
        None => format!("location / {{ proxy_pass http://{backend}; }}"),
    };
    let format =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/picket-log-format.conf");
    let format = format.canonicalize().unwrap();
    for attempt in 0..5 {
        let port = free_port();
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n  include {};\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    access_log {} picket_json;\n    {location}\n  }}\n}}\n",
                format.display(),
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .spawn()
            .unwrap();
        let mut proc = Nginx(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (proc, port);
            }
            if let Ok(Some(_)) = proc.0.try_wait() {
                break; // port taken or config rejected: try again
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "nginx attempt {attempt} failed: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }
    panic!("nginx did not start");
}

/// nginx, or `None` after a loud notice (a failure under `PICKET_REQUIRE_NGINX=1`).
fn nginx_or_skip() -> Option<PathBuf> {
    let found = find_nginx();
    if found.is_none() {
        assert!(
            std::env::var("PICKET_REQUIRE_NGINX").as_deref() != Ok("1"),
            "nginx is required (PICKET_REQUIRE_NGINX=1) but not installed"
        );
        eprintln!(
            "\n!!!!!!!!\n!!! SKIPPED real-gateway test: nginx not found (apt-get install nginx); .ci/run installs it\n!!!!!!!!\n"
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_through_real_nginx_reach_the_inventory() {
    let Some(nginx) = nginx_or_skip() else { return };
    let stack = Stack::start().await;
    let backend = backend().await;
    let ngx_dir = stack.path("nginx");
    std::fs::create_dir_all(&ngx_dir).unwrap();
    let log = stack.path("access.json");
    let (_nginx, port) = start_nginx(&nginx, &ngx_dir, backend, &log, None);
    let _sensor = stack.file_sensor("nginx-edge", &log);

    let mut expected_status = BTreeMap::new();
    for id in 1..=10 {
        let extra = if id % 2 == 0 {
            "Authorization: Bearer t0k3n\r\n"
        } else {
            ""
        };
        *expected_status
            .entry(request(
                port,
                "GET",
                &format!("/api/users/{id}?fields=name"),
                extra,
            ))
            .or_insert(0) += 1;
    }
    assert_eq!(expected_status, BTreeMap::from([(200, 10)]));
    assert_eq!(request(port, "GET", "/api/users/5/orders", ""), 200);
    assert_eq!(request(port, "POST", "/api/orders", ""), 201);
    assert_eq!(
        request(port, "POST", "/api/orders", "X-Api-Key: k\r\n"),
        201
    );
    assert_eq!(
        request(
            port,
            "GET",
            "/api/items/550e8400-e29b-41d4-a716-446655440000",
            ""
        ),
        200
    );
    assert_eq!(request(port, "GET", "/missing/123", ""), 404);

    let eps = stack.wait_total_calls(15).await;
    let got = calls_by_endpoint(&eps);
    let want: BTreeMap<String, u64> = [
        ("shop.test GET /api/users/{id}", 10),
        ("shop.test GET /api/users/{id}/orders", 1),
        ("shop.test POST /api/orders", 2),
        ("shop.test GET /api/items/{id}", 1),
        ("shop.test GET /missing/{id}", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want);
    let users = eps.iter().find(|e| e.path == "/api/users/{id}").unwrap();
    assert_eq!(users.auth_present, 5);
    assert_eq!(users.auth_schemes.get("bearer"), Some(&5));
    assert_eq!(users.auth_schemes.get("none"), Some(&5));
    let orders = eps.iter().find(|e| e.path == "/api/orders").unwrap();
    assert_eq!(
        (
            orders.statuses[0].status,
            orders.statuses[0].count,
            orders.auth_present
        ),
        (201, 2, 1)
    );
    let missing = eps.iter().find(|e| e.path == "/missing/{id}").unwrap();
    assert_eq!(missing.statuses[0].status, 404);
    stack.wait_exact("nginx-edge", 15, 15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_mirror_reaches_the_sensor_with_bodies() {
    let Some(nginx) = nginx_or_skip() else { return };
    let stack = Stack::start().await;
    let backend = backend().await;
    let data = stack.path("mirror-data");
    let sensor = SensorProc::start(
        &stack.url(),
        &stack.sensor_token,
        &[
            "--mirror-listen",
            "127.0.0.1:0",
            "--id",
            "nginx-mirror",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let ngx_dir = stack.path("nginx");
    std::fs::create_dir_all(&ngx_dir).unwrap();
    let (_nginx, port) = start_nginx(
        &nginx,
        &ngx_dir,
        backend,
        &stack.path("unused.json"),
        sensor.mirror_addr.as_deref(),
    );
    for id in 1..=6 {
        assert_eq!(
            request(port, "GET", &format!("/api/items/{id}"), "X-Api-Key: k\r\n"),
            200
        );
    }
    assert_eq!(request(port, "POST", "/api/orders", ""), 201);
    let eps = stack.wait_total_calls(7).await;
    let got = calls_by_endpoint(&eps);
    assert_eq!(got.get("shop.test GET /api/items/{id}"), Some(&6));
    assert_eq!(got.get("shop.test POST /api/orders"), Some(&1));
    let items = eps.iter().find(|e| e.path == "/api/items/{id}").unwrap();
    assert_eq!(items.auth_present, 6);
    assert_eq!(items.auth_schemes.get("api_key"), Some(&6));
    stack.wait_exact("nginx-mirror", 7, 7).await;
}
