//! Domain → wire encoders that both the sensor (sending batches) and the controller (answering
//! queries) need. Wire → domain conversion validates untrusted input and stays with the
//! controller's `grpc::convert`.

use crate::v1 as pb;
use picket_shared::sketch::LogHistogram;
use picket_shared::{ActorSummary, ClientActivity, NotableEvent, ParamStats, SensorCounters};
use std::collections::{BTreeMap, HashMap};

/// A notable event.
pub fn notable(n: &NotableEvent) -> pb::NotableEvent {
    pb::NotableEvent {
        ts_ms: n.ts_ms,
        host: n.endpoint.host.clone(),
        method: n.endpoint.method.clone(),
        template: n.endpoint.template.clone(),
        kinds: n.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        labels: n.labels.clone(),
        client_ip: n.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        principal: n.principal.clone().unwrap_or_default(),
        status: u32::from(n.status),
    }
}

/// An actor summary (one client across the endpoints of one window).
pub fn actor(a: &ActorSummary) -> pb::ActorSummary {
    pb::ActorSummary {
        window_start_ms: a.window_start_ms,
        client_ip: a.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        principal: a.principal.clone().unwrap_or_default(),
        agent: a.agent.clone().unwrap_or_default(),
        requests: a.requests,
        distinct_endpoints: a.distinct_endpoints,
        unauthorized: a.unauthorized,
        forbidden: a.forbidden,
        not_found: a.not_found,
        method_not_allowed: a.method_not_allowed,
        server_errors: a.server_errors,
        rate_limited: a.rate_limited,
        auth_present: a.auth_present,
        distinct_object_refs: a.distinct_object_refs,
        auth_failure_endpoints: a.auth_failure_endpoints,
    }
}

/// One client's activity on one endpoint.
pub fn client_activity(c: &ClientActivity) -> pb::ClientActivity {
    pb::ClientActivity {
        client_ip: c.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        principal: c.principal.clone().unwrap_or_default(),
        requests: c.requests,
        auth_failures: c.auth_failures,
        errors: c.errors,
        distinct_object_refs: c.distinct_object_refs,
        ref_sample: c.ref_sample.clone(),
    }
}

/// A sensor's counters.
pub fn counters(c: &SensorCounters) -> pb::SensorCounters {
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
        notables_dropped: c.notables_dropped,
        actors_dropped: c.actors_dropped,
        batches_rejected: c.batches_rejected,
        requests_rejected: c.requests_rejected,
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

/// Parameters keyed `location:name`; malformed keys are skipped.
pub fn params(params: &BTreeMap<String, ParamStats>) -> Vec<pb::ParamSummary> {
    params
        .iter()
        .filter_map(|(key, stats)| {
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
        })
        .collect()
}

/// A sketch as bucket index → count.
pub fn histogram(h: &LogHistogram) -> HashMap<u32, u64> {
    h.0.iter().map(|(b, n)| (u32::from(*b), *n)).collect()
}

/// Counts by HTTP status code.
pub fn statuses(m: &BTreeMap<u16, u64>) -> Vec<pb::StatusCount> {
    m.iter()
        .map(|(status, count)| pb::StatusCount {
            status: u32::from(*status),
            count: *count,
        })
        .collect()
}

/// A string-keyed count map.
pub fn counts(m: &BTreeMap<String, u64>) -> HashMap<String, u64> {
    m.iter().map(|(k, v)| (k.clone(), *v)).collect()
}
