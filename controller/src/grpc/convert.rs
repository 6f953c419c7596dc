//! Wire ⇄ domain conversions of the controller. Incoming summaries are validated here: an
//! invalid field, map entry or list item is dropped and counted (`validation::Drops`), never
//! stored; an endpoint summary is always kept, under placeholder key parts where its own are
//! invalid, so every request it counts is stored and billed.

use crate::inventory::ApiSummary;
use crate::store::{EndpointRecord, SensorRecord, TokenRecord};
use crate::validation::{DropReason, Drops, INVALID_HOST, INVALID_METHOD, INVALID_TEMPLATE};
use picket_proto::encode;
use picket_proto::v1 as pb;
use picket_shared::limits;
use picket_shared::shape::Shape;
use picket_shared::sketch::LogHistogram;
use picket_shared::{
    ActorSummary, BatchSummary, ClientActivity, EndpointKey, EndpointSummary, NotableEvent,
    NotableKind, ParamStats, Role, SensorCounters, SourceCounters,
};
use std::collections::BTreeMap;

/// A wire histogram, with out-of-range buckets dropped and counted.
fn hist(h: &std::collections::HashMap<u32, u64>, drops: &mut Drops) -> LogHistogram {
    let kept: std::collections::BTreeMap<u16, u64> = h
        .iter()
        .filter(|(b, _)| **b < limits::MAX_HISTOGRAM_BUCKET_EXCLUSIVE)
        .map(|(b, n)| (*b as u16, *n))
        .collect();
    drops.add(DropReason::HistogramBucket, (h.len() - kept.len()) as u64);
    LogHistogram(kept.into_iter().collect())
}

fn valid_key(host: &str, method: &str, template: &str) -> bool {
    limits::valid_host(host) && limits::valid_method(method) && limits::valid_template(template)
}

/// Validates one notable event; `None` means it is invalid.
fn notable(n: pb::NotableEvent) -> Option<NotableEvent> {
    if !valid_key(&n.host, &n.method, &n.template) {
        return None;
    }
    let kinds: Vec<NotableKind> = n
        .kinds
        .iter()
        .take(8)
        .map(|k| NotableKind::parse(k))
        .collect::<Option<_>>()?;
    if kinds.is_empty() {
        return None;
    }
    let client_ip = if n.client_ip.is_empty() {
        None
    } else {
        Some(n.client_ip.parse().ok()?)
    };
    let principal = (!n.principal.is_empty()).then_some(n.principal);
    if principal
        .as_deref()
        .is_some_and(|p| !limits::valid_principal(p))
    {
        return None;
    }
    Some(NotableEvent {
        ts_ms: n.ts_ms,
        endpoint: EndpointKey {
            host: n.host,
            method: n.method,
            template: n.template,
        },
        kinds,
        labels: n
            .labels
            .into_iter()
            .filter(|l| limits::valid_text(l, limits::MAX_LABEL_BYTES))
            .take(limits::MAX_NOTABLE_LABELS)
            .collect(),
        client_ip,
        principal,
        status: u16::try_from(n.status)
            .ok()
            .filter(|s| limits::valid_status(u32::from(*s)))?,
    })
}

/// The busiest clients of a summary, bounded; principals that are not hex are dropped (an
/// empty one means none).
fn top_clients(clients: &[pb::ClientActivity], drops: &mut Drops) -> Vec<ClientActivity> {
    let over = clients.len().saturating_sub(limits::MAX_TOP_CLIENTS);
    let bad_principals = clients
        .iter()
        .take(limits::MAX_TOP_CLIENTS)
        .filter(|c| !c.principal.is_empty() && !limits::valid_principal(&c.principal))
        .count();
    drops.add(DropReason::Client, (over + bad_principals) as u64);
    clients
        .iter()
        .take(limits::MAX_TOP_CLIENTS)
        .map(|c| ClientActivity {
            client_ip: c.client_ip.parse().ok(),
            principal: Some(c.principal.clone()).filter(|p| limits::valid_principal(p)),
            requests: c.requests,
            auth_failures: c.auth_failures,
            errors: c.errors,
            distinct_object_refs: c.distinct_object_refs,
            ref_sample: ref_sample(&c.ref_sample),
        })
        .collect()
}

/// A client's object-reference sample: ascending, distinct, at most
/// [`limits::MAX_REF_SAMPLE`] (the smallest, as the sensor keeps them).
fn ref_sample(sample: &[u32]) -> Vec<u32> {
    // A sensor sends at most MAX_REF_SAMPLE; of a longer (hostile) list only a bounded
    // prefix is looked at, so sorting stays cheap whatever arrives.
    let mut v: Vec<u32> = sample
        .iter()
        .take(limits::MAX_REF_SAMPLE * 4)
        .copied()
        .collect();
    v.sort_unstable();
    v.dedup();
    v.truncate(limits::MAX_REF_SAMPLE);
    v
}

/// A client address as it may arrive: empty (unknown) or an address; `Err` otherwise.
fn optional_ip(raw: &str) -> Result<Option<std::net::IpAddr>, ()> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| ())
}

/// Validates one actor summary; `None` means it is invalid (bad address or principal, or
/// neither). An agent that is not printable text of at most
/// [`limits::MAX_AGENT_PRODUCT_BYTES`] is dropped, the actor kept.
fn actor(a: pb::ActorSummary) -> Option<ActorSummary> {
    let client_ip = optional_ip(&a.client_ip).ok()?;
    let principal = (!a.principal.is_empty()).then_some(a.principal);
    if principal
        .as_deref()
        .is_some_and(|p| !limits::valid_principal(p))
    {
        return None;
    }
    if client_ip.is_none() && principal.is_none() {
        return None;
    }
    let agent = Some(a.agent).filter(|g| limits::valid_text(g, limits::MAX_AGENT_PRODUCT_BYTES));
    Some(ActorSummary {
        window_start_ms: a.window_start_ms,
        client_ip,
        principal,
        agent,
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
    })
}

/// Parameters of a summary at known locations with printable names, bounded.
fn params(params: &[pb::ParamSummary], drops: &mut Drops) -> BTreeMap<String, ParamStats> {
    let kept: BTreeMap<String, ParamStats> = params
        .iter()
        .filter(|p| {
            matches!(p.location.as_str(), "query" | "path" | "body")
                && limits::valid_text(&p.name, picket_shared::params::MAX_NAME_BYTES)
        })
        .take(limits::MAX_PARAMS_PER_ENDPOINT)
        .map(|p| {
            let shapes = p
                .shapes
                .iter()
                .filter_map(|(s, n)| Some((Shape::parse(s)?, *n)))
                .collect();
            (
                format!("{}:{}", p.location, p.name),
                ParamStats {
                    count: p.count,
                    shapes,
                },
            )
        })
        .collect();
    drops.add(
        DropReason::Param,
        params.len().saturating_sub(kept.len()) as u64,
    );
    kept
}

/// A `label → count` map from a sensor: printable labels of at most `max_bytes` only, at most
/// `max` of them.
fn labelled(
    m: &std::collections::HashMap<String, u64>,
    max_bytes: usize,
    max: usize,
    drops: &mut Drops,
) -> BTreeMap<String, u64> {
    let kept: BTreeMap<String, u64> = m
        .iter()
        .filter(|(k, _)| limits::valid_text(k, max_bytes))
        .take(max)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    drops.add(DropReason::Label, (m.len() - kept.len()) as u64);
    kept
}

/// Requests per media-type label: only the labels of [`picket_shared::media::LABELS`] are kept
/// (so the map is bounded by the vocabulary); others are dropped and counted.
fn content_types(
    m: &std::collections::HashMap<String, u64>,
    drops: &mut Drops,
) -> BTreeMap<String, u64> {
    let kept: BTreeMap<String, u64> = m
        .iter()
        .filter(|(k, _)| picket_shared::media::is_label(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    drops.add(DropReason::Label, (m.len() - kept.len()) as u64);
    kept
}

/// The summary's key; an invalid part is replaced by its placeholder (and counted), so the
/// summary's requests are still stored and billed under the host, method or template that
/// could be attributed.
fn endpoint_key(host: String, method: String, template: String, drops: &mut Drops) -> EndpointKey {
    let mut part = |valid: bool, value: String, placeholder: &str, reason| {
        if valid {
            value
        } else {
            drops.add(reason, 1);
            placeholder.to_owned()
        }
    };
    EndpointKey {
        host: part(
            limits::valid_host(&host),
            host,
            INVALID_HOST,
            DropReason::Host,
        ),
        method: part(
            limits::valid_method(&method),
            method,
            INVALID_METHOD,
            DropReason::Method,
        ),
        template: part(
            limits::valid_template(&template),
            template,
            INVALID_TEMPLATE,
            DropReason::Template,
        ),
    }
}

/// Status counts, out-of-range codes dropped (their requests stay in the summary's total).
fn statuses(wire: &[pb::StatusCount], drops: &mut Drops) -> BTreeMap<u16, u64> {
    let mut statuses = BTreeMap::new();
    for s in wire {
        match u16::try_from(s.status)
            .ok()
            .filter(|c| limits::valid_status(u32::from(*c)))
        {
            Some(code) => {
                let slot: &mut u64 = statuses.entry(code).or_insert(0);
                *slot = slot.saturating_add(s.count);
            }
            None => drops.add(DropReason::Status, 1),
        }
    }
    statuses
}

/// Validates one endpoint summary: what is invalid in it is dropped (or, for its key and seen
/// range, repaired) and counted in `drops`; the summary itself is always kept.
fn endpoint(e: pb::EndpointSummary, drops: &mut Drops) -> (EndpointKey, EndpointSummary) {
    let (mut first_seen_ms, mut last_seen_ms) = (e.first_seen_ms, e.last_seen_ms);
    if first_seen_ms > last_seen_ms {
        drops.add(DropReason::SeenRange, 1);
        std::mem::swap(&mut first_seen_ms, &mut last_seen_ms);
    }
    let statuses = statuses(&e.statuses, drops);
    let top_clients = top_clients(&e.top_clients, drops);
    let params = params(&e.params, drops);
    let label = limits::MAX_LABEL_BYTES;
    let sensitive = labelled(&e.sensitive, label, limits::MAX_SENSITIVE_KEYS, drops);
    let suspicious_agents = labelled(&e.suspicious_agents, label, limits::MAX_AGENT_KEYS, drops);
    let injections = labelled(&e.injections, label, limits::MAX_INJECTION_KEYS, drops);
    let request_content_types = content_types(&e.request_content_types, drops);
    // Scheme names come from the sensor: keep a bounded, printable set.
    let auth_schemes = labelled(
        &e.auth_schemes,
        limits::MAX_SCHEME_BYTES,
        limits::MAX_AUTH_SCHEMES,
        drops,
    );
    let summary = EndpointSummary {
        request_content_types,
        suspicious_agents,
        injections,
        sensitive,
        latency_us_hist: hist(&e.latency_us_hist, drops),
        request_bytes_hist: hist(&e.request_bytes_hist, drops),
        response_bytes_hist: hist(&e.response_bytes_hist, drops),
        params,
        window_start_ms: e.window_start_ms,
        top_clients,
        requests: e.requests,
        statuses,
        first_seen_ms,
        last_seen_ms,
        request_bytes_sum: e.request_bytes_sum,
        response_bytes_sum: e.response_bytes_sum,
        latency_us_sum: e.latency_us_sum,
        latency_us_max: e.latency_us_max,
        auth_present: e.auth_present,
        distinct_clients: e.distinct_clients,
        public_client_requests: e.public_client_requests,
        plaintext_requests: e.plaintext_requests,
        auth_schemes,
        distinct_principals: e.distinct_principals,
    };
    (endpoint_key(e.host, e.method, e.template, drops), summary)
}

fn counters(c: Option<pb::SensorCounters>) -> SensorCounters {
    let c = c.unwrap_or_default();
    SensorCounters {
        received: c.received,
        parsed: c.parsed,
        rejected: c.rejected,
        batches_sent: c.batches_sent,
        batches_acked: c.batches_acked,
        batches_dropped: c.batches_dropped,
        requests_dropped: c.requests_dropped,
        batches_spooled: c.batches_spooled,
        spool_bytes: c.spool_bytes,
        actors_dropped: c.actors_dropped,
        batches_rejected: c.batches_rejected,
        requests_rejected: c.requests_rejected,
        analysis_paused: c.analysis_paused,
        notables_dropped: c.notables_dropped,
        sources: c
            .sources
            .into_iter()
            .take(limits::MAX_COUNTER_ENTRIES)
            .map(|s| SourceCounters {
                source: truncate(s.source),
                received: s.received,
                parsed: s.parsed,
                rejected: s.rejected,
            })
            .collect(),
        rejected_by_reason: c
            .rejected_by_reason
            .into_iter()
            .take(limits::MAX_COUNTER_ENTRIES)
            .map(|(k, v)| (truncate(k), v))
            .collect(),
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > 256 {
        let mut end = 256;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Converts a wire batch; returns the domain batch and what validation dropped from it.
pub fn batch(b: pb::Batch) -> (BatchSummary, Drops) {
    let mut drops = Drops::default();
    let window_ms = b.endpoints.first().map_or(0, |e| e.window_ms);
    let endpoints: Vec<_> = b
        .endpoints
        .into_iter()
        .map(|e| endpoint(e, &mut drops))
        .collect();
    let notables_total = b.notables.len();
    let notables: Vec<_> = b
        .notables
        .into_iter()
        .take(limits::MAX_NOTABLES_PER_BATCH)
        .filter_map(notable)
        .collect();
    let actors_total = b.actors.len();
    let actors: Vec<_> = b
        .actors
        .into_iter()
        .take(limits::MAX_ACTORS_PER_BATCH)
        .filter_map(actor)
        .collect();
    drops.add(
        DropReason::Notable,
        (notables_total - notables.len()) as u64,
    );
    drops.add(DropReason::Actor, (actors_total - actors.len()) as u64);
    let summary = BatchSummary {
        window_ms,
        stream_epoch: b.stream_epoch,
        seq: b.seq,
        window_start_ms: b.window_start_ms,
        window_end_ms: b.window_end_ms,
        endpoints,
        counters: counters(b.counters),
        notables,
        actors,
    };
    (summary, drops)
}

pub fn endpoint_to_pb(key: EndpointKey, rec: EndpointRecord) -> pb::Endpoint {
    let s = &rec.summary;
    let q = |h: &LogHistogram, p: f64| h.quantile(p).unwrap_or(0);
    pb::Endpoint {
        sensitive: encode::counts(&s.sensitive),
        suspicious_agents: encode::counts(&s.suspicious_agents),
        injections: encode::counts(&s.injections),
        request_content_types: encode::counts(&s.request_content_types),
        latency_p50_us: q(&s.latency_us_hist, 0.50),
        latency_p95_us: q(&s.latency_us_hist, 0.95),
        latency_p99_us: q(&s.latency_us_hist, 0.99),
        request_bytes_p95: q(&s.request_bytes_hist, 0.95),
        response_bytes_p95: q(&s.response_bytes_hist, 0.95),
        params: encode::params(&s.params),
        statuses: encode::statuses(&s.statuses),
        calls: s.requests,
        first_seen_ms: s.first_seen_ms,
        last_seen_ms: s.last_seen_ms,
        request_bytes_sum: s.request_bytes_sum,
        response_bytes_sum: s.response_bytes_sum,
        latency_us_sum: s.latency_us_sum,
        latency_us_max: s.latency_us_max,
        auth_present: s.auth_present,
        public_client_requests: s.public_client_requests,
        plaintext_requests: s.plaintext_requests,
        auth_schemes: encode::counts(&s.auth_schemes),
        sensors: rec.sensors.into_iter().collect(),
        host: key.host,
        method: key.method,
        path: key.template,
        // Filled by the inventory service from the tenant's specs.
        spec_status: None,
    }
}

pub fn api_to_pb(a: ApiSummary) -> pb::Api {
    pb::Api {
        host: a.host,
        endpoints: a.endpoints,
        calls: a.calls,
        first_seen_ms: a.first_seen_ms,
        last_seen_ms: a.last_seen_ms,
        methods: a.methods.into_iter().collect(),
        sensors: a.sensors.into_iter().collect(),
        state: String::new(),
        state_changed_ms: 0,
    }
}

pub fn sensor_to_pb(s: SensorRecord, connected: bool) -> pb::Sensor {
    pb::Sensor {
        counters: Some(encode::counters(&s.counters)),
        sensor_id: s.sensor_id,
        version: s.version,
        sources: s.sources,
        hostname: s.hostname,
        first_seen_ms: s.first_seen_ms,
        last_seen_ms: s.last_seen_ms,
        connected,
        stream_epoch: s.stream_epoch,
        committed_seq: s.committed_seq,
        requests_committed: s.requests_committed,
        fields_dropped: s.fields_dropped,
    }
}

pub fn role_to_pb(r: Role) -> pb::Role {
    match r {
        Role::Sensor => pb::Role::Sensor,
        Role::Reader => pb::Role::Reader,
        Role::Operator => pb::Role::Operator,
        Role::Admin => pb::Role::Admin,
    }
}

pub fn role_from_pb(raw: i32) -> Option<Role> {
    match pb::Role::try_from(raw).ok()? {
        pb::Role::Sensor => Some(Role::Sensor),
        pb::Role::Reader => Some(Role::Reader),
        pb::Role::Operator => Some(Role::Operator),
        pb::Role::Admin => Some(Role::Admin),
        pb::Role::Unspecified => None,
    }
}

pub fn token_to_pb(t: TokenRecord) -> pb::Token {
    pb::Token {
        id: t.id,
        tenant: t.tenant.to_string(),
        role: role_to_pb(t.role) as i32,
        description: t.description,
        created_ms: t.created_ms,
        revoked_ms: t.revoked_ms,
        installation_admin: t.installation_admin,
        expires_ms: t.expires_ms,
        // Filled in by `ListTokens` (it lives outside the record).
        last_used_ms: 0,
        rotated_ms: t.rotated_ms,
        previous_valid_until_ms: t.previous_valid_until_ms,
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
