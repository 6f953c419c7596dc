//! Key layouts. Every tenant-scoped key starts with `tenant 0x00`, so a tenant's records are
//! one contiguous range and no scan can cross into another tenant.

use picket_shared::{EndpointKey, SensorId, TenantId};

pub const SEP: u8 = 0;

/// `tenant 0`: the prefix of all of a tenant's records in a tenant-scoped tree.
pub fn tenant_prefix(tenant: &TenantId) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.as_str().len() + 1);
    k.extend_from_slice(tenant.as_str().as_bytes());
    k.push(SEP);
    k
}

/// `tenant 0 host 0`: all endpoints of one host.
pub fn host_prefix(tenant: &TenantId, host: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(host.as_bytes());
    k.push(SEP);
    k
}

/// `tenant 0 host 0 method 0 template`.
pub fn endpoint(tenant: &TenantId, key: &EndpointKey) -> Vec<u8> {
    let mut k = host_prefix(tenant, &key.host);
    k.extend_from_slice(key.method.as_bytes());
    k.push(SEP);
    k.extend_from_slice(key.template.as_bytes());
    k
}

/// Inverse of [`endpoint`] for the part after the tenant prefix.
pub fn parse_endpoint_suffix(suffix: &[u8]) -> Option<EndpointKey> {
    let mut parts = suffix.splitn(3, |b| *b == SEP);
    let host = std::str::from_utf8(parts.next()?).ok()?;
    let method = std::str::from_utf8(parts.next()?).ok()?;
    let template = std::str::from_utf8(parts.next()?).ok()?;
    Some(EndpointKey {
        host: host.into(),
        method: method.into(),
        template: template.into(),
    })
}

/// `tenant 0 sensor`.
pub fn sensor(tenant: &TenantId, sensor: &SensorId) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(sensor.as_str().as_bytes());
    k
}

/// `tenant 0 sensor 0 epoch(be64)`.
pub fn watermark(tenant: &TenantId, sensor_id: &SensorId, epoch: u64) -> Vec<u8> {
    let mut k = sensor(tenant, sensor_id);
    k.push(SEP);
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

/// An `i64` as 8 bytes that sort like the numbers (sign bit flipped, big-endian).
pub fn sortable_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// `tenant 0 cycle_start`: one cycle's usage.
pub fn cycle_usage(tenant: &TenantId, cycle_start_ms: i64) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&sortable_i64(cycle_start_ms));
    k
}

/// `tenant 0 day`: one day's usage.
pub fn day_usage(tenant: &TenantId, day: i64) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&sortable_i64(day));
    k
}

/// `tenant 0 cycle_start pct`: one budget notification.
pub fn notification(tenant: &TenantId, cycle_start_ms: i64, pct: u32) -> Vec<u8> {
    let mut k = cycle_usage(tenant, cycle_start_ms);
    k.extend_from_slice(&pct.to_be_bytes());
    k
}

/// `tenant 0 ts_ms sensor 0 epoch seq index`: one notable event, in event-time order, unique
/// per batch position so a replayed batch writes nothing new.
pub fn notable(
    tenant: &TenantId,
    ts_ms: i64,
    sensor: &SensorId,
    epoch: u64,
    seq: u64,
    index: u32,
) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&sortable_i64(ts_ms));
    k.extend_from_slice(sensor.as_str().as_bytes());
    k.push(SEP);
    k.extend_from_slice(&epoch.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// `tenant 0 ts_ms`: where a tenant's notable events from `ts_ms` on start.
pub fn notables_from(tenant: &TenantId, ts_ms: i64) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&sortable_i64(ts_ms));
    k
}

/// Decodes the 8 bytes after the tenant prefix written by [`sortable_i64`].
pub fn read_sortable_i64(suffix: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = suffix.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

// --- analysis and alerts ---------------------------------------------------------------

/// `meta` key: the sequence of the newest entry appended to `analysis_log` (be64).
pub const META_ANALYSIS_APPENDED: &[u8] = b"analysis.appended";
/// `meta` key: the sequence of the newest `analysis_log` entry analyzed (be64).
pub const META_ANALYSIS_DONE: &[u8] = b"analysis.done";

/// `meta` key `tenant 0 alert_log.last`: the tenant's newest alert-log cursor (be64). Global
/// `meta` keys hold no 0 byte, so they never collide with a tenant's.
pub fn meta_alert_log_last(tenant: &TenantId) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(b"alert_log.last");
    k
}

/// `meta` key `tenant 0 alert_log.purged`: the newest alert-log cursor retention removed
/// (be64); the oldest cursor kept is one more.
pub fn meta_alert_log_purged(tenant: &TenantId) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(b"alert_log.purged");
    k
}

/// `detect_state` key: the analysis-log sequence (be64) the stored engine state reflects (a
/// checkpoint). Tenant keys hold a 0 byte, so they never collide with it.
pub const DETECT_CHECKPOINT: &[u8] = b"checkpoint";

/// `detect_state` key `incidents.<tenant>`: the tenant's incident-correlator state at the
/// checkpoint. It holds no 0 byte, so it never collides with a tenant's engine keys (and no
/// engine restore reads it).
pub fn incident_state(tenant: &TenantId) -> Vec<u8> {
    let mut k = b"incidents.".to_vec();
    k.extend_from_slice(tenant.as_str().as_bytes());
    k
}

/// `analysis_log` key: the global sequence (be64).
pub fn analysis_log(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// `tenant 0 engine key`: one detection-state record.
pub fn detect_state(tenant: &TenantId, key: &[u8]) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(key);
    k
}

/// `tenant 0 id`: an alert's pointer, or a suppression rule.
pub fn by_id(tenant: &TenantId, id: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(id.as_bytes());
    k
}

/// An `i64` as 8 bytes that sort in the opposite order of the numbers (newest first).
pub fn descending_i64(v: i64) -> [u8; 8] {
    sortable_i64(v).map(|b| !b)
}

/// `tenant 0 last_seen(descending) id`: an alert in newest-first order.
pub fn alert_by_time(tenant: &TenantId, last_seen_ms: i64, id: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&descending_i64(last_seen_ms));
    k.extend_from_slice(id.as_bytes());
    k
}

/// A scan position in `alerts_by_time` after every alert last seen at or after `ms` (alert ids
/// are printable, so no key of that time sorts above `0xff`).
pub fn alerts_older_than(tenant: &TenantId, ms: i64) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&descending_i64(ms));
    k.push(0xff);
    k
}

/// Decodes the last-seen time of an `alerts_by_time` key suffix.
pub fn read_descending_i64(suffix: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = suffix.get(..8)?.try_into().ok()?;
    read_sortable_i64(&raw.map(|b| !b))
}

/// `tenant 0 cursor(be64)`: one alert-log entry.
pub fn alert_log(tenant: &TenantId, cursor: u64) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&cursor.to_be_bytes());
    k
}

// --- onboarding and posture ------------------------------------------------------------

/// `apis` key `tenant 0 host`: one API's onboarding record.
pub fn api(tenant: &TenantId, host: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(host.as_bytes());
    k
}

/// `meta` key `tenant 0 apis.auto_onboard`: the tenant's auto-onboarding setting (one byte,
/// 0 or 1; absent means the default, on).
pub fn meta_auto_onboard(tenant: &TenantId) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(b"apis.auto_onboard");
    k
}

/// `meta` key `tenant 0 watermarks.prune_cursor`: the watermark key the last pruning pass
/// stopped at (absent: the next pass starts at the tenant's first).
pub fn meta_watermark_cursor(tenant: &TenantId) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(b"watermarks.prune_cursor");
    k
}

#[cfg(test)]
mod tests {
    #[test]
    fn sortable_integers_sort() {
        let vals = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in vals.windows(2) {
            assert!(sortable_i64(w[0]) < sortable_i64(w[1]));
        }
        assert_eq!(read_sortable_i64(&sortable_i64(-42)), Some(-42));
        for w in vals.windows(2) {
            assert!(descending_i64(w[0]) > descending_i64(w[1]));
        }
        assert_eq!(read_descending_i64(&descending_i64(-42)), Some(-42));
    }

    use super::*;

    #[test]
    fn endpoint_keys_round_trip_and_stay_in_tenant() {
        let t = TenantId::new("acme").unwrap();
        let key = EndpointKey {
            host: "api.x".into(),
            method: "GET".into(),
            template: "/a/{id}".into(),
        };
        let raw = endpoint(&t, &key);
        assert!(raw.starts_with(&tenant_prefix(&t)));
        assert!(!raw.starts_with(&tenant_prefix(&TenantId::new("acm").unwrap())));
        assert_eq!(
            parse_endpoint_suffix(&raw[tenant_prefix(&t).len()..]),
            Some(key)
        );
    }
}
