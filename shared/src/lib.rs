//! Domain types and pure logic that both the sensor and the controller need.
//!
//! This crate knows nothing of transport (no tonic, no prost) and nothing of storage (no sled):
//! it holds identifiers, the traffic-summary model, the wire limits both sides enforce, endpoint
//! templating, the classifiers and roles.

pub mod agents;
pub mod ids;
pub mod inject;
pub mod learn;
pub mod limits;
pub mod media;
pub mod net;
pub mod params;
pub mod role;
pub mod sensitive;
pub mod shape;
pub mod sketch;
pub mod summary;
pub mod template;
pub mod time;
pub mod versioned;

pub use ids::{IdError, SensorId, TenantId};
pub use role::Role;
pub use summary::{
    ActorSummary, BatchSummary, ClientActivity, EndpointKey, EndpointSummary, NotableEvent,
    NotableKind, ParamStats, SensorCounters, SourceCounters,
};
