//! Generates the tonic server of Envoy's `envoy.service.accesslog.v3.AccessLogService` for the
//! sensor's own trimmed message types (`sources/als/wire.rs`), so the route stays
//! `/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs` while prost decodes only the
//! fields the sensor reads (through `wire::AlsCodec`). No `.proto` file and no `protoc` are
//! involved.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let wire = "crate::sources::als::wire";
    let service = tonic_prost_build::manual::Service::builder()
        .name("AccessLogService")
        .package("envoy.service.accesslog.v3")
        .method(
            tonic_prost_build::manual::Method::builder()
                .name("stream_access_logs")
                .route_name("StreamAccessLogs")
                .input_type(format!("{wire}::StreamAccessLogsMessage"))
                .output_type(format!("{wire}::StreamAccessLogsResponse"))
                .codec_path(format!("{wire}::AlsCodec"))
                .client_streaming()
                .build(),
        )
        .build();
    tonic_prost_build::manual::Builder::new()
        .build_client(false)
        .compile(&[service]);
}
