//! Support for Picket's end-to-end tests: start the real `picket-controller` and
//! `picket-sensor` binaries on ephemeral ports, wait for their readiness lines, and talk to
//! them with real gRPC clients.
//!
//! The binaries are found next to the test executable's directory (`target/<profile>/`);
//! `cargo test --workspace` builds them before any test runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod client;
mod logs;
mod procs;
mod prom;
mod raw;
mod receiver;
mod stack;
pub mod traffic;

pub use alerts::*;
pub use client::*;
pub use logs::*;
pub use procs::*;
pub use prom::*;
pub use raw::*;
pub use receiver::*;
pub use stack::*;
