//! What the alert exports report on `/metrics`: counters kept by the tasks, and each
//! tenant's pending webhook events read from the store at scrape time.

use super::webhooks::MAX_WEBHOOKS_PER_TENANT;
use super::{Exports, FAILURE_REASONS};
use picket_runtime::metrics::{Collector, Desc, LabelKey, Registry};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

pub const DELIVERED: Desc = Desc::counter(
    "picket_controller_webhook_delivered_total",
    "Webhook events answered 2xx",
    &[],
);
pub const FAILED: Desc = Desc::counter(
    "picket_controller_webhook_failed_attempts_total",
    "Failed webhook delivery attempts by reason (resolve, refused_address, connect, tls, http, timeout, status_3xx/4xx/5xx); each is retried",
    &[LabelKey::Reason],
);
pub const FILTERED: Desc = Desc::counter(
    "picket_controller_webhook_filtered_total",
    "Alert-log entries a destination's severity or type filter skipped",
    &[],
);
pub const SKIPPED: Desc = Desc::counter(
    "picket_controller_webhook_skipped_retention_total",
    "Alert-log entries retention purged before a destination received them",
    &[],
);
pub const PENDING: Desc = Desc::gauge(
    "picket_controller_webhook_pending_events",
    "Alert-log entries not yet delivered or filtered, summed over the tenant's destinations",
    &[LabelKey::Tenant],
);
pub const FILE_LINES: Desc = Desc::counter(
    "picket_controller_export_file_lines_total",
    "Lines the alert export file sink wrote and synced",
    &[],
);
pub const FILE_ERRORS: Desc = Desc::counter(
    "picket_controller_export_file_errors_total",
    "Failed passes of the alert export file sink (open, write, sync or store errors; retried)",
    &[],
);
pub const FILE_REOPENS: Desc = Desc::counter(
    "picket_controller_export_file_reopens_total",
    "Times the export file was reopened because its path was renamed or removed",
    &[],
);
pub const FILE_SKIPPED: Desc = Desc::counter(
    "picket_controller_export_file_skipped_retention_total",
    "Alert-log entries retention purged before the file sink wrote them",
    &[],
);

/// Registers the exports' scrape-time collector.
pub fn register(registry: &Registry, ex: &Arc<Exports>) {
    let ex = ex.clone();
    registry.collect(move |c| {
        let s = &ex.stats;
        c.counter(&DELIVERED, &[], s.delivered.load(Relaxed));
        for (i, reason) in FAILURE_REASONS.iter().enumerate() {
            c.counter(&FAILED, &[reason], s.failed[i].load(Relaxed));
        }
        c.counter(&FILTERED, &[], s.filtered.load(Relaxed));
        c.counter(&SKIPPED, &[], s.skipped_retention.load(Relaxed));
        c.counter(&FILE_LINES, &[], s.file_lines.load(Relaxed));
        c.counter(&FILE_ERRORS, &[], s.file_errors.load(Relaxed));
        c.counter(&FILE_REOPENS, &[], s.file_reopens.load(Relaxed));
        c.counter(&FILE_SKIPPED, &[], s.file_skipped_retention.load(Relaxed));
        pending(&ex, c);
    });
}

/// Each tenant's pending events (tenants with destinations only; bounded by the series cap).
fn pending(ex: &Exports, c: &mut Collector) {
    let db = &ex.state.db;
    let Ok(tenants) = db.list_tenants() else {
        tracing::warn!("metrics: listing tenants failed");
        return;
    };
    for t in tenants
        .iter()
        .take(picket_runtime::metrics::DEFAULT_MAX_SERIES + 1)
    {
        let Ok(hooks) = db.list_webhooks(&t.name, MAX_WEBHOOKS_PER_TENANT) else {
            continue;
        };
        if hooks.is_empty() {
            continue;
        }
        let last = db.alert_log_bounds(&t.name).map_or(0, |b| b.last);
        let sum: u64 = hooks
            .iter()
            .filter_map(|h| db.delivery_state(&t.name, &h.id).ok())
            .map(|s| last.saturating_sub(s.cursor))
            .sum();
        c.gauge(&PENDING, &[t.name.as_str()], sum as i64);
    }
}
