//! The evaluator, kind by kind: each finding raised by a synthetic endpoint record, and not
//! raised by its benign look-alike; scores by the formula.

use super::PostureConfig;
use super::evaluate::{api_findings, endpoint_findings};
use super::finding::{Finding, Kind};
use super::score::{api_score, endpoint_score, tenant_score};
use crate::metering::ApiState;
use crate::specs::drift::SpecJudgement;
use crate::store::EndpointRecord;
use crate::store::evidence::{EVIDENCE_BUCKET_MS, Evidence};
use picket_openapi::Class;
use picket_shared::{EndpointKey, EndpointSummary};
use std::collections::BTreeMap;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn key() -> EndpointKey {
    EndpointKey {
        host: "api.example".into(),
        method: "GET".into(),
        template: "/users/{id}".into(),
    }
}

/// 100 authenticated requests answered 200, seen an hour ago: no finding at all.
fn clean() -> EndpointRecord {
    EndpointRecord {
        summary: EndpointSummary {
            requests: 100,
            auth_present: 100,
            statuses: [(200, 100)].into(),
            first_seen_ms: NOW - 2 * DAY,
            last_seen_ms: NOW - 3_600_000,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The record with evidence of its summary's traffic and a client peak of `rpm`.
fn with_peak(mut rec: EndpointRecord, rpm: u64) -> EndpointRecord {
    let mut ev = Evidence::of(&rec.summary, 1);
    ev.peak_client_rpm = rpm;
    rec.evidence.add_at(rec.summary.last_seen_ms, &ev);
    rec
}

fn kinds_with(rec: &EndpointRecord, spec: &SpecJudgement) -> Vec<Kind> {
    endpoint_findings("t", &key(), rec, spec, &PostureConfig::default(), NOW)
        .into_iter()
        .map(|f| f.kind)
        .collect()
}

fn kinds(rec: &EndpointRecord) -> Vec<Kind> {
    kinds_with(rec, &SpecJudgement::default())
}

fn find(rec: &EndpointRecord, spec: &SpecJudgement, kind: Kind) -> Finding {
    endpoint_findings("t", &key(), rec, spec, &PostureConfig::default(), NOW)
        .into_iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?}"))
}

/// One table row: a record raising `kind`, and a look-alike that must not.
fn check(kind: Kind, raises: EndpointRecord, look_alike: EndpointRecord) {
    assert!(kinds(&raises).contains(&kind), "{kind:?} not raised");
    assert!(
        !kinds(&look_alike).contains(&kind),
        "{kind:?} raised by its look-alike: {:?}",
        kinds(&look_alike)
    );
}

#[test]
fn a_clean_endpoint_has_no_finding() {
    assert_eq!(kinds(&clean()), []);
}

#[test]
fn unauthenticated_needs_2xx_answers_to_requests_without_credentials() {
    let mut raises = clean();
    raises.summary.auth_present = 60; // 40 without credentials, all 100 answered 200
    // Look-alike: the 40 without credentials were all refused (401).
    let mut refused = clean();
    refused.summary.auth_present = 60;
    refused.summary.statuses = [(200, 60), (401, 40)].into();
    check(Kind::Unauthenticated, raises.clone(), refused);
    let f = find(&raises, &SpecJudgement::default(), Kind::Unauthenticated);
    assert_eq!(f.evidence["unauthenticated_2xx_at_least"], 40);
    // Documented as public in the spec: not a finding.
    let public = SpecJudgement {
        class: Some(Class::Documented),
        documented_public: true,
        ..Default::default()
    };
    assert!(!kinds_with(&raises, &public).contains(&Kind::Unauthenticated));
}

#[test]
fn inactive_after_the_configured_days() {
    let mut raises = clean();
    raises.summary.last_seen_ms = NOW - 31 * DAY;
    let mut recent = clean();
    recent.summary.last_seen_ms = NOW - 29 * DAY;
    check(Kind::Inactive, raises.clone(), recent);
    let f = find(&raises, &SpecJudgement::default(), Kind::Inactive);
    assert_eq!(f.evidence["days_since_last_call"], 31);
}

#[test]
fn externally_exposed_by_public_clients() {
    let mut raises = clean();
    raises.summary.public_client_requests = 3;
    // Private addresses only (the default record): internal traffic is not exposure.
    check(Kind::ExternallyExposed, raises, clean());
}

#[test]
fn sensitive_data_by_location() {
    let mut response = clean();
    response.summary.sensitive = [("response:email".to_owned(), 5)].into();
    let mut url = clean();
    url.summary.sensitive = [("query:email".to_owned(), 2), ("path:us_ssn".to_owned(), 1)].into();
    // In a request body: neither a response leak nor a URL leak.
    let mut body = clean();
    body.summary.sensitive = [("body:email".to_owned(), 9)].into();
    check(Kind::SensitiveResponse, response.clone(), body.clone());
    check(Kind::SensitiveUrl, url.clone(), body);
    assert!(!kinds(&response).contains(&Kind::SensitiveUrl));
    assert!(!kinds(&url).contains(&Kind::SensitiveResponse));
    let f = find(&url, &SpecJudgement::default(), Kind::SensitiveUrl);
    assert_eq!((f.evidence["values"], f.details.len()), (3, 2));
}

#[test]
fn no_rate_limiting_needs_a_fast_client_and_no_429() {
    let raises = with_peak(clean(), 5_000);
    let mut limited = clean();
    limited.summary.statuses.insert(429, 12);
    let limited = with_peak(limited, 5_000);
    let slow = with_peak(clean(), 1_199);
    check(Kind::NoRateLimit, raises.clone(), limited);
    check(Kind::NoRateLimit, raises, slow);
}

#[test]
fn plaintext_http() {
    let mut raises = clean();
    raises.summary.plaintext_requests = 1;
    check(Kind::Plaintext, raises, clean());
}

#[test]
fn spec_classes_raise_shadow_zombie_and_drift() {
    let judged = |class, params: &[&str], statuses: &[u16]| SpecJudgement {
        class: Some(class),
        undocumented_params: params.iter().map(|p| p.to_string()).collect(),
        undocumented_params_total: params.len(),
        undocumented_statuses: statuses.to_vec(),
        undocumented_statuses_total: statuses.len(),
        ..Default::default()
    };
    let rec = clean();
    assert_eq!(
        kinds_with(&rec, &judged(Class::Shadow, &[], &[])),
        [Kind::Shadow]
    );
    assert_eq!(
        kinds_with(&rec, &judged(Class::Zombie, &[], &[])),
        [Kind::Zombie]
    );
    assert_eq!(
        kinds_with(&rec, &judged(Class::Drift, &[], &[])),
        [Kind::Drift]
    );
    // Documented and in line with the spec: nothing; no spec at all: nothing either.
    assert_eq!(kinds_with(&rec, &judged(Class::Documented, &[], &[])), []);
    let drift = judged(Class::Documented, &["query:debug"], &[418]);
    let f = find(&rec, &drift, Kind::Drift);
    assert_eq!(
        (
            f.evidence["undocumented_params"],
            f.evidence["undocumented_statuses"]
        ),
        (1, 1)
    );
    assert_eq!(f.details, ["query:debug", "status:418"]);
    // An undocumented request content type alone is drift too.
    let ctype = SpecJudgement {
        class: Some(Class::Documented),
        undocumented_content_types: vec!["xml".into()],
        undocumented_content_types_total: 1,
        ..Default::default()
    };
    let f = find(&rec, &ctype, Kind::Drift);
    assert_eq!(f.evidence["undocumented_content_types"], 1);
    assert_eq!(f.details, ["content_type:xml"]);
}

#[test]
fn onboard_this_api_only_while_discovered() {
    let f = api_findings("t", "api.example", ApiState::Discovered, 7);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].evidence["unprotected_requests_seen"]),
        (Kind::OnboardApi, 7)
    );
    assert!(api_findings("t", "api.example", ApiState::Onboarded, 7).is_empty());
}

#[test]
fn scores_follow_the_formula() {
    let f = |kind, endpoint: &str| Finding::new("t", kind, "h", "GET", endpoint);
    // One endpoint: high 40 + low 5 → 55; another: medium 20 + informational 1 → 79.
    let open = [
        f(Kind::Zombie, "/a"),
        f(Kind::Drift, "/a"),
        f(Kind::Shadow, "/b"),
        f(Kind::Inactive, "/b"),
    ];
    assert_eq!(endpoint_score(&open[..2]), 55);
    // Four endpoints scored, two clean: (55 + 79 + 100 + 100) / 4 = 83 (rounded down).
    assert_eq!(api_score(&open, 4), 83);
    // The API-wide "onboard this API" (medium) comes off the mean.
    let mut with_onboard = open.to_vec();
    with_onboard.push(Finding::new("t", Kind::OnboardApi, "h", "", ""));
    assert_eq!(api_score(&with_onboard, 4), 63);
    // Endpoints with findings always count, even if fewer endpoints were passed.
    assert_eq!(api_score(&open, 0), (55 + 79) / 2);
    assert_eq!(api_score(&[], 0), 100);
    let many: Vec<Finding> = (0..3).map(|_| f(Kind::Unauthenticated, "/x")).collect();
    assert_eq!(endpoint_score(&many), 0, "floored at 0");
    // Request-weighted mean: (100 × 300 + 40 × 100) / 400 = 85; an idle API weighs 1.
    let apis: BTreeMap<String, (u32, u64)> =
        [("a".to_owned(), (100, 300)), ("b".to_owned(), (40, 100))].into();
    assert_eq!(tenant_score(&apis), 85);
    let idle: BTreeMap<String, (u32, u64)> =
        [("a".to_owned(), (100, 0)), ("b".to_owned(), (50, 0))].into();
    assert_eq!(tenant_score(&idle), 75);
    assert_eq!(tenant_score(&BTreeMap::new()), 100);
}

#[test]
fn probes_of_paths_that_do_not_exist_are_not_endpoints() {
    // A scanner's one-off path, answered 404 from a public address: no shadow, no exposure.
    let mut probe = clean();
    probe.summary.auth_present = 0;
    probe.summary.statuses = [(404, 100)].into();
    probe.summary.public_client_requests = 100;
    let shadow = SpecJudgement {
        class: Some(Class::Shadow),
        ..Default::default()
    };
    assert_eq!(kinds_with(&with_peak(probe.clone(), 10_000), &shadow), []);
    // The same path answering 200 once is an endpoint.
    probe.summary.statuses.insert(200, 1);
    let k = kinds_with(&probe, &shadow);
    assert!(
        k.contains(&Kind::Shadow) && k.contains(&Kind::ExternallyExposed),
        "{k:?}"
    );
}

#[test]
fn reports_filter_order_and_score_per_api() {
    use super::finding::{FindingRecord, FindingStatus, Severity};
    use super::report::{FindingFilter, report, select};
    use crate::store::findings::{ApiSnapshot, PostureSnapshot};
    let rec = |kind, host: &str, endpoint: &str, status| FindingRecord {
        finding: Finding::new(
            "t",
            kind,
            host,
            if endpoint.is_empty() { "" } else { "GET" },
            endpoint,
        ),
        status,
        first_seen_ms: 1,
        last_seen_ms: 2,
        resolved_ms: 0,
    };
    let records = vec![
        rec(Kind::Drift, "a", "/x", FindingStatus::Open),
        rec(Kind::Zombie, "a", "/y", FindingStatus::Open),
        rec(Kind::Shadow, "b", "/z", FindingStatus::Open),
        rec(Kind::OnboardApi, "b", "", FindingStatus::Open),
        rec(Kind::Plaintext, "b", "/z", FindingStatus::Resolved),
    ];
    // Most severe first; filters by API, kind, minimum severity and status.
    let open = FindingFilter {
        status: Some(FindingStatus::Open),
        ..Default::default()
    };
    let kinds: Vec<Kind> = select(records.clone(), &open)
        .iter()
        .map(|r| r.finding.kind)
        .collect();
    assert_eq!(
        kinds,
        [Kind::Zombie, Kind::OnboardApi, Kind::Shadow, Kind::Drift]
    );
    let medium_b = FindingFilter {
        api: Some("b".into()),
        min_severity: Some(Severity::Medium),
        status: None,
        ..Default::default()
    };
    assert_eq!(select(records.clone(), &medium_b).len(), 3);
    let resolved = FindingFilter {
        kind: Some(Kind::Plaintext),
        status: Some(FindingStatus::Resolved),
        ..Default::default()
    };
    assert_eq!(select(records.clone(), &resolved).len(), 1);
    let snap = |requests, endpoints| ApiSnapshot {
        requests,
        state: "onboarded".into(),
        endpoints,
    };
    let snapshot = PostureSnapshot {
        evaluated_ms: 9,
        apis: [
            ("a".to_owned(), snap(300, 4)),
            ("b".to_owned(), snap(100, 1)),
            ("c".to_owned(), snap(0, 2)),
        ]
        .into(),
    };
    let r = report(records.clone(), &snapshot, None, 2);
    // a: (95 + 60 + 100 + 100) / 4 = 88; b: 80 − 20 = 60; c: 100.
    let scores: Vec<(String, u32)> = r.apis.iter().map(|a| (a.api.clone(), a.score)).collect();
    assert_eq!(
        scores,
        [("a".into(), 88), ("b".into(), 60), ("c".into(), 100)]
    );
    // (88 × 300 + 60 × 100 + 100 × 1) / 401 = 81.
    assert_eq!(r.score, 81);
    assert_eq!((r.top.len(), r.resolved, r.evaluated_ms), (2, 1, 9));
    assert_eq!(
        (r.by_severity["high"], r.by_kind["shadow_endpoint"]),
        (1, 1)
    );
    // One API: its own score, its own findings.
    let b = report(records, &snapshot, Some("b"), 10);
    assert_eq!(
        (b.score, b.apis.len(), b.top.len(), b.resolved),
        (60, 1, 2, 1)
    );
}

#[test]
fn traffic_findings_end_once_newer_traffic_is_clean() {
    // Two weeks of unauthenticated 200s over plain HTTP, then two clean weeks: the
    // lifetime aggregate still holds the old requests, the findings do not.
    let summary = |ts: i64, auth_present, plaintext| EndpointSummary {
        requests: 10,
        auth_present,
        plaintext_requests: plaintext,
        statuses: [(200, 10)].into(),
        first_seen_ms: ts,
        last_seen_ms: ts,
        ..Default::default()
    };
    let start = NOW - 40 * DAY;
    let mut rec = EndpointRecord::default();
    rec.absorb(&summary(start, 0, 10), "s", 1_000);
    rec.absorb(&summary(start + 7 * DAY, 0, 10), "s", 1_000);
    let k = kinds(&rec);
    assert!(
        k.contains(&Kind::Unauthenticated) && k.contains(&Kind::Plaintext),
        "{k:?}"
    );
    // One clean week later the previous week still counts.
    rec.absorb(&summary(start + 14 * DAY, 10, 0), "s", 1_000);
    assert!(kinds(&rec).contains(&Kind::Unauthenticated));
    rec.absorb(
        &summary(start + 21 * DAY + EVIDENCE_BUCKET_MS / 2, 10, 0),
        "s",
        1_000,
    );
    assert_eq!(kinds(&rec), [], "{:?}", rec.evidence);
    assert_eq!(
        rec.summary.plaintext_requests, 20,
        "the lifetime aggregate keeps them"
    );
}
