//! Background upkeep: re-evaluates analysis pauses (a new cycle lifts a cap without any
//! traffic) and prunes usage history beyond the retention window.

use crate::metering::cycle::{Cycle, day_of};
use crate::state::State;
use std::sync::Arc;
use std::time::Duration;

/// How often pause states are re-evaluated.
pub const PAUSE_CHECK_INTERVAL: Duration = Duration::from_secs(15);
/// How often usage history is pruned.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

pub async fn run(state: Arc<State>) {
    let mut pause_tick = tokio::time::interval(PAUSE_CHECK_INTERVAL);
    let mut prune_tick = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = pause_tick.tick() => {
                let st = state.clone();
                let _ = tokio::task::spawn_blocking(move || refresh_pauses(&st)).await;
            }
            _ = prune_tick.tick() => {
                let st = state.clone();
                let _ = tokio::task::spawn_blocking(move || prune(&st)).await;
            }
        }
    }
}

/// Re-publishes the pause state of every tenant with watchers.
pub fn refresh_pauses(state: &State) {
    for tenant in state.paused_tenants() {
        match state.refresh_pause(&tenant) {
            Ok(()) => {}
            Err(e) => tracing::warn!(tenant = %tenant, error = %e, "pause re-evaluation failed"),
        }
    }
}

/// Deletes usage records older than the retention window, for every tenant.
pub fn prune(state: &State) {
    let keep_from =
        Cycle::containing(state.now_ms()).back(state.policy.history_cycles.saturating_sub(1));
    let tenants = match state.db.list_tenants() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "listing tenants for pruning failed");
            return;
        }
    };
    let keep_notables_from = state.now_ms().saturating_sub(
        i64::from(state.limits.notable_retention_days) * crate::metering::cycle::DAY_MS,
    );
    for t in tenants {
        match state.db.prune_notables(&t.name, keep_notables_from) {
            Ok(0) => {}
            Ok(n) => tracing::info!(tenant = %t.name, removed = n, "pruned notable events"),
            Err(e) => tracing::warn!(tenant = %t.name, error = %e, "pruning notable events failed"),
        }
        match state
            .db
            .prune_usage(&t.name, keep_from.start_ms, day_of(keep_from.start_ms))
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(tenant = %t.name, removed = n, "pruned usage history"),
            Err(e) => tracing::warn!(tenant = %t.name, error = %e, "pruning usage history failed"),
        }
    }
}
