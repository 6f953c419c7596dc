//! The part of Envoy's ALS wire format the sensor reads, as hand-written prost messages.
//!
//! Each message keeps the field numbers of its Envoy counterpart (`envoy.service.accesslog.v3`,
//! `envoy.data.accesslog.v3`, `envoy.config.core.v3`, checked against the `envoy-types` crate)
//! but declares only the fields [`super::convert`] reads; prost skips every other field
//! without building it. Strings are kept as [`Bytes`] slices of the received frame (no copy,
//! no allocation) and checked for UTF-8 only when read, and the request-header map is a list
//! of entries rather than a hash map. A test decodes fully populated `envoy-types` messages
//! with these types to keep the two in step.

use bytes::{Buf, Bytes};
use prost::Message;
use prost_types::{Duration, Timestamp};
use tonic::codec::{Codec, DecodeBuf, Decoder};

/// `envoy.service.accesslog.v3.StreamAccessLogsMessage` (`identifier` = 1 is skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAccessLogsMessage {
    #[prost(oneof = "LogEntries", tags = "2, 3")]
    pub log_entries: Option<LogEntries>,
}

/// `StreamAccessLogsMessage.log_entries`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum LogEntries {
    #[prost(message, tag = "2")]
    HttpLogs(HttpAccessLogEntries),
    #[prost(message, tag = "3")]
    TcpLogs(TcpAccessLogEntries),
}

/// `StreamAccessLogsMessage.HTTPAccessLogEntries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpAccessLogEntries {
    #[prost(message, repeated, tag = "1")]
    pub log_entry: Vec<HttpAccessLogEntry>,
}

/// `StreamAccessLogsMessage.TCPAccessLogEntries`: TCP entries are only counted, so each stays
/// an undecoded slice.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TcpAccessLogEntries {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub log_entry: Vec<Bytes>,
}

/// `envoy.service.accesslog.v3.StreamAccessLogsResponse` (empty).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAccessLogsResponse {}

/// `envoy.data.accesslog.v3.HTTPAccessLogEntry` (`protocol_version` = 2 is skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpAccessLogEntry {
    #[prost(message, optional, tag = "1")]
    pub common_properties: Option<AccessLogCommon>,
    #[prost(message, optional, tag = "3")]
    pub request: Option<HttpRequestProperties>,
    #[prost(message, optional, tag = "4")]
    pub response: Option<HttpResponseProperties>,
}

/// `envoy.data.accesslog.v3.AccessLogCommon`: 5 of its 33 fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AccessLogCommon {
    #[prost(message, optional, tag = "2")]
    pub downstream_remote_address: Option<Address>,
    #[prost(message, optional, tag = "5")]
    pub start_time: Option<Timestamp>,
    #[prost(message, optional, tag = "12")]
    pub time_to_last_downstream_tx_byte: Option<Duration>,
    #[prost(message, optional, tag = "23")]
    pub duration: Option<Duration>,
}

/// `envoy.config.core.v3.Address`. The other two kinds stay undecoded; they are declared so
/// that, as in the oneof, the last address kind on the wire wins.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Address {
    #[prost(oneof = "AddressKind", tags = "1, 2, 3")]
    pub address: Option<AddressKind>,
}

/// `envoy.config.core.v3.Address.address`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum AddressKind {
    #[prost(message, tag = "1")]
    SocketAddress(SocketAddress),
    #[prost(bytes = "bytes", tag = "2")]
    Pipe(Bytes),
    #[prost(bytes = "bytes", tag = "3")]
    EnvoyInternalAddress(Bytes),
}

/// `envoy.config.core.v3.SocketAddress`: only the address (a string on the wire).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SocketAddress {
    #[prost(bytes = "bytes", tag = "2")]
    pub address: Bytes,
}

/// `envoy.data.accesslog.v3.HTTPRequestProperties`; string fields are `Bytes`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRequestProperties {
    /// `envoy.config.core.v3.RequestMethod`.
    #[prost(int32, tag = "1")]
    pub request_method: i32,
    #[prost(bytes = "bytes", tag = "2")]
    pub scheme: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub authority: Bytes,
    #[prost(bytes = "bytes", tag = "5")]
    pub path: Bytes,
    #[prost(bytes = "bytes", tag = "6")]
    pub user_agent: Bytes,
    #[prost(bytes = "bytes", tag = "8")]
    pub forwarded_for: Bytes,
    #[prost(bytes = "bytes", tag = "10")]
    pub original_path: Bytes,
    #[prost(uint64, tag = "11")]
    pub request_headers_bytes: u64,
    #[prost(uint64, tag = "12")]
    pub request_body_bytes: u64,
    /// `map<string, string> request_headers`: a map is a repeated entry message on the wire.
    #[prost(message, repeated, tag = "13")]
    pub request_headers: Vec<HeaderEntry>,
}

/// One entry of a `map<string, string>`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderEntry {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `envoy.data.accesslog.v3.HTTPResponseProperties`: 2 of its 8 fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpResponseProperties {
    #[prost(message, optional, tag = "1")]
    pub response_code: Option<UInt32Value>,
    #[prost(uint64, tag = "3")]
    pub response_body_bytes: u64,
}

/// `google.protobuf.UInt32Value`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct UInt32Value {
    #[prost(uint32, tag = "1")]
    pub value: u32,
}

/// `envoy.config.core.v3.RequestMethod` names by number (0, `METHOD_UNSPECIFIED`, is none).
pub fn method_name(number: i32) -> Option<&'static str> {
    const NAMES: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    let i = usize::try_from(number).ok()?.checked_sub(1)?;
    NAMES.get(i).copied()
}

/// The ALS server's codec: prost both ways, but each request message is first taken out of
/// tonic's frame buffer as one [`Bytes`] (a reference, no copy) and decoded from that. prost
/// reads a `Bytes` much faster than tonic's `DecodeBuf` (whose every varint advance goes
/// through `BytesMut`'s bookkeeping), and string fields still come out as shared slices.
#[derive(Debug, Default, Clone, Copy)]
pub struct AlsCodec;

impl Codec for AlsCodec {
    type Encode = StreamAccessLogsResponse;
    type Decode = StreamAccessLogsMessage;
    type Encoder = tonic_prost::ProstEncoder<StreamAccessLogsResponse>;
    type Decoder = AlsDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        AlsDecoder
    }
}

/// Decodes one [`StreamAccessLogsMessage`] from a whole gRPC frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct AlsDecoder;

impl Decoder for AlsDecoder {
    type Item = StreamAccessLogsMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let frame = src.copy_to_bytes(src.remaining());
        StreamAccessLogsMessage::decode(frame)
            .map(Some)
            // As tonic's prost codec reports it.
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// The generated server (see `build.rs`) over the types above.
#[allow(clippy::default_constructed_unit_structs)] // it builds the codec with `default()`
mod generated {
    include!(concat!(
        env!("OUT_DIR"),
        "/envoy.service.accesslog.v3.AccessLogService.rs"
    ));
}
pub use generated::access_log_service_server;
