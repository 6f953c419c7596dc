//! Background upkeep: re-evaluates analysis pauses (a new cycle lifts a cap without any
//! traffic), reloads changed threat-intelligence files, prunes usage history, notable
//! events and alerts beyond their retention windows, and retires superseded watermarks
//! (`store::growth`).

use crate::analysis::intel::IntelFiles;
use crate::metering::cycle::{Cycle, DAY_MS, day_of};
use crate::state::State;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Watermarks retired (superseded epochs pruned) since the controller started.
pub static WATERMARKS_RETIRED: AtomicU64 = AtomicU64::new(0);
/// Epochs retired at a hello because their sensor held `inventory.max_epochs_per_sensor`.
pub static EPOCHS_TRIMMED: AtomicU64 = AtomicU64::new(0);

/// How often pause states are re-evaluated.
pub const PAUSE_CHECK_INTERVAL: Duration = Duration::from_secs(15);
/// How often threat-intelligence files are checked for changes (modification time, length).
pub const INTEL_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// How often token last-used times are saved (each token at most once a minute anyway).
pub const TOKEN_USE_INTERVAL: Duration = Duration::from_secs(60);
/// How often usage history is pruned.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

pub async fn run(state: Arc<State>, intel: IntelFiles) {
    let mut pause_tick = tokio::time::interval(PAUSE_CHECK_INTERVAL);
    let mut prune_tick = tokio::time::interval(PRUNE_INTERVAL);
    let mut intel_tick = tokio::time::interval(INTEL_CHECK_INTERVAL);
    let mut token_use_tick = tokio::time::interval(TOKEN_USE_INTERVAL);
    let intel = Arc::new(std::sync::Mutex::new(intel));
    loop {
        tokio::select! {
            _ = intel_tick.tick() => {
                let (st, files) = (state.clone(), intel.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    let mut f = files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    reload_intel(&st, &mut f);
                }).await;
            }
            _ = pause_tick.tick() => {
                let st = state.clone();
                let _ = tokio::task::spawn_blocking(move || refresh_pauses(&st)).await;
            }
            _ = token_use_tick.tick() => {
                let st = state.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = st.tokens.persist(&st.db, false) {
                        tracing::warn!(error = %e, "saving token last-used times failed");
                    }
                }).await;
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

/// Reloads the threat-intelligence files when one changed; on failure the lists in force stay.
pub fn reload_intel(state: &State, files: &mut IntelFiles) {
    match files.reload() {
        None => {}
        Some(Ok(intel)) => {
            state.analysis.set_intel(intel);
            tracing::info!("threat-intelligence files reloaded");
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "threat-intelligence reload failed; keeping the lists in force");
        }
    }
}

/// Deletes a tenant's alerts and incidents not seen within the alert retention, and their
/// log entries.
fn prune_alerts(state: &State, tenant: &picket_shared::TenantId) {
    let cutoff = state
        .now_ms()
        .saturating_sub(i64::from(state.detection.alert_retention_days) * DAY_MS);
    match state.db.purge_alerts(tenant, cutoff) {
        Ok((0, 0)) => {}
        Ok((alerts, changes)) => {
            tracing::info!(tenant = %tenant, alerts, changes, "pruned alerts past retention");
        }
        Err(e) => tracing::warn!(tenant = %tenant, error = %e, "pruning alerts failed"),
    }
    match state.db.purge_incidents(tenant, cutoff) {
        Ok(0) => {}
        Ok(incidents) => {
            tracing::info!(tenant = %tenant, incidents, "pruned incidents past retention");
        }
        Err(e) => tracing::warn!(tenant = %tenant, error = %e, "pruning incidents failed"),
    }
}

/// Retires a tenant's superseded, idle watermarks (`inventory.watermark_idle_hours`).
pub fn prune_watermarks(state: &State, tenant: &picket_shared::TenantId) {
    let idle_ms = state.inventory.watermark_idle_ms();
    let streaming = |sensor: &picket_shared::SensorId, epoch: u64| {
        state.is_streaming(tenant, sensor.as_str(), epoch)
    };
    match state
        .db
        .prune_watermarks(tenant, state.now_ms(), idle_ms, &streaming)
    {
        Ok(p) if p.retired == 0 && p.stamped == 0 => {}
        Ok(p) => {
            WATERMARKS_RETIRED.fetch_add(p.retired as u64, Relaxed);
            tracing::info!(tenant = %tenant, retired = p.retired, stamped = p.stamped, "pruned superseded watermarks");
        }
        Err(e) => tracing::warn!(tenant = %tenant, error = %e, "pruning watermarks failed"),
    }
}

/// Deletes audit entries older than [`crate::audit::RETENTION_DAYS`].
fn prune_audit(state: &State) {
    let cutoff = state
        .now_ms()
        .saturating_sub(crate::audit::RETENTION_DAYS * DAY_MS);
    match state.db.purge_audit(cutoff) {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "pruned audit entries past retention"),
        Err(e) => tracing::warn!(error = %e, "pruning audit entries failed"),
    }
}

/// Deletes usage records older than the retention window, for every tenant, and audit
/// entries past theirs.
pub fn prune(state: &State) {
    prune_audit(state);
    let keep_from =
        Cycle::containing(state.now_ms()).back(state.policy.history_cycles.saturating_sub(1));
    let tenants = match state.db.list_tenants() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "listing tenants for pruning failed");
            return;
        }
    };
    let keep_notables_from = state
        .now_ms()
        .saturating_sub(i64::from(state.limits.notable_retention_days) * DAY_MS);
    for t in tenants {
        prune_alerts(state, &t.name);
        prune_watermarks(state, &t.name);
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
