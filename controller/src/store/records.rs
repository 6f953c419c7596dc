//! Stored records (serialized as JSON: compact enough, and readable when debugging a store).

use picket_shared::{EndpointSummary, Role, SensorCounters, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most sensor names remembered per endpoint.
pub const MAX_SENSORS_PER_ENDPOINT: usize = 64;

// Lifetime caps on the maps of an endpoint's summary. A batch's summary is bounded by the wire
// limits (`picket_shared::limits`), but the lifetime record merges the keys of every batch, so
// a sensor sending new keys each time would grow it without end. New keys beyond a cap are
// left out (their counts too) and counted in `EndpointRecord::keys_overflow`; keys already
// held keep counting. Histograms need no cap: their buckets are bounded by
// `MAX_HISTOGRAM_BUCKET_EXCLUSIVE`; parameters are capped by `MAX_PARAMS_PER_ENDPOINT`.

/// Most status codes kept per endpoint.
pub const MAX_STATUSES_PER_ENDPOINT: usize = 64;
/// Most authentication schemes kept per endpoint.
pub const MAX_AUTH_SCHEMES_PER_ENDPOINT: usize = picket_shared::limits::MAX_AUTH_SCHEMES;
/// Most sensitive-data keys (`location:class`) kept per endpoint.
pub const MAX_SENSITIVE_PER_ENDPOINT: usize = picket_shared::limits::MAX_SENSITIVE_KEYS;
/// Most suspicious-agent labels kept per endpoint.
pub const MAX_AGENTS_PER_ENDPOINT: usize = picket_shared::limits::MAX_AGENT_KEYS;
/// Most injection keys (`location:rule`) kept per endpoint.
pub const MAX_INJECTIONS_PER_ENDPOINT: usize = 128;
/// Most request media-type labels kept per endpoint.
pub const MAX_CONTENT_TYPES_PER_ENDPOINT: usize = 32;

/// How many keys of `new` absent from `have` do not fit under `cap`.
fn excess<K: Ord, A, B>(have: &BTreeMap<K, A>, new: &BTreeMap<K, B>, cap: usize) -> usize {
    let fresh = new.keys().filter(|k| !have.contains_key(k)).count();
    fresh.saturating_sub(cap.saturating_sub(have.len()))
}

/// Removes from `new` the keys absent from `have` that do not fit under `cap` (the first ones
/// in key order stay, so the outcome is deterministic).
fn trim<K: Ord + Clone, A, B>(have: &BTreeMap<K, A>, new: &mut BTreeMap<K, B>, cap: usize) {
    let mut room = cap.saturating_sub(have.len());
    new.retain(|k, _| {
        if have.contains_key(k) {
            return true;
        }
        let keep = room > 0;
        room = room.saturating_sub(1);
        keep
    });
}

/// Keys of `new` a lifetime summary `have` cannot take under the caps.
fn summary_excess(have: &EndpointSummary, new: &EndpointSummary) -> usize {
    excess(&have.statuses, &new.statuses, MAX_STATUSES_PER_ENDPOINT)
        + excess(
            &have.auth_schemes,
            &new.auth_schemes,
            MAX_AUTH_SCHEMES_PER_ENDPOINT,
        )
        + excess(&have.sensitive, &new.sensitive, MAX_SENSITIVE_PER_ENDPOINT)
        + excess(
            &have.suspicious_agents,
            &new.suspicious_agents,
            MAX_AGENTS_PER_ENDPOINT,
        )
        + excess(
            &have.injections,
            &new.injections,
            MAX_INJECTIONS_PER_ENDPOINT,
        )
        + excess(
            &have.request_content_types,
            &new.request_content_types,
            MAX_CONTENT_TYPES_PER_ENDPOINT,
        )
        + excess(
            &have.params,
            &new.params,
            picket_shared::limits::MAX_PARAMS_PER_ENDPOINT,
        )
}

/// Merges `new` into the lifetime summary `have` within the caps; returns how many keys were
/// left out.
fn merge_capped(have: &mut EndpointSummary, new: &EndpointSummary) -> u64 {
    let over = summary_excess(have, new);
    if over == 0 {
        have.merge(new);
        return 0;
    }
    let mut t = new.clone();
    trim(&have.statuses, &mut t.statuses, MAX_STATUSES_PER_ENDPOINT);
    trim(
        &have.auth_schemes,
        &mut t.auth_schemes,
        MAX_AUTH_SCHEMES_PER_ENDPOINT,
    );
    trim(
        &have.sensitive,
        &mut t.sensitive,
        MAX_SENSITIVE_PER_ENDPOINT,
    );
    trim(
        &have.suspicious_agents,
        &mut t.suspicious_agents,
        MAX_AGENTS_PER_ENDPOINT,
    );
    trim(
        &have.injections,
        &mut t.injections,
        MAX_INJECTIONS_PER_ENDPOINT,
    );
    trim(
        &have.request_content_types,
        &mut t.request_content_types,
        MAX_CONTENT_TYPES_PER_ENDPOINT,
    );
    trim(
        &have.params,
        &mut t.params,
        picket_shared::limits::MAX_PARAMS_PER_ENDPOINT,
    );
    have.merge(&t);
    over as u64
}

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
    /// Map keys and sensor names left out at the lifetime caps (`MAX_*_PER_ENDPOINT`).
    #[serde(default)]
    pub keys_overflow: u64,
}

impl EndpointRecord {
    /// Folds one batch's summary from `sensor` into the record; `window_ms` is the width of
    /// the summary's event-time window. Returns how many keys the caps left out (also added
    /// to `keys_overflow`).
    pub fn absorb(&mut self, summary: &EndpointSummary, sensor: &str, window_ms: u32) -> u64 {
        if summary.requests > 0 {
            let ev = super::evidence::Evidence::of(summary, window_ms);
            self.evidence.add_at(summary.last_seen_ms, &ev);
        }
        let mut over = merge_capped(&mut self.summary, summary);
        if self.sensors.len() < MAX_SENSORS_PER_ENDPOINT || self.sensors.contains(sensor) {
            self.sensors.insert(sensor.to_owned());
        } else {
            over += 1;
        }
        self.keys_overflow = self.keys_overflow.saturating_add(over);
        over
    }

    /// Folds another record of the same endpoint (learned under another name) into this one.
    pub fn fold(&mut self, other: &EndpointRecord) {
        let mut over = merge_capped(&mut self.summary, &other.summary);
        self.evidence.fold(&other.evidence);
        for s in &other.sensors {
            if self.sensors.len() < MAX_SENSORS_PER_ENDPOINT || self.sensors.contains(s) {
                self.sensors.insert(s.clone());
            } else {
                over += 1;
            }
        }
        self.keys_overflow = self
            .keys_overflow
            .saturating_add(other.keys_overflow)
            .saturating_add(over);
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
