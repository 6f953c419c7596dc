//! Picket's gRPC wire contract, package `picket.v1`.
//!
//! Only the `grpc` modules of the sensor and controller (and the tests) use these types;
//! everything behind them works on domain types from `picket-shared`.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Generated messages and services of `picket.v1`.
pub mod v1 {
    tonic::include_proto!("picket.v1");
}

pub mod encode;
pub mod json;

/// Encoded `FileDescriptorSet` of every `picket.v1` file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/picket_descriptor.bin"));
