//! Wire compatibility of the trimmed ALS types with Envoy's own messages (`envoy-types`):
//! fully populated Envoy messages, including every kind of field the sensor skips, decode into
//! [`super::wire`] and convert to exactly the records the previous `envoy-types` decoding gave.

use super::wire;
use crate::identity::{Credentials, Identifier, PrincipalKey};
use crate::record::{self, RequestRecord, Scheme};
use envoy_types::pb::envoy::config::core::v3::{
    Address, Locality, Metadata, Node, Pipe, RequestMethod, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::data::accesslog::v3::{
    AccessLogCommon, ConnectionProperties, HttpAccessLogEntry, HttpRequestProperties,
    HttpResponseProperties, ResponseFlags, TcpAccessLogEntry, TlsProperties,
    http_access_log_entry::HttpVersion,
};
use envoy_types::pb::envoy::service::accesslog::v3::StreamAccessLogsMessage;
use envoy_types::pb::envoy::service::accesslog::v3::stream_access_logs_message::{
    HttpAccessLogEntries, Identifier as LogIdentifier, LogEntries, TcpAccessLogEntries,
};
use envoy_types::pb::google::protobuf::{
    Any, Duration as PbDuration, Struct, Timestamp, UInt32Value, Value, value,
};
use proptest::prelude::*;
use prost::Message;

/// The conversion as it was over `envoy-types`' full messages: the oracle.
fn convert_envoy(
    entry: &HttpAccessLogEntry,
    default_host: &str,
    ident: &Identifier,
) -> Result<RequestRecord, &'static str> {
    let common = entry
        .common_properties
        .as_ref()
        .ok_or("als_missing_common")?;
    let req = entry.request.as_ref().ok_or("als_missing_request")?;
    let method = RequestMethod::try_from(req.request_method)
        .ok()
        .filter(|m| *m != RequestMethod::MethodUnspecified)
        .ok_or("bad_method")?;
    let target = if req.path.is_empty() {
        &req.original_path
    } else {
        &req.path
    };
    let target = record::normalize_target(target).map_err(|_| "bad_target")?;
    let scheme = match req.scheme.as_str() {
        "https" => Some(Scheme::Https),
        "http" => Some(Scheme::Http),
        _ => None,
    };
    let ts = common
        .start_time
        .as_ref()
        .ok_or("oracle_needs_start_time")?;
    let latency = common
        .time_to_last_downstream_tx_byte
        .as_ref()
        .or(common.duration.as_ref());
    let client_ip = common
        .downstream_remote_address
        .as_ref()
        .and_then(|a| a.address.as_ref())
        .and_then(|a| match a {
            address::Address::SocketAddress(s) => record::parse_ip(&s.address),
            _ => None,
        });
    let header = |name: &str| {
        req.request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let resp = entry.response.as_ref();
    let mut rec = RequestRecord {
        ts_ms: super::timestamp_ms(&prost_types::Timestamp {
            seconds: ts.seconds,
            nanos: ts.nanos,
        }),
        method: method.as_str_name().to_owned(),
        host: record::normalize_host(&req.authority, scheme, default_host),
        target: target.to_owned(),
        status: resp
            .and_then(|r| r.response_code.as_ref())
            .and_then(|c| u16::try_from(c.value).ok())
            .unwrap_or(0),
        request_bytes: req
            .request_headers_bytes
            .saturating_add(req.request_body_bytes),
        response_bytes: resp.map_or(0, |r| r.response_body_bytes),
        latency_us: latency.map_or(0, |d| {
            super::duration_us(&prost_types::Duration {
                seconds: d.seconds,
                nanos: d.nanos,
            })
        }),
        scheme,
        ..Default::default()
    };
    let forwarded_for = Some(req.forwarded_for.as_str())
        .filter(|f| !f.is_empty())
        .or(header("x-forwarded-for"));
    let creds = Credentials {
        authorization: header("authorization"),
        api_key: header("x-api-key"),
        cookie: header("cookie").is_some(),
        user: None,
        peer: client_ip,
        forwarded_for,
        user_agent: Some(req.user_agent.as_str()).filter(|u| !u.is_empty()),
    };
    rec.content_type = picket_shared::media::header_label(header("content-type"));
    ident.apply(&mut rec, creds);
    Ok(rec)
}

fn ident() -> Identifier {
    let trusted = vec!["10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))];
    Identifier::new(PrincipalKey::from_bytes([7; 32]), trusted)
}

fn strings(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn duration(ms: i32) -> Option<PbDuration> {
    Some(PbDuration {
        seconds: i64::from(ms / 1000),
        nanos: ms % 1000 * 1_000_000,
    })
}

fn socket(addr: &str) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            protocol: 1,
            address: addr.into(),
            resolver_name: "resolver".into(),
            ipv4_compat: true,
            network_namespace_filepath: "/var/run/netns/x".into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(8443)),
        })),
    })
}

/// Every field of an entry set, most of them ones the sensor skips.
fn full_common(start_s: i64, peer: Option<Address>) -> AccessLogCommon {
    let any = Any {
        type_url: "type.googleapis.com/x.Y".into(),
        value: vec![1, 2, 3],
    };
    let strukt = Struct {
        fields: [(
            "k".to_string(),
            Value {
                kind: Some(value::Kind::StringValue("v".into())),
            },
        )]
        .into_iter()
        .collect(),
    };
    AccessLogCommon {
        sample_rate: 0.5,
        downstream_remote_address: peer,
        downstream_local_address: socket("10.1.1.1"),
        tls_properties: Some(TlsProperties {
            tls_version: 4,
            tls_cipher_suite: Some(UInt32Value { value: 0x1301 }),
            tls_sni_hostname: "sni.example".into(),
            tls_session_id: "abcd".into(),
            ja3_fingerprint: "771,4865".into(),
            ..Default::default()
        }),
        start_time: Some(Timestamp {
            seconds: start_s,
            nanos: 123_456_789,
        }),
        time_to_last_rx_byte: duration(1),
        time_to_first_upstream_tx_byte: duration(2),
        time_to_last_upstream_tx_byte: duration(3),
        time_to_first_upstream_rx_byte: duration(4),
        time_to_last_upstream_rx_byte: duration(5),
        time_to_first_downstream_tx_byte: duration(6),
        time_to_last_downstream_tx_byte: duration(7),
        upstream_remote_address: socket("10.2.2.2"),
        upstream_local_address: Some(Address {
            address: Some(address::Address::Pipe(Pipe {
                path: "/tmp/sock".into(),
                mode: 0o600,
            })),
        }),
        upstream_cluster: "cluster_a".into(),
        response_flags: Some(ResponseFlags {
            no_healthy_upstream: true,
            upstream_request_timeout: true,
            ..Default::default()
        }),
        metadata: Some(Metadata {
            filter_metadata: [("envoy.lb".to_string(), strukt)].into_iter().collect(),
            typed_filter_metadata: [("t".to_string(), any.clone())].into_iter().collect(),
        }),
        upstream_transport_failure_reason: "none".into(),
        route_name: "route_1".into(),
        downstream_direct_remote_address: socket("81.2.69.1"),
        filter_state_objects: [("fs".to_string(), any)].into_iter().collect(),
        custom_tags: strings(&[("tag", "value")]),
        duration: duration(9),
        upstream_request_attempt_count: 2,
        connection_termination_details: "details".into(),
        stream_id: "stream-1".into(),
        downstream_transport_failure_reason: "none".into(),
        downstream_wire_bytes_sent: 11,
        downstream_wire_bytes_received: 12,
        upstream_wire_bytes_sent: 13,
        upstream_wire_bytes_received: 14,
        access_log_type: 3,
        ..Default::default()
    }
}

fn full_entry(common: AccessLogCommon, req: HttpRequestProperties) -> HttpAccessLogEntry {
    HttpAccessLogEntry {
        common_properties: Some(common),
        protocol_version: HttpVersion::Http2 as i32,
        request: Some(req),
        response: Some(HttpResponseProperties {
            response_code: Some(UInt32Value { value: 404 }),
            response_headers_bytes: 99,
            response_body_bytes: 1234,
            response_headers: strings(&[("content-type", "application/json")]),
            response_trailers: strings(&[("grpc-status", "0")]),
            response_code_details: "route_not_found".into(),
            upstream_header_bytes_received: 5,
            downstream_header_bytes_sent: 6,
        }),
    }
}

fn full_request(headers: &[(&str, &str)]) -> HttpRequestProperties {
    HttpRequestProperties {
        request_method: RequestMethod::Post as i32,
        scheme: "https".into(),
        authority: "API.Example.com:443".into(),
        port: Some(UInt32Value { value: 443 }),
        path: "/api/v1/users/42?expand=1".into(),
        user_agent: "sqlmap/1.7".into(),
        referer: "https://ref.example/".into(),
        forwarded_for: String::new(),
        request_id: "req-1".into(),
        original_path: "/orig".into(),
        request_headers_bytes: 300,
        request_body_bytes: 20,
        request_headers: strings(headers),
        upstream_header_bytes_sent: 7,
        downstream_header_bytes_received: 8,
    }
}

/// Encodes with `envoy-types`, decodes with the trimmed types.
fn decode(msg: &StreamAccessLogsMessage) -> wire::StreamAccessLogsMessage {
    let bytes = bytes::Bytes::from(msg.encode_to_vec());
    wire::StreamAccessLogsMessage::decode(bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn http_entries(msg: wire::StreamAccessLogsMessage) -> Vec<wire::HttpAccessLogEntry> {
    match msg.log_entries {
        Some(wire::LogEntries::HttpLogs(h)) => h.log_entry,
        other => panic!("expected HTTP entries, got {other:?}"),
    }
}

/// Both decodings of every entry give the same record (or the same reject reason).
fn check_same(entries: Vec<HttpAccessLogEntry>) {
    let ident = ident();
    let msg = StreamAccessLogsMessage {
        identifier: Some(LogIdentifier {
            node: Some(Node {
                id: "envoy-1".into(),
                cluster: "edge".into(),
                locality: Some(Locality {
                    region: "eu".into(),
                    ..Default::default()
                }),
                user_agent_name: "envoy".into(),
                client_features: vec!["a".into(), "b".into()],
                ..Default::default()
            }),
            log_name: "picket".into(),
        }),
        log_entries: Some(LogEntries::HttpLogs(HttpAccessLogEntries {
            log_entry: entries.clone(),
        })),
    };
    let got = http_entries(decode(&msg));
    assert_eq!(got.len(), entries.len());
    for (theirs, ours) in entries.iter().zip(&got) {
        assert_eq!(
            super::convert(ours, "default", &ident),
            convert_envoy(theirs, "default", &ident),
            "{theirs:?}"
        );
    }
}

#[test]
fn fully_populated_entries_convert_as_before() {
    let entries = vec![
        full_entry(
            full_common(1_795_219_200, socket("81.2.69.50")),
            full_request(&[
                ("Authorization", "Bearer abc"),
                ("cookie", "s=1"),
                ("x-forwarded-for", "203.0.113.9"),
                ("x-other", "y"),
            ]),
        ),
        full_entry(
            full_common(1_795_219_201, socket("10.0.0.7")),
            full_request(&[
                ("X-Api-Key", "key-1"),
                ("x-forwarded-for", "203.0.113.9"),
                ("Content-Type", "application/soap+xml; charset=utf-8"),
            ]),
        ),
    ];
    check_same(entries.clone());
    // And the record is what it should be, not merely what it was.
    let ours = http_entries(decode(&StreamAccessLogsMessage {
        identifier: None,
        log_entries: Some(LogEntries::HttpLogs(HttpAccessLogEntries {
            log_entry: entries,
        })),
    }));
    let rec = super::convert(&ours[1], "default", &ident()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rec.ts_ms, 1_795_219_201_123);
    assert_eq!(
        (rec.method.as_str(), rec.host.as_str()),
        ("POST", "api.example.com")
    );
    assert_eq!(rec.target, "/api/v1/users/42?expand=1");
    assert_eq!(
        (rec.status, rec.request_bytes, rec.response_bytes),
        (404, 320, 1234)
    );
    assert_eq!(rec.latency_us, 7_000);
    assert_eq!(
        rec.client_ip,
        Some("203.0.113.9".parse().unwrap_or_else(|e| panic!("{e}")))
    );
    assert_eq!(rec.auth, crate::identity::AuthScheme::ApiKey);
    assert_eq!(rec.agent, Some("scanner:sqlmap"));
    assert_eq!(rec.scheme, Some(Scheme::Https));
    assert_eq!(rec.content_type, Some("xml"));
}

#[test]
fn tcp_entries_are_counted_undecoded() {
    let tcp = TcpAccessLogEntry {
        common_properties: Some(full_common(1, socket("81.2.69.50"))),
        connection_properties: Some(ConnectionProperties {
            received_bytes: 1,
            sent_bytes: 2,
        }),
    };
    let msg = StreamAccessLogsMessage {
        identifier: None,
        log_entries: Some(LogEntries::TcpLogs(TcpAccessLogEntries {
            log_entry: vec![tcp.clone(), TcpAccessLogEntry::default(), tcp],
        })),
    };
    match decode(&msg).log_entries {
        Some(wire::LogEntries::TcpLogs(t)) => assert_eq!(t.log_entry.len(), 3),
        other => panic!("expected TCP entries, got {other:?}"),
    }
    let empty = StreamAccessLogsMessage::default();
    assert_eq!(decode(&empty).log_entries, None);
}

#[test]
fn invalid_utf8_rejects_only_entries_that_use_it() {
    // Envoy's schema says string; the trimmed types read text lazily. A field the sensor does
    // not read (`referer` = 7) may hold anything; a field it reads must be UTF-8.
    let entry = |field: u8| {
        let mut req = wire::HttpRequestProperties {
            request_method: 1,
            path: bytes::Bytes::from_static(b"/a"),
            ..Default::default()
        }
        .encode_to_vec();
        req.extend([(field << 3) | 2, 1, 0xff]);
        let mut out = wire::HttpAccessLogEntry {
            common_properties: Some(wire::AccessLogCommon::default()),
            ..Default::default()
        }
        .encode_to_vec();
        out.push((3 << 3) | 2);
        out.push(u8::try_from(req.len()).unwrap_or_else(|e| panic!("{e}")));
        out.extend(req);
        wire::HttpAccessLogEntry::decode(out.as_slice()).unwrap_or_else(|e| panic!("{e}"))
    };
    let ident = ident();
    assert!(super::convert(&entry(7), "d", &ident).is_ok());
    // A Content-Type that is not UTF-8 is an unknown media type, the request kept.
    let header = |value: &'static [u8]| {
        let mut e = entry(7);
        if let Some(r) = e.request.as_mut() {
            r.request_headers.push(wire::HeaderEntry {
                key: bytes::Bytes::from_static(b"content-type"),
                value: bytes::Bytes::from_static(value),
            });
        }
        super::convert(&e, "d", &ident).map(|r| r.content_type)
    };
    assert_eq!(header(b"application/\xffjson"), Ok(Some("other")));
    assert_eq!(header(b"Application/JSON"), Ok(Some("json")));
    for field in [3, 5, 6] {
        assert_eq!(
            super::convert(&entry(field), "d", &ident),
            Err("als_bad_utf8"),
            "field {field}"
        );
    }
}

#[test]
fn method_numbers() {
    assert_eq!(wire::method_name(0), None);
    assert_eq!(wire::method_name(-1), None);
    assert_eq!(wire::method_name(10), None);
    for n in 1..=9 {
        let m = RequestMethod::try_from(n).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wire::method_name(n), Some(m.as_str_name()));
    }
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_owned)
}

/// Headers with one spelling per name: of two spellings of a name in Envoy's map, the old
/// lookup found whichever its hash map listed first, which no test can pin down.
fn distinct_names(headers: Vec<(String, String)>) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for (k, v) in headers {
        if !out.keys().any(|o: &String| o.eq_ignore_ascii_case(&k)) {
            out.insert(k, v);
        }
    }
    out
}

fn arb_request() -> impl Strategy<Value = HttpRequestProperties> {
    let names = &[
        "authorization",
        "Authorization",
        "x-api-key",
        "X-API-KEY",
        "cookie",
        "x-forwarded-for",
        "x-other",
        "Content-Type",
    ];
    let values = &[
        "Bearer a.b.c",
        "Basic YWxpY2U6cw==",
        "k1",
        "",
        "203.0.113.9, 10.0.0.1",
        "application/json; charset=utf-8",
    ];
    (
        (0..11i32, pick(&["https", "http", "", "HTTPS", "ftp"])),
        pick(&[
            "api.example.com",
            "API.example.com:443",
            "h:80",
            "",
            "-",
            "[::1]:8080",
        ]),
        pick(&["/a/1", "/a?b=1", "", "http://x/y", "*", "junk", " /sp "]),
        pick(&["", "/orig/2", "bad"]),
        pick(&["", "curl/8", "() { :;}; /bin/bash", "Mozilla/5.0"]),
        pick(&["", "198.51.100.4", "junk"]),
        prop::collection::vec((pick(names), pick(values)), 0..5),
        (any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |((method, scheme), authority, path, original_path, ua, xff, headers, sizes)| {
                HttpRequestProperties {
                    request_method: method,
                    scheme,
                    authority,
                    path,
                    original_path,
                    user_agent: ua,
                    forwarded_for: xff,
                    request_headers: distinct_names(headers),
                    request_headers_bytes: sizes.0,
                    request_body_bytes: sizes.1,
                    ..full_request(&[])
                }
            },
        )
}

fn arb_entry() -> impl Strategy<Value = HttpAccessLogEntry> {
    let peer = prop_oneof![
        Just(None),
        pick(&[
            "81.2.69.50",
            "10.0.0.7",
            "2001:db8::1",
            "[2001:db8::2]:80",
            "x"
        ])
        .prop_map(|a| socket(&a)),
        Just(Some(Address {
            address: Some(address::Address::Pipe(Pipe::default())),
        })),
    ];
    (
        any::<bool>(),
        (0i64..4_000_000_000, any::<i32>(), peer),
        (prop::option::of(0..5_000i32), prop::option::of(0..5_000i32)),
        prop::option::of(arb_request()),
        prop::option::of((prop::option::of(any::<u32>()), any::<u64>())),
    )
        .prop_map(
            |(has_common, (s, nanos, peer), (last_tx, dur), req, resp)| {
                let mut common = full_common(s, peer);
                common.start_time = Some(Timestamp { seconds: s, nanos });
                common.time_to_last_downstream_tx_byte = last_tx.and_then(duration);
                common.duration = dur.and_then(duration);
                let mut e = full_entry(common, req.unwrap_or_default());
                if !has_common {
                    e.common_properties = None;
                }
                if let Some(r) = e.response.as_mut() {
                    match resp {
                        Some((code, body)) => {
                            r.response_code = code.map(|value| UInt32Value { value });
                            r.response_body_bytes = body;
                        }
                        None => e.response = None,
                    }
                }
                e
            },
        )
}

proptest! {
    #[test]
    fn any_entry_converts_as_before(entries in prop::collection::vec(arb_entry(), 1..8)) {
        check_same(entries);
    }
}
