//! Stored records (serialized as JSON: compact enough, and readable when debugging a store).

use picket_shared::{EndpointSummary, Role, SensorCounters, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most sensor names remembered per endpoint.
pub const MAX_SENSORS_PER_ENDPOINT: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: TenantId,
    pub created_ms: i64,
}

/// A bearer token's metadata; only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub tenant: TenantId,
    pub role: Role,
    pub description: String,
    pub created_ms: i64,
    /// 0 while valid.
    pub revoked_ms: i64,
    pub installation_admin: bool,
    /// Hex SHA-256 of the whole bearer string.
    pub secret_sha256: String,
    /// When the token stops working, in ms since the epoch; 0: never.
    #[serde(default)]
    pub expires_ms: i64,
    /// When the secret was last rotated (0: never).
    #[serde(default)]
    pub rotated_ms: i64,
    /// Hex SHA-256 of the secret replaced by the last rotation, accepted until
    /// `previous_valid_until_ms`; empty when there is none.
    #[serde(default)]
    pub previous_sha256: String,
    #[serde(default)]
    pub previous_valid_until_ms: i64,
}

/// A notable event as stored: the event and the sensor that saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotableRecord {
    pub sensor_id: String,
    pub event: picket_shared::NotableEvent,
}

/// What the controller knows of a sensor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorRecord {
    pub sensor_id: String,
    pub version: String,
    pub sources: Vec<String>,
    pub hostname: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub stream_epoch: u64,
    pub committed_seq: u64,
    pub counters: SensorCounters,
    pub requests_committed: u64,
}

/// An endpoint's lifetime aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub summary: EndpointSummary,
    /// Sensors that saw the endpoint (at most [`MAX_SENSORS_PER_ENDPOINT`]).
    pub sensors: BTreeSet<String>,
}

impl EndpointRecord {
    /// Folds one batch's summary from `sensor` into the record.
    pub fn absorb(&mut self, summary: &EndpointSummary, sensor: &str) {
        self.summary.merge(summary);
        if self.sensors.len() < MAX_SENSORS_PER_ENDPOINT || self.sensors.contains(sensor) {
            self.sensors.insert(sensor.to_owned());
        }
    }
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs (string keys, no maps with non-string keys besides
    // integer status codes, which serde_json writes as strings) cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

pub fn decode<T: for<'de> Deserialize<'de>>(tree: super::Tree, raw: &[u8]) -> super::Result<T> {
    serde_json::from_slice(raw).map_err(|e| super::StoreError::Corrupt {
        tree: tree.name(),
        detail: e.to_string(),
    })
}
