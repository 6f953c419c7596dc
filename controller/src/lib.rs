//! Picket controller: ingests sensor batches, keeps the API inventory in sled, meters API calls
//! against plan entitlements, hosts threat analysis (`picket-detect`) exactly once per
//! committed batch, and answers inventory, alerts, fleet, usage and admin RPCs.
//!
//! Layers: `grpc` (the only tonic-aware code) → `inventory`, `metering`, `auth`, `analysis`
//! (domain logic) → `store` (`Db` over the `Store` trait: sled in production, memory in unit tests).

pub mod analysis;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod export;
pub mod grpc;
pub mod inventory;
pub mod limits;
pub mod maintenance;
pub mod metering;
pub mod metrics;
pub mod posture;
pub mod server;
pub mod specs;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod validation;

pub use config::ControllerConfig;
pub use server::{Controller, start, start_with_clock};
