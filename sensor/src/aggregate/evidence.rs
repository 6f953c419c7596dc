//! The evidence of one request beyond its counts: parameters with their shapes and
//! sensitive-data classes, the client's activity (auth failures, errors, distinct object
//! references and their sample, per endpoint and across the window) and, for flagged
//! requests, a redacted notable event.

use super::Aggregator;
use crate::identity::Principal;
use crate::record::RequestRecord;
use picket_shared::inject::Verdict;
use picket_shared::sensitive::{Sensitive, classify};
use picket_shared::shape::{Shape, percent_decoded, shape_of};
use picket_shared::summary::{
    MAX_NOTABLE_LABELS, MAX_NOTABLES_PER_BATCH, MAX_PARAMS_PER_ENDPOINT, ParamStats,
};
use picket_shared::{EndpointKey, EndpointSummary, NotableEvent, NotableKind};
use std::fmt::Write as _;
use std::hash::BuildHasher;

/// Counts one parameter (named `location:name`) of a request in `s`.
fn add_param(
    s: &mut EndpointSummary,
    name: &str,
    shape: Shape,
    sensitive: Option<Sensitive>,
    bytes: &mut usize,
) {
    if let Some(class) = sensitive {
        let location = name.split(':').next().unwrap_or("");
        *s.sensitive
            .entry(format!("{location}:{}", class.as_str()))
            .or_default() += 1;
    }
    let count = |stats: &mut ParamStats| {
        stats.count += 1;
        *stats.shapes.entry(shape).or_default() += 1;
    };
    if let Some(stats) = s.params.get_mut(name) {
        count(stats);
    } else if s.params.len() < MAX_PARAMS_PER_ENDPOINT {
        *bytes += name.len() + size_of::<ParamStats>() + 64;
        count(s.params.entry(name.to_owned()).or_default());
    }
}

impl Aggregator {
    /// Query, path and body parameters of a request (keyed `location:name`, with the
    /// sensitive-data class of each value), and the hashes of its object references (the raw
    /// values at the template's parameter positions), gathered in `self.refs`.
    pub(super) fn add_params(&mut self, i: usize, r: &RequestRecord, template: &str) {
        let Self {
            slots,
            hasher,
            bytes,
            name,
            refs,
            url_sensitive,
            ..
        } = self;
        let s = &mut slots[i].summary;
        url_sensitive.clear();
        if let Some(q) = picket_shared::params::query_string(&r.target) {
            picket_shared::params::for_each_urlencoded(q, |n, shape, sensitive| {
                name.clear();
                name.push_str("query:");
                name.push_str(n);
                if let Some(class) = sensitive {
                    url_sensitive.push(format!("query:{}", class.as_str()));
                }
                add_param(s, name, shape, sensitive, bytes);
            });
        }
        refs.clear();
        let path = picket_shared::template::path_of(&r.target);
        let mut previous = "";
        let segments = path.split('/').filter(|s| !s.is_empty());
        for (i, (raw, t)) in segments
            .zip(template.split('/').filter(|s| !s.is_empty()))
            .enumerate()
        {
            if t.starts_with('{') {
                refs.push(hasher.hash_one((t, raw)));
            }
            if let Some(inner) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                name.clear();
                name.push_str("path:");
                match (inner, previous) {
                    ("id", p) if !p.is_empty() && !p.starts_with('{') => {
                        name.push_str(p);
                        name.push_str(".id");
                    }
                    ("id", _) => {
                        // Writing to a String cannot fail.
                        let _ = write!(name, "id@{i}");
                    }
                    (n, _) => name.push_str(n),
                }
                let value = percent_decoded(raw, false);
                let sensitive = classify(&value);
                if let Some(class) = sensitive {
                    url_sensitive.push(format!("path:{}", class.as_str()));
                }
                add_param(s, name, shape_of(&value), sensitive, bytes);
            }
            previous = t;
        }
        for p in &r.body_params {
            name.clear();
            name.push_str("body:");
            name.push_str(&p.name);
            add_param(s, name, p.shape, p.sensitive, bytes);
        }
        for class in &r.response_sensitive {
            *s.sensitive
                .entry(format!("response:{}", class.as_str()))
                .or_default() += 1;
        }
    }

    /// The client's activity on the endpoint of slot `i` (requests, failures, errors,
    /// distinct object references and their sample) and across the window (its actor
    /// summary, for a client with an address or a principal; counted in `actors_dropped`
    /// when the batch's actor table is full).
    pub(super) fn add_client(&mut self, i: usize, r: &RequestRecord) {
        let Self {
            slots,
            actors,
            hasher,
            bytes,
            refs,
            new_refs,
            limits,
            ..
        } = self;
        let slot = &mut slots[i];
        let key = (r.client_ip, r.principal);
        let h = hasher.hash_one(key);
        new_refs.clear();
        let max = limits.max_clients_per_endpoint;
        let step = slot.add_client((key, h), hasher, max, r.status, refs, new_refs, bytes);
        if key == (None, None) {
            // Neither address nor principal: no one to summarize.
            return;
        }
        let window = slot.window;
        let max = limits.max_batch_actors;
        if actors.add(window, (key, h), r, step, new_refs, max, bytes) {
            self.actors_dropped += 1;
        }
    }

    /// Records a flagged request (injection, sensitive data in the URL, suspicious agent) as a
    /// redacted event: labels only.
    pub(super) fn notable(&mut self, r: &RequestRecord, template: &str, verdict: &Verdict) {
        let mut kinds = Vec::new();
        let mut labels = Vec::new();
        for f in verdict.findings.iter().chain(&r.injections) {
            labels.push(format!("{}:{}", f.location.as_str(), f.hit.rule));
        }
        if !labels.is_empty() {
            kinds.push(NotableKind::Injection);
        }
        if !self.url_sensitive.is_empty() {
            kinds.push(NotableKind::SensitiveInUrl);
            labels.extend(self.url_sensitive.iter().cloned());
        }
        if let Some(agent) = r.agent {
            kinds.push(NotableKind::SuspiciousAgent);
            labels.push(format!("agent:{agent}"));
        }
        if kinds.is_empty() {
            return;
        }
        if self.notables.len() >= MAX_NOTABLES_PER_BATCH {
            self.notables_dropped += 1;
            return;
        }
        labels.sort();
        labels.dedup();
        labels.truncate(MAX_NOTABLE_LABELS);
        self.bytes += 256 + labels.iter().map(String::len).sum::<usize>();
        self.notables.push(NotableEvent {
            ts_ms: r.ts_ms,
            endpoint: EndpointKey {
                host: r.host.clone(),
                method: r.method.clone(),
                template: template.to_owned(),
            },
            kinds,
            labels,
            client_ip: r.client_ip,
            principal: r.principal.map(Principal::to_hex),
            status: r.status,
        });
    }
}
