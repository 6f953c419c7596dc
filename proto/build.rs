//! Compiles `picket/v1/*.proto` with protox (pure Rust) so no system `protoc` is needed.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "picket/v1/common.proto",
    "picket/v1/ingest.proto",
    "picket/v1/inventory.proto",
    "picket/v1/fleet.proto",
    "picket/v1/admin.proto",
    "picket/v1/usage.proto",
    "picket/v1/alerts.proto",
    "picket/v1/specs.proto",
    "picket/v1/posture.proto",
    "picket/v1/webhooks.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // The encoded descriptor set feeds gRPC server reflection.
    std::fs::write(
        out.join("picket_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
