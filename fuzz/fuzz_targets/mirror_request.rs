//! Raw HTTP/1 bytes sent to the mirror listener: parsed by hyper's server connection (as the
//! listener serves it, over an in-memory stream) and judged by the mirror's own code.
#![no_main]

use hyper::body::Incoming;
use hyper::{Request, Response};
use libfuzzer_sys::fuzz_target;
use picket_sensor::sources::mirror::{MirrorSettings, Timeouts, drain_body, judge};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn settings() -> &'static MirrorSettings {
    static S: OnceLock<MirrorSettings> = OnceLock::new();
    S.get_or_init(|| MirrorSettings {
        default_host: picket_fuzz::DEFAULT_HOST.into(),
        max_body_bytes: 4096,
        ident: Arc::new(picket_fuzz::ident().clone()),
        classify_injections: true,
        trusted_proxies: vec!["10.0.0.0/8".parse().expect("a valid CIDR")],
        real_ip_header: true,
        timeouts: Timeouts {
            header: Duration::from_secs(1),
            body: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        },
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let peer: SocketAddr = "10.1.2.3:40000".parse().expect("an address");
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let input = data.to_vec();
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            // Drain responses so the server never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut sink).await;
        });
        let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
            let (parts, body) = req.into_parts();
            let s = settings();
            let deadline = tokio::time::Instant::now() + settings().timeouts.body;
            let body = drain_body(body, s.max_body_bytes, deadline).await;
            let _ = judge(&parts, &body.kept, body.total, peer, s, picket_fuzz::NOW_MS);
            Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(server), service);
        let _ = conn.await;
        let _ = writer.await;
    });
});
