//! TLS and mTLS between clients, sensors and the controller, with certificates generated
//! here: a client certificate from the trusted CA streams; none, or one from another CA, is
//! refused; plaintext to a TLS controller fails; replaced certificates are picked up by new
//! connections while an established stream goes on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_cli::client::{ClientTls, connect_tls};
use picket_proto::v1 as pb;
use picket_tests::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A CA that signs server and client certificates, written as PEM files under `dir`.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    name: String,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}-ca.pem")), issuer.pem()).unwrap();
        Ca {
            issuer,
            dir: dir.to_owned(),
            name: name.into(),
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// Issues a certificate for `cn` (a server for 127.0.0.1 and localhost when `server`);
    /// returns its (cert, key) files, named `file`.
    fn issue(&self, cn: &str, server: bool, file: &str) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if server {
            params.subject_alt_names = vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ];
        } else {
            params.subject_alt_names = vec![SanType::DnsName(cn.try_into().unwrap())];
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        // Written under a temporary name and renamed, so a reload never sees half a file.
        for (path, text) in [(&k, key.serialize_pem()), (&c, cert.pem())] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        (c, k)
    }
}

struct TlsStack {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    controller: ControllerProc,
    url: String,
    admin_token: String,
    ca: Ca,
    client: (PathBuf, PathBuf),
    /// The server certificate and key files the controller serves (replaced to reload).
    server: (PathBuf, PathBuf),
}

impl TlsStack {
    fn start() -> TlsStack {
        Self::start_with(&[])
    }

    /// A controller with mTLS and `extra` flags.
    fn start_with(extra: &[&str]) -> TlsStack {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let ca = Ca::new(&dir, "a");
        let server = ca.issue("controller", true, "server");
        let client = ca.issue("edge-1", false, "client");
        let client_ca = dir.join("client-ca.pem");
        std::fs::copy(ca.ca_file(), &client_ca).unwrap();
        let (cert, key) = (server.0.to_str().unwrap(), server.1.to_str().unwrap());
        let mut flags = vec![
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--tls-client-ca",
            client_ca.to_str().unwrap(),
        ];
        flags.extend_from_slice(extra);
        let controller = ControllerProc::start_with(&dir.join("controller"), "127.0.0.1:0", &flags);
        let url = format!("https://{}", controller.addr);
        let admin_token = controller.admin_token();
        TlsStack {
            _dir: tmp,
            dir,
            controller,
            url,
            admin_token,
            ca,
            client,
            server,
        }
    }

    fn tls(&self, ca: &Path, client: Option<&(PathBuf, PathBuf)>) -> ClientTls {
        ClientTls {
            ca: Some(ca.to_owned()),
            cert: client.map(|c| c.0.clone()),
            key: client.map(|c| c.1.clone()),
        }
    }

    /// A call over a fresh connection with these TLS settings.
    async fn try_call(&self, url: &str, tls: &ClientTls) -> Result<(), String> {
        let svc = connect_tls(url, Some(&self.admin_token), Duration::from_secs(10), tls)
            .await
            .map_err(|e| e.to_string())?;
        pb::admin_client::AdminClient::new(svc)
            .list_tenants(pb::ListTenantsRequest {})
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn admin(&self) -> pb::admin_client::AdminClient<Authed> {
        let tls = self.tls(&self.ca.ca_file(), Some(&self.client));
        let svc = connect_tls(
            &self.url,
            Some(&self.admin_token),
            Duration::from_secs(30),
            &tls,
        )
        .await
        .unwrap();
        pb::admin_client::AdminClient::new(svc)
    }

    async fn token(&self, role: pb::Role) -> String {
        self.admin()
            .await
            .create_token(pb::CreateTokenRequest {
                role: role as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .secret
    }

    async fn raw_sensor(&self, token: &str, id: &str) -> RawSensor {
        self.try_raw_sensor(token, id).await.unwrap()
    }

    async fn try_raw_sensor(&self, token: &str, id: &str) -> Result<RawSensor, tonic::Status> {
        let tls = self.tls(&self.ca.ca_file(), Some(&self.client));
        let svc = connect_tls(&self.url, Some(token), Duration::from_secs(30), &tls)
            .await
            .unwrap();
        RawSensor::try_connect_on(svc, id, 1).await
    }

    /// A counter of the controller's `/metrics`.
    fn metric(&self, name: &str) -> f64 {
        let (_, text) = http_get(&self.controller.admin_addr, "/metrics");
        prom_value(&parse_prometheus(&text).unwrap(), name, &[]).unwrap_or(0.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_admits_trusted_client_certificates_only() {
    let s = TlsStack::start();
    // A client with a certificate from the trusted CA: calls and streams work.
    s.try_call(&s.url, &s.tls(&s.ca.ca_file(), Some(&s.client)))
        .await
        .unwrap();
    // picketctl with its TLS flags.
    let (ca, cert, key) = (s.ca.ca_file(), s.client.0.clone(), s.client.1.clone());
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let tls_flags = ["--tls-ca", ca, "--tls-cert", cert, "--tls-key", key];
    let out = picketctl(
        &s.url,
        &s.admin_token,
        &[&tls_flags[..], &["tenants", "list"]].concat(),
    );
    assert!(out.contains("default"), "{out}");
    let sensor_token = s.token(pb::Role::Sensor).await;
    let mut raw = s.raw_sensor(&sensor_token, "tls-raw").await;
    assert!(!raw.send(raw.batch(1, "api.example", 5)).await.duplicate);

    // No client certificate; one from another CA; plaintext; a client not trusting the
    // controller's CA: all refused.
    let rogue = Ca::new(&s.dir, "rogue");
    let rogue_client = rogue.issue("edge-1", false, "rogue-client");
    let cases = [
        (
            "no client certificate",
            s.url.clone(),
            s.tls(&s.ca.ca_file(), None),
        ),
        (
            "a client certificate from another CA",
            s.url.clone(),
            s.tls(&s.ca.ca_file(), Some(&rogue_client)),
        ),
        (
            "plaintext",
            format!("http://{}", s.controller.addr),
            ClientTls::default(),
        ),
        (
            "a controller certificate from an untrusted CA",
            s.url.clone(),
            s.tls(&rogue.ca_file(), Some(&s.client)),
        ),
    ];
    for (what, url, tls) in &cases {
        let r = s.try_call(url, tls).await;
        assert!(r.is_err(), "{what} was accepted");
    }
    let failed = s.metric("picket_controller_tls_handshakes_failed_total");
    assert!(failed >= 3.0, "{failed} failed handshakes counted");

    // The real sensor binary over mTLS delivers a file exactly.
    let log = s.dir.join("access.log");
    let lines: Vec<String> = (0..40)
        .map(|i| {
            json_line(
                1_700_000_000.0 + f64::from(i),
                "tls.example",
                "GET",
                &format!("/o/{i}"),
                200,
                "10.1.1.1",
            )
        })
        .collect();
    append(&log, &lines);
    let (ca, cert, key) = (s.ca.ca_file(), s.client.0.clone(), s.client.1.clone());
    let data = s.dir.join("sensor-data");
    let _sensor = SensorProc::start(
        &s.url,
        &sensor_token,
        &[
            "--tls-ca",
            ca.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--nginx-log",
            log.to_str().unwrap(),
            "--id",
            "tls-sensor",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let reader = s.token(pb::Role::Reader).await;
    let tls = s.tls(&s.ca.ca_file(), Some(&s.client));
    eventually(
        Duration::from_secs(60),
        "40 calls from the TLS sensor",
        || {
            let (url, reader, tls) = (s.url.clone(), reader.clone(), tls.clone());
            async move {
                let svc = connect_tls(&url, Some(&reader), Duration::from_secs(10), &tls)
                    .await
                    .ok()?;
                let r = pb::fleet_client::FleetClient::new(svc)
                    .list_sensors(pb::ListSensorsRequest::default())
                    .await
                    .ok()?
                    .into_inner();
                r.sensors
                    .iter()
                    .find(|x| x.sensor_id == "tls-sensor" && x.requests_committed == 40)
                    .map(|_| ())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificates_serve_new_connections_and_open_streams_go_on() {
    let s = TlsStack::start();
    let sensor_token = s.token(pb::Role::Sensor).await;
    let mut raw = s.raw_sensor(&sensor_token, "long-lived").await;
    raw.send(raw.batch(1, "api.example", 3)).await;

    // A new CA: the controller's certificate and its client CA are replaced in place.
    let next = Ca::new(&s.dir, "next");
    let new_server = next.issue("controller", true, "server-next");
    let new_client = next.issue("edge-2", false, "client-next");
    for (from, to) in [(&new_server.1, &s.server.1), (&new_server.0, &s.server.0)] {
        let tmp = to.with_extension("tmp");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
    let client_ca = s.dir.join("client-ca.pem");
    let tmp = client_ca.with_extension("tmp");
    std::fs::copy(next.ca_file(), &tmp).unwrap();
    std::fs::rename(&tmp, &client_ca).unwrap();

    let new_tls = s.tls(&next.ca_file(), Some(&new_client));
    eventually(
        Duration::from_secs(30),
        "a new connection with the new certificates",
        || {
            let tls = new_tls.clone();
            let s = &s;
            async move { s.try_call(&s.url, &tls).await.ok() }
        },
    )
    .await;
    // New connections trusting only the old CA fail now: the old certificate is gone.
    let old = s
        .try_call(&s.url, &s.tls(&s.ca.ca_file(), Some(&s.client)))
        .await;
    assert!(old.is_err(), "the old certificate is still served");
    // The stream opened before the reload was not dropped.
    let ack = raw.send(raw.batch(2, "api.example", 4)).await;
    assert_eq!((ack.seq, ack.duplicate), (2, false));
    assert!(s.metric("picket_controller_tls_reloads_total") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_sensor_id_must_match_the_client_certificate() {
    // The client certificate names edge-1.
    let s = TlsStack::start_with(&["--tls-bind-sensor-id"]);
    let token = s.token(pb::Role::Sensor).await;
    let mut own = s.raw_sensor(&token, "edge-1").await;
    own.send(own.batch(1, "api.example", 2)).await;
    for other in ["edge-2", "edge_1"] {
        let err = s.try_raw_sensor(&token, other).await.err().unwrap();
        assert_eq!(
            err.code(),
            tonic::Code::PermissionDenied,
            "{other}: {err:?}"
        );
    }
}

fn als_entry(
    path: &str,
) -> envoy_types::pb::envoy::service::accesslog::v3::StreamAccessLogsMessage {
    use envoy_types::pb::envoy::config::core::v3::RequestMethod;
    use envoy_types::pb::envoy::data::accesslog::v3::{
        AccessLogCommon, HttpAccessLogEntry, HttpRequestProperties, HttpResponseProperties,
    };
    use envoy_types::pb::envoy::service::accesslog::v3::stream_access_logs_message::{
        HttpAccessLogEntries, Identifier, LogEntries,
    };
    use envoy_types::pb::google::protobuf::{Timestamp, UInt32Value};
    let entry = HttpAccessLogEntry {
        common_properties: Some(AccessLogCommon {
            start_time: Some(Timestamp {
                seconds: 1_795_219_200,
                nanos: 0,
            }),
            ..Default::default()
        }),
        request: Some(HttpRequestProperties {
            request_method: RequestMethod::Get as i32,
            authority: "als-tls.example".into(),
            path: path.into(),
            ..Default::default()
        }),
        response: Some(HttpResponseProperties {
            response_code: Some(UInt32Value { value: 200 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    envoy_types::pb::envoy::service::accesslog::v3::StreamAccessLogsMessage {
        identifier: Some(Identifier {
            log_name: "tls".into(),
            ..Default::default()
        }),
        log_entries: Some(LogEntries::HttpLogs(HttpAccessLogEntries {
            log_entry: vec![entry],
        })),
    }
}

/// Streams one ALS message to `url` (with TLS settings `tls`), then closes the stream.
async fn send_als(
    url: &str,
    tls: Option<tonic::transport::ClientTlsConfig>,
    path: &str,
) -> Result<(), String> {
    use envoy_types::pb::envoy::service::accesslog::v3::access_log_service_client::AccessLogServiceClient;
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap();
    if let Some(t) = tls {
        endpoint = endpoint.tls_config(t).map_err(|e| e.to_string())?;
    }
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    AccessLogServiceClient::new(channel)
        .stream_access_logs(tokio_stream::iter(vec![als_entry(path)]))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_als_listener_serves_tls() {
    let stack = Stack::start().await;
    let dir = stack.path("als-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = Ca::new(&dir, "als");
    let (cert, key) = ca.issue("sensor", true, "als");
    let data = stack.path("sensor-data");
    let sensor = SensorProc::start(
        &stack.url(),
        &stack.sensor_token,
        &[
            "--als-listen",
            "127.0.0.1:0",
            "--als-tls-cert",
            cert.to_str().unwrap(),
            "--als-tls-key",
            key.to_str().unwrap(),
            "--id",
            "als-tls",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let addr = sensor.als_addr.clone().unwrap();
    // Plaintext to the TLS listener delivers nothing.
    let plain = send_als(&format!("http://{addr}"), None, "/plain").await;
    assert!(plain.is_err(), "plaintext ALS accepted");
    let pem = std::fs::read(ca.ca_file()).unwrap();
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(pem));
    send_als(&format!("https://{addr}"), Some(tls), "/over-tls")
        .await
        .unwrap();
    let eps = stack.wait_total_calls(1).await;
    assert_eq!(eps[0].path, "/over-tls");
}

/// `--als-tls-client-ca`: Envoy must present a certificate from the CA; a client without one,
/// or with one from another CA, is refused (and counted), one from the CA is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_als_listener_requires_client_certificates_from_its_ca() {
    let stack = Stack::start().await;
    let dir = stack.path("als-mtls");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = Ca::new(&dir, "als");
    let (cert, key) = ca.issue("sensor", true, "als");
    let clients = Ca::new(&dir, "envoy");
    let envoy = clients.issue("envoy-edge-1", false, "envoy");
    let rogue = Ca::new(&dir, "rogue").issue("envoy-edge-1", false, "rogue");
    let data = stack.path("sensor-data");
    let sensor = SensorProc::start(
        &stack.url(),
        &stack.sensor_token,
        &[
            "--als-listen",
            "127.0.0.1:0",
            "--als-tls-cert",
            cert.to_str().unwrap(),
            "--als-tls-key",
            key.to_str().unwrap(),
            "--als-tls-client-ca",
            clients.ca_file().to_str().unwrap(),
            "--id",
            "als-mtls",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let addr = sensor.als_addr.clone().unwrap();
    let url = format!("https://{addr}");
    let server_ca = std::fs::read(ca.ca_file()).unwrap();
    let tls = |client: Option<&(PathBuf, PathBuf)>| {
        let mut t = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&server_ca));
        if let Some((c, k)) = client {
            t = t.identity(tonic::transport::Identity::from_pem(
                std::fs::read(c).unwrap(),
                std::fs::read(k).unwrap(),
            ));
        }
        t
    };
    let failed = || {
        let (_, text) = http_get(sensor.admin_addr.as_ref().unwrap(), "/metrics");
        prom_value(
            &parse_prometheus(&text).unwrap(),
            "picket_sensor_listener_refused_total",
            &[
                ("source", &format!("envoy-als:{addr}")),
                ("reason", "tls_failed"),
            ],
        )
        .unwrap_or(0.0)
    };
    assert!(
        send_als(&url, Some(tls(None)), "/no-cert").await.is_err(),
        "a client without a certificate was served"
    );
    assert!(
        send_als(&url, Some(tls(Some(&rogue))), "/rogue")
            .await
            .is_err(),
        "a certificate from another CA was accepted"
    );
    eventually(
        Duration::from_secs(30),
        "two refused handshakes",
        || async { (failed() >= 2.0).then_some(()) },
    )
    .await;
    send_als(&url, Some(tls(Some(&envoy))), "/with-cert")
        .await
        .unwrap();
    let eps = stack.wait_total_calls(1).await;
    assert_eq!(eps[0].path, "/with-cert");
}
