//! The only place the sensor's domain types meet `picket.v1` wire types.

use crate::aggregate::Sealed;
use picket_proto::v1 as pb;
use picket_shared::SensorCounters;

/// Builds the wire batch for a sealed batch.
pub fn batch(
    sensor_id: &str,
    epoch: u64,
    seq: u64,
    sealed: &Sealed,
    counters: &SensorCounters,
) -> pb::Batch {
    pb::Batch {
        sensor_id: sensor_id.to_owned(),
        stream_epoch: epoch,
        seq,
        endpoints: sealed
            .endpoints
            .iter()
            .map(|(k, s)| pb::EndpointSummary {
                host: k.host.clone(),
                method: k.method.clone(),
                template: k.template.clone(),
                requests: s.requests,
                statuses: s
                    .statuses
                    .iter()
                    .map(|(status, count)| pb::StatusCount {
                        status: u32::from(*status),
                        count: *count,
                    })
                    .collect(),
                first_seen_ms: s.first_seen_ms,
                last_seen_ms: s.last_seen_ms,
                request_bytes_sum: s.request_bytes_sum,
                response_bytes_sum: s.response_bytes_sum,
                latency_us_sum: s.latency_us_sum,
                latency_us_max: s.latency_us_max,
                auth_present: s.auth_present,
                distinct_clients: s.distinct_clients,
                public_client_requests: s.public_client_requests,
                plaintext_requests: s.plaintext_requests,
                auth_schemes: s
                    .auth_schemes
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
                distinct_principals: s.distinct_principals,
                window_start_ms: s.window_start_ms,
                sensitive: s.sensitive.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                suspicious_agents: s
                    .suspicious_agents
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
                latency_us_hist: hist_pb(&s.latency_us_hist),
                request_bytes_hist: hist_pb(&s.request_bytes_hist),
                response_bytes_hist: hist_pb(&s.response_bytes_hist),
                params: s
                    .params
                    .iter()
                    .filter_map(|(key, stats)| param_pb(key, stats))
                    .collect(),
                window_ms: sealed.window_ms,
                top_clients: s
                    .top_clients
                    .iter()
                    .map(|c| pb::ClientActivity {
                        client_ip: c.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                        principal: c.principal.clone().unwrap_or_default(),
                        requests: c.requests,
                        auth_failures: c.auth_failures,
                        errors: c.errors,
                        distinct_object_refs: c.distinct_object_refs,
                    })
                    .collect(),
            })
            .collect(),
        counters: Some(counters_to_proto(counters)),
        window_start_ms: sealed.window_start_ms,
        window_end_ms: sealed.window_end_ms,
    }
}

pub fn counters_to_proto(c: &SensorCounters) -> pb::SensorCounters {
    pb::SensorCounters {
        received: c.received,
        parsed: c.parsed,
        rejected: c.rejected,
        batches_sent: c.batches_sent,
        batches_acked: c.batches_acked,
        batches_dropped: c.batches_dropped,
        requests_dropped: c.requests_dropped,
        batches_spooled: c.batches_spooled,
        spool_bytes: c.spool_bytes,
        analysis_paused: c.analysis_paused,
        sources: c
            .sources
            .iter()
            .map(|s| pb::SourceCounters {
                source: s.source.clone(),
                received: s.received,
                parsed: s.parsed,
                rejected: s.rejected,
            })
            .collect(),
        rejected_by_reason: c
            .rejected_by_reason
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
    }
}

/// A `location:name` parameter as sent.
fn param_pb(key: &str, stats: &picket_shared::ParamStats) -> Option<pb::ParamSummary> {
    let (location, name) = key.split_once(':')?;
    Some(pb::ParamSummary {
        location: location.to_owned(),
        name: name.to_owned(),
        count: stats.count,
        shapes: stats
            .shapes
            .iter()
            .map(|(s, n)| (s.as_str().to_owned(), *n))
            .collect(),
    })
}

fn hist_pb(h: &picket_shared::sketch::LogHistogram) -> std::collections::HashMap<u32, u64> {
    h.0.iter().map(|(b, n)| (u32::from(*b), *n)).collect()
}
