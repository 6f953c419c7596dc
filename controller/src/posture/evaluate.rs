//! The posture evaluator: pure functions from an endpoint's lifetime record (and its spec
//! judgement) or an API's onboarding state to the findings that hold *now*. No store, no
//! clock: the caller passes `now_ms`.

use super::PostureConfig;
use super::finding::{Finding, Kind};
use crate::metering::ApiState;
use crate::specs::drift::SpecJudgement;
use crate::store::EndpointRecord;
use crate::store::evidence::Evidence;
use picket_openapi::Class;
use picket_shared::EndpointKey;

const DAY_MS: i64 = 86_400_000;

/// Sensitive-data classes seen at locations accepted by `keep`, with their total.
fn sensitive(ev: &Evidence, keep: &dyn Fn(&str) -> bool) -> (Vec<String>, u64) {
    let mut names = Vec::new();
    let mut total = 0u64;
    for (key, n) in &ev.sensitive {
        let location = key.split_once(':').map_or("", |(l, _)| l);
        if *n > 0 && keep(location) {
            names.push(key.clone());
            total = total.saturating_add(*n);
        }
    }
    (names, total)
}

/// Whether some answer says the path exists: a status other than 400, 404, 405 and 501 (the
/// answers the sensor's template learner does not learn from either). A path only ever
/// answered "no such thing" — a scanner's probe — is not an endpoint of the API: it is never
/// shadow, exposed, inactive or unthrottled.
pub fn path_exists(rec: &EndpointRecord) -> bool {
    rec.summary
        .statuses
        .iter()
        .any(|(s, n)| *n > 0 && !matches!(s, 400 | 404 | 405 | 501))
}

/// The findings that hold for one endpoint.
pub fn endpoint_findings(
    tenant: &str,
    key: &EndpointKey,
    rec: &EndpointRecord,
    spec: &SpecJudgement,
    cfg: &PostureConfig,
    now_ms: i64,
) -> Vec<Finding> {
    // Traffic evidence comes from the endpoint's newest traffic (`store::evidence`), so these
    // findings end once it has served a while without the condition.
    let new = |kind| Finding::new(tenant, kind, &key.host, &key.method, &key.template);
    // An overflow endpoint mixes whatever endpoints came beyond an inventory cap: it says so,
    // and nothing else is judged on it (its traffic is still analyzed by the detectors).
    if crate::store::bounds::is_overflow(key) {
        return vec![
            new(Kind::InventoryCapped)
                .with("requests", rec.summary.requests)
                .with("keys_overflow", rec.keys_overflow),
        ];
    }
    let ev = rec.posture_evidence();
    let mut out = Vec::new();
    let exists = path_exists(rec);
    // Requests without credentials that got a 2xx, at least: of the requests without
    // credentials, at most the non-2xx answers can have been refused.
    let without_credentials = ev.requests.saturating_sub(ev.auth_present);
    let ok = ev.answered_2xx;
    let unauthenticated_ok = without_credentials.saturating_sub(ev.requests.saturating_sub(ok));
    if unauthenticated_ok > 0 && !spec.documented_public {
        out.push(
            new(Kind::Unauthenticated)
                .with("requests", ev.requests)
                .with("without_credentials", without_credentials)
                .with("answered_2xx", ok)
                .with("unauthenticated_2xx_at_least", unauthenticated_ok),
        );
    }
    let idle_ms = now_ms.saturating_sub(rec.summary.last_seen_ms);
    if exists && idle_ms > i64::from(cfg.inactive_days) * DAY_MS {
        out.push(
            new(Kind::Inactive)
                .with("days_since_last_call", (idle_ms / DAY_MS) as u64)
                .with("requests", rec.summary.requests),
        );
    }
    if exists && ev.public_client_requests > 0 {
        out.push(
            new(Kind::ExternallyExposed)
                .with("public_client_requests", ev.public_client_requests)
                .with("requests", ev.requests),
        );
    }
    out.extend(data_findings(&ev, exists, cfg, &new));
    if exists {
        out.extend(spec_findings(spec, rec.summary.requests, &new));
    }
    out
}

/// Sensitive-data, rate-limiting and plain-HTTP findings from the traffic evidence.
fn data_findings(
    ev: &Evidence,
    exists: bool,
    cfg: &PostureConfig,
    new: &dyn Fn(Kind) -> Finding,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let (classes, n) = sensitive(ev, &|l| l == "response");
    if n > 0 {
        out.push(
            new(Kind::SensitiveResponse)
                .with("values", n)
                .with_details(classes),
        );
    }
    let (classes, n) = sensitive(ev, &|l| l == "query" || l == "path");
    if n > 0 {
        out.push(
            new(Kind::SensitiveUrl)
                .with("values", n)
                .with_details(classes),
        );
    }
    if exists && ev.peak_client_rpm >= cfg.rate_limit_rpm && ev.answered_429 == 0 {
        out.push(
            new(Kind::NoRateLimit)
                .with("peak_client_rpm", ev.peak_client_rpm)
                .with("threshold_rpm", cfg.rate_limit_rpm)
                .with("answered_429", 0),
        );
    }
    if ev.plaintext_requests > 0 {
        out.push(
            new(Kind::Plaintext)
                .with("plaintext_requests", ev.plaintext_requests)
                .with("requests", ev.requests),
        );
    }
    out
}

/// Shadow, zombie and drift findings of one endpoint.
fn spec_findings(
    spec: &SpecJudgement,
    requests: u64,
    new: &dyn Fn(Kind) -> Finding,
) -> Vec<Finding> {
    let mut out = Vec::new();
    match spec.class {
        Some(Class::Shadow) => out.push(new(Kind::Shadow).with("requests", requests)),
        Some(Class::Zombie) => out.push(new(Kind::Zombie).with("requests", requests)),
        _ => {}
    }
    if spec.drifts() {
        let mut details: Vec<String> = Vec::new();
        if spec.class == Some(Class::Drift) {
            details.push("method".into());
        }
        details.extend(spec.undocumented_params.iter().cloned());
        details.extend(
            spec.undocumented_statuses
                .iter()
                .map(|s| format!("status:{s}")),
        );
        details.extend(
            spec.undocumented_content_types
                .iter()
                .map(|t| format!("content_type:{t}")),
        );
        out.push(
            new(Kind::Drift)
                .with(
                    "undocumented_method",
                    u64::from(spec.class == Some(Class::Drift)),
                )
                .with("undocumented_params", spec.undocumented_params_total as u64)
                .with(
                    "undocumented_statuses",
                    spec.undocumented_statuses_total as u64,
                )
                .with(
                    "undocumented_content_types",
                    spec.undocumented_content_types_total as u64,
                )
                .with("requests", requests)
                .with_details(details),
        );
    }
    out
}

/// The findings that hold for one API (host): "onboard this API" while it is discovered.
pub fn api_findings(tenant: &str, host: &str, state: ApiState, requests: u64) -> Vec<Finding> {
    match state {
        ApiState::Discovered => vec![
            Finding::new(tenant, Kind::OnboardApi, host, "", "")
                .with("unprotected_requests_seen", requests),
        ],
        ApiState::Onboarded => Vec::new(),
    }
}
