//! Picket sensor: reads gateway traffic (nginx access logs, Envoy ALS, mirrored requests,
//! recordings), normalizes each request, folds requests into per-endpoint summaries and streams
//! them to the controller.
//!
//! Pipeline: sources → bounded chunk channel → aggregator → outbox → delivery stream.
//! The sensor never touches sled and never sends a raw request value.

pub mod aggregate;
pub mod checkpoint;
pub mod classify;
pub mod config;
pub mod delivery;
pub mod grpc;
pub mod identity;
pub mod metrics;
mod pipeline;
pub mod record;
mod run;
pub mod sources;
pub mod stats;
pub mod telemetry;

pub use run::{Sensor, StartError};
