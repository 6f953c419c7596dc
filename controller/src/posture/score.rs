//! Posture scores.
//!
//! **Formula.** An API's score is `100 − Σ weight(severity)` over its open findings, floored
//! at 0, with weights high 20, medium 10, low 4, informational 1. The tenant's score is the
//! mean of its APIs' scores weighted by each API's lifetime requests (each API weighs at least
//! 1, so an API without traffic still counts), rounded down; 100 when it has no API.

use super::finding::Finding;
use std::collections::BTreeMap;

/// The score of one API from its open findings.
pub fn api_score<'a>(open: impl IntoIterator<Item = &'a Finding>) -> u32 {
    let deducted = open
        .into_iter()
        .fold(0u32, |n, f| n.saturating_add(f.severity.weight()));
    100u32.saturating_sub(deducted)
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
