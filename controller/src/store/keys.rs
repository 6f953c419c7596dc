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

#[cfg(test)]
mod tests {
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
