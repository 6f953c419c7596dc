//! The only place the sensor's domain types meet `picket.v1` wire types.

use crate::aggregate::Sealed;
use picket_proto::encode;
use picket_proto::v1 as pb;
use picket_shared::SensorCounters;

/// The first message of a session: who this sensor is and where its numbering run stands.
pub fn hello(
    sensor_id: &str,
    sources: &[String],
    stream_epoch: u64,
    hostname: String,
) -> pb::SensorMessage {
    pb::SensorMessage {
        msg: Some(pb::sensor_message::Msg::Hello(pb::Hello {
            sensor_id: sensor_id.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            sources: sources.to_vec(),
            stream_epoch,
            hostname,
        })),
    }
}

/// The controller's limits as its `Welcome` announced them (`None`: not announced, by a
/// controller from before the announcement). The aggregator seals batches within them; a
/// batch sealed before they were known and still too large is set aside, never sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WireLimits {
    /// Most endpoint summaries the controller accepts in one batch.
    pub max_batch_endpoints: Option<usize>,
    /// Largest message the controller decodes, in bytes.
    pub max_message_bytes: Option<usize>,
}

/// The limits a `Welcome` announces (0 means not announced).
pub fn wire_limits(w: &pb::Welcome) -> WireLimits {
    let some = |v: u64| (v > 0).then(|| usize::try_from(v).unwrap_or(usize::MAX));
    WireLimits {
        max_batch_endpoints: some(w.max_batch_endpoints),
        max_message_bytes: some(w.max_message_bytes),
    }
}

/// Why the controller refused a batch for good, when the ack is such a refusal.
pub fn rejection(ack: &pb::Ack) -> Option<String> {
    ack.rejected.then(|| {
        if ack.reject_reason.is_empty() {
            "rejected by the controller".to_owned()
        } else {
            ack.reject_reason.chars().take(512).collect()
        }
    })
}

/// A controller directive in domain form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub analysis_paused: bool,
    pub paused_until_ms: i64,
    /// `(host, template)` pairs from API specs, when the directive sets them (at most the
    /// cap given to [`directive`]).
    pub templates: Option<Vec<(String, String)>>,
    pub notice: String,
}

/// Decodes a directive, keeping at most `max_templates` template hints.
pub fn directive(d: &pb::Directive, max_templates: usize) -> Directive {
    Directive {
        analysis_paused: d.analysis_paused,
        paused_until_ms: d.paused_until_ms,
        templates: d.templates_set.then(|| {
            d.templates
                .iter()
                .take(max_templates)
                .map(|t| (t.host.clone(), t.template.clone()))
                .collect()
        }),
        notice: d.notice.clone(),
    }
}

/// Builds the wire batch for a sealed batch; `traceparent` is its span's W3C trace context
/// (empty without telemetry).
pub fn batch(
    sensor_id: &str,
    epoch: u64,
    seq: u64,
    sealed: &Sealed,
    counters: &SensorCounters,
    traceparent: String,
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
                statuses: encode::statuses(&s.statuses),
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
                auth_schemes: encode::counts(&s.auth_schemes),
                distinct_principals: s.distinct_principals,
                window_start_ms: s.window_start_ms,
                sensitive: encode::counts(&s.sensitive),
                injections: encode::counts(&s.injections),
                suspicious_agents: encode::counts(&s.suspicious_agents),
                request_content_types: encode::counts(&s.request_content_types),
                latency_us_hist: encode::histogram(&s.latency_us_hist),
                request_bytes_hist: encode::histogram(&s.request_bytes_hist),
                response_bytes_hist: encode::histogram(&s.response_bytes_hist),
                params: encode::params(&s.params),
                window_ms: sealed.window_ms,
                top_clients: s.top_clients.iter().map(encode::client_activity).collect(),
            })
            .collect(),
        counters: Some(encode::counters(counters)),
        window_start_ms: sealed.window_start_ms,
        window_end_ms: sealed.window_end_ms,
        notables: sealed.notables.iter().map(encode::notable).collect(),
        actors: sealed.actors.iter().map(encode::actor).collect(),
        traceparent,
    }
}
