//! Posture scores.
//!
//! **Formula.** Weights by severity: high 40, medium 20, low 5, informational 1.
//! - An endpoint's score is `100 − Σ weight` over its open findings, floored at 0.
//! - An API's score is the mean of its scored endpoints' scores (endpoints known to exist or
//!   with a finding; those without a finding score 100), rounded down, minus the weights of
//!   the API-wide findings (`onboard_api`), floored at 0. An API without scored endpoints
//!   starts from 100.
//! - The tenant's score is the mean of its APIs' scores weighted by each API's lifetime
//!   requests (each API weighs at least 1, so an API without traffic still counts), rounded
//!   down; 100 when it has no API.
//!
//! So a score reads as "how much of the API is in good shape": one unauthenticated endpoint
//! among twenty costs two points, every endpoint unauthenticated costs forty.

use super::finding::{Finding, weight};
use std::collections::BTreeMap;

/// The score of one endpoint from its open findings.
pub fn endpoint_score<'a>(open: impl IntoIterator<Item = &'a Finding>) -> u32 {
    let deducted = open
        .into_iter()
        .fold(0u32, |n, f| n.saturating_add(weight(f.severity)));
    100u32.saturating_sub(deducted)
}

/// The score of one API from its open findings (endpoint and API-wide) and the number of
/// endpoints scored.
pub fn api_score<'a>(open: impl IntoIterator<Item = &'a Finding>, endpoints: u64) -> u32 {
    let mut per_endpoint: BTreeMap<(&str, &str), Vec<&Finding>> = BTreeMap::new();
    let mut api_wide = 0u32;
    for f in open {
        if f.endpoint.is_empty() {
            api_wide = api_wide.saturating_add(weight(f.severity));
        } else {
            per_endpoint
                .entry((f.method.as_str(), f.endpoint.as_str()))
                .or_default()
                .push(f);
        }
    }
    // Endpoints with a finding are always scored, even if the count passed is short.
    let endpoints = endpoints.max(per_endpoint.len() as u64);
    let base = if endpoints == 0 {
        100
    } else {
        let clean = endpoints - per_endpoint.len() as u64;
        let sum: u64 = per_endpoint
            .values()
            .map(|fs| u64::from(endpoint_score(fs.iter().copied())))
            .sum::<u64>()
            + 100 * clean;
        // A mean of values ≤ 100 is ≤ 100.
        u32::try_from(sum / endpoints).unwrap_or(100)
    };
    base.saturating_sub(api_wide)
}

/// The tenant's score from its APIs' `(score, requests)`.
pub fn tenant_score(apis: &BTreeMap<String, (u32, u64)>) -> u32 {
    let (mut sum, mut weight) = (0u128, 0u128);
    for (score, requests) in apis.values() {
        let w = u128::from((*requests).max(1));
        sum += u128::from(*score) * w;
        weight += w;
    }
    if weight == 0 {
        return 100;
    }
    // A weighted mean of values ≤ 100 is ≤ 100, so the conversion cannot fail.
    u32::try_from(sum / weight).unwrap_or(100)
}
