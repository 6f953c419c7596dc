//! The HTTP admin listener each binary runs beside its data path: `GET /metrics` (the
//! registry in the Prometheus text format), `GET /healthz` (the process is alive: always 200)
//! and `GET /readyz` (200 when the binary's readiness check passes, else 503 with a one-line
//! reason). HTTP/1.1 only, GET only, one request per connection, a deadline per connection
//! and a cap on open connections: it is for probes and scrapers, never for traffic.

use crate::metrics::{Registry, render::CONTENT_TYPE};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Default admin address of the controller (loopback: expose it deliberately).
pub const CONTROLLER_DEFAULT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);
/// Default admin address of the sensor.
pub const SENSOR_DEFAULT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9465);
/// Admin connections open at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 16;
/// Time one admin connection may take from accept to the end of its response.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the admin listener binds: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    Off,
    On(SocketAddr),
}

impl std::str::FromStr for AdminListen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(AdminListen::Off);
        }
        s.parse().map(AdminListen::On).map_err(|_| {
            format!(
                "admin_listen must be an address such as 127.0.0.1:9464 or \"off\", found {s:?}"
            )
        })
    }
}

impl std::fmt::Display for AdminListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminListen::Off => f.write_str("off"),
            AdminListen::On(a) => a.fmt(f),
        }
    }
}

impl<'de> serde::Deserialize<'de> for AdminListen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a binary is not ready (one line, shown in the 503 body), or ready.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A running admin listener; stops when dropped.
#[derive(Debug)]
pub struct Admin {
    pub local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves the admin endpoints in the background. Binding fails loudly: a
/// probe target that silently is not there is worse than a process that does not start.
pub async fn start(
    addr: SocketAddr,
    registry: Arc<Registry>,
    ready: ReadyCheck,
) -> std::io::Result<Admin> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, registry, ready));
    Ok(Admin { local_addr, task })
}

async fn serve(listener: tokio::net::TcpListener, registry: Arc<Registry>, ready: ReadyCheck) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the connection cap: close at once rather than queue.
            continue;
        };
        let (registry, ready) = (registry.clone(), ready.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let resp = respond(&req, &registry, &ready);
                async move { Ok::<_, Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

fn respond(
    req: &Request<Incoming>,
    registry: &Registry,
    ready: &ReadyCheck,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served\n".into(),
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let mut r = text(StatusCode::OK, registry.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(CONTENT_TYPE),
            );
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match ready() {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {}\n", why.replace('\n', " ")),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_probes_and_refuses_the_rest() {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = flag.clone();
        let ready: ReadyCheck = Arc::new(move || {
            if f.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(())
            } else {
                Err("not connected\nyet".into())
            }
        });
        let admin = start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Registry::default()),
            ready,
        )
        .await
        .unwrap();
        let a = admin.local_addr;
        let m = get(a, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(
            m.contains("version=0.0.4")
                && m.contains("# TYPE picket_metrics_series_refused_total counter")
        );
        assert!(
            get(a, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let r = get(a, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.ends_with("not ready: not connected yet\n"),
            "{r}"
        );
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(
            get(a, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let p = get(
            a,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert!(
            p.starts_with("HTTP/1.1 405") && p.to_ascii_lowercase().contains("allow: get"),
            "{p}"
        );
        assert!(
            get(a, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 404")
        );
    }

    #[test]
    fn admin_listen_parses() {
        assert_eq!("off".parse::<AdminListen>(), Ok(AdminListen::Off));
        assert_eq!(
            "127.0.0.1:9".parse::<AdminListen>(),
            Ok(AdminListen::On("127.0.0.1:9".parse().unwrap()))
        );
        assert!("localhost".parse::<AdminListen>().is_err());
    }
}
