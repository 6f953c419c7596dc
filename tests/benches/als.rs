//! Envoy ALS entries into one sensor over loopback gRPC: a client streams HTTP access-log
//! entries (100 per message, as Envoy batches them) to a sensor whose controller runs in the
//! same process; measures entries/s until the sensor has counted every entry as received, and
//! fails if any was dropped.
//!
//! The messages are built and encoded with `envoy-types` before the clock starts, and the
//! client sends those bytes as they are (a pass-through codec): encoding is Envoy's cost, not
//! the sensor's, and on a 2-core machine it would otherwise take CPU from the sensor. Everything
//! timed is real: HTTP/2 over loopback TCP, the sensor's gRPC decoding, conversion,
//! aggregation and delivery to the controller.
//!
//!   cargo bench -p picket-tests --bench als [-- ENTRIES RUNS]

use bytes::{Buf, BufMut, Bytes};
use envoy_types::pb::envoy::config::core::v3::{
    Address, RequestMethod, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::data::accesslog::v3::{
    AccessLogCommon, HttpAccessLogEntry, HttpRequestProperties, HttpResponseProperties,
};
use envoy_types::pb::envoy::service::accesslog::v3::StreamAccessLogsMessage;
use envoy_types::pb::envoy::service::accesslog::v3::stream_access_logs_message::{
    HttpAccessLogEntries, LogEntries,
};
use envoy_types::pb::google::protobuf::{Duration as PbDuration, Timestamp, UInt32Value};
use picket_proto::v1 as pb;
use picket_sensor::config::{AlsConfig, SensorConfig};
use prost::Message;
use std::time::{Duration, Instant};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

const ROUTE: &str = "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs";

/// Sends messages that are already protobuf-encoded as they are, and skips the (empty)
/// response without decoding it.
#[derive(Debug, Clone, Copy)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Self;
    type Decoder = Self;
    fn encoder(&mut self) -> Self {
        *self
    }
    fn decoder(&mut self) -> Self {
        *self
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ();
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

fn entry(i: u64) -> HttpAccessLogEntry {
    HttpAccessLogEntry {
        common_properties: Some(AccessLogCommon {
            start_time: Some(Timestamp {
                seconds: 1_795_219_200 + (i / 1000) as i64,
                nanos: 0,
            }),
            downstream_remote_address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress {
                    address: format!("81.2.{}.{}", (i / 256) % 256, i % 256),
                    port_specifier: Some(socket_address::PortSpecifier::PortValue(40_000)),
                    ..Default::default()
                })),
            }),
            time_to_last_downstream_tx_byte: Some(PbDuration {
                seconds: 0,
                nanos: 4_000_000,
            }),
            ..Default::default()
        }),
        request: Some(HttpRequestProperties {
            request_method: RequestMethod::Get as i32,
            scheme: "https".into(),
            authority: format!("api{}.example.com", i % 4),
            path: format!("/api/v1/users/{}/orders?page={}", i % 5000, i % 7),
            user_agent: "Mozilla/5.0".into(),
            request_headers: [(
                "authorization".to_string(),
                format!("Bearer token-{}", i % 100),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        }),
        response: Some(HttpResponseProperties {
            response_code: Some(UInt32Value { value: 200 }),
            response_body_bytes: 512,
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn once(n: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let ip = picket_tests::InProcess::start(&dir.path().join("c")).await?;
    let (url, admin) = (ip.url.clone(), ip.admin_token.clone());
    let ctl = ip.controller;
    let token = picket_tests::create_token(&url, &admin, "", pb::Role::Sensor).await;
    let cfg = SensorConfig {
        controller: url,
        token: Some(token),
        id: Some("als-bench".into()),
        data_dir: dir.path().join("s"),
        // A deep queue: the bench measures throughput, not the lossy overflow path.
        max_queued_chunks: 4096,
        als: Some(AlsConfig::new("127.0.0.1:0".parse()?, "default".into())),
        ..Default::default()
    };
    let sensor = picket_sensor::Sensor::start(cfg).await?;
    let addr = format!(
        "http://{}",
        sensor
            .als_addr
            .ok_or_else(|| anyhow::anyhow!("no ALS address"))?
    );
    let frames: Vec<Bytes> = (0..n)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|c| StreamAccessLogsMessage {
            identifier: None,
            log_entries: Some(LogEntries::HttpLogs(HttpAccessLogEntries {
                log_entry: c.iter().map(|i| entry(*i)).collect(),
            })),
        })
        .map(|m| Bytes::from(m.encode_to_vec()))
        .collect();
    let channel = tonic::transport::Endpoint::from_shared(addr)?
        .connect()
        .await?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await?;
    let start = Instant::now();
    client
        .client_streaming(
            tonic::Request::new(tokio_stream::iter(frames)),
            PathAndQuery::from_static(ROUTE),
            PreEncoded,
        )
        .await?;
    loop {
        let c = sensor.stats.snapshot();
        if c.received >= n {
            anyhow::ensure!(
                c.requests_dropped == 0,
                "dropped {} entries",
                c.requests_dropped
            );
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(120),
            "not all entries arrived"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    sensor.shutdown().await;
    ctl.shutdown().await?;
    Ok(n as f64 / secs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = a.first().copied().unwrap_or(200_000);
    let runs = a.get(1).copied().unwrap_or(5) as usize;
    let mut rates = Vec::new();
    for _ in 0..runs {
        rates.push(once(n).await?);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "Envoy ALS → sensor over loopback gRPC (sensor, its controller and the client in one process; messages encoded before the clock starts)"
    );
    println!("entries      {n} (100 per message)");
    println!(
        "cores        {}",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    println!("median       {:.0} entries/s", rates[rates.len() / 2]);
    println!(
        "min / max    {:.0} / {:.0} entries/s",
        rates[0],
        rates[rates.len() - 1]
    );
    Ok(())
}
