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
    /// Invalid fields, map entries and list items validation dropped from this sensor's
    /// committed batches (their summaries were kept).
    #[serde(default)]
    pub fields_dropped: u64,
}

/// An endpoint's lifetime aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub summary: EndpointSummary,
    /// Sensors that saw the endpoint (at most [`MAX_SENSORS_PER_ENDPOINT`]).
    pub sensors: BTreeSet<String>,
    /// The posture's evidence from the endpoint's newest traffic (records written before it
    /// existed have none; the posture then judges the lifetime summary).
    #[serde(default)]
    pub evidence: super::evidence::EvidenceWindow,
}

impl EndpointRecord {
    /// Folds one batch's summary from `sensor` into the record; `window_ms` is the width of
    /// the summary's event-time window.
    pub fn absorb(&mut self, summary: &EndpointSummary, sensor: &str, window_ms: u32) {
        if summary.requests > 0 {
            let ev = super::evidence::Evidence::of(summary, window_ms);
            self.evidence.add_at(summary.last_seen_ms, &ev);
        }
        self.summary.merge(summary);
        if self.sensors.len() < MAX_SENSORS_PER_ENDPOINT || self.sensors.contains(sensor) {
            self.sensors.insert(sensor.to_owned());
        }
    }

    /// Folds another record of the same endpoint (learned under another name) into this one.
    pub fn fold(&mut self, other: &EndpointRecord) {
        self.summary.merge(&other.summary);
        self.evidence.fold(&other.evidence);
        for s in &other.sensors {
            if self.sensors.len() >= MAX_SENSORS_PER_ENDPOINT {
                break;
            }
            self.sensors.insert(s.clone());
        }
    }

    /// What the posture judges: the evidence window, or for a record written before it
    /// existed, the lifetime summary.
    pub fn posture_evidence(&self) -> super::evidence::Evidence {
        let recent = self.evidence.total();
        if recent.requests > 0 || self.summary.requests == 0 {
            return recent;
        }
        super::evidence::Evidence::of(&self.summary, 1)
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
