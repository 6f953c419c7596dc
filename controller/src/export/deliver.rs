//! One destination's delivery task: follows the tenant's alert log from the stored cursor,
//! skips what the filter refuses (advancing the cursor), POSTs each other entry as a signed
//! CloudEvent until it is answered 2xx (backoff with jitter between attempts, forever), and
//! stores the cursor after every success. The event id is fixed by (tenant, cursor), so a
//! retry or a redelivery after a crash repeats the same id.

use super::backoff::{Jitter, delay};
use super::webhooks::filter_of;
use super::{Exports, blocking, event};
use crate::store::alert_query::LogBounds;
use crate::store::alerts::AlertLogRecord;
use crate::store::webhooks::{DeliveryState, WebhookRecord};
use picket_shared::TenantId;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Log entries read per store call.
const PAGE: usize = 64;
/// How long a caught-up task waits for an announcement before looking again (announcements
/// can be missed when nothing new was flushed; the log is the truth).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Pause after a store error before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Longest error text kept in the delivery state.
const MAX_ERROR_CHARS: usize = 300;

/// Whether the destination still exists (false: its task ends).
type Alive = bool;

pub(super) async fn run(ex: Arc<Exports>, tenant: TenantId, rec: WebhookRecord) {
    let mut feed = ex.state.analysis.subscribe(&tenant);
    let mut jitter = Jitter::default();
    let filter = filter_of(&rec);
    let (db, t, id) = (ex.state.db.clone(), tenant.clone(), rec.id.clone());
    let mut st = loop {
        let (db, t, id) = (db.clone(), t.clone(), id.clone());
        match blocking(move || Ok(db.delivery_state(&t, &id)?)).await {
            Ok(st) => break st,
            Err(e) => {
                tracing::warn!(%tenant, id = %rec.id, error = %e, "webhook: reading the cursor failed");
                tokio::time::sleep(STORE_RETRY).await;
            }
        }
    };
    loop {
        let (db, t, from) = (ex.state.db.clone(), tenant.clone(), st.cursor);
        let read = blocking(move || {
            Ok((
                db.alert_log_bounds(&t)?,
                db.alert_log_after(&t, from, PAGE)?,
            ))
        });
        let (bounds, page) = match read.await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%tenant, id = %rec.id, error = %e, "webhook: reading the alert log failed");
                tokio::time::sleep(STORE_RETRY).await;
                continue;
            }
        };
        let mut dirty = skip_purged(
            &ex,
            &tenant,
            &rec,
            &mut st,
            bounds,
            page.first().map(|(c, _)| *c),
        );
        if page.is_empty() {
            if dirty && !save(&ex, &tenant, &rec.id, &st).await {
                return;
            }
            let _ = tokio::time::timeout(IDLE_POLL, feed.changed()).await;
            continue;
        }
        for (cursor, entry) in page {
            let meta = event::describe(&entry);
            if !filter.passes(&meta) {
                ex.stats.filtered.fetch_add(1, Relaxed);
                st.cursor = cursor;
                dirty = true;
                continue;
            }
            if !deliver(&ex, &tenant, &rec, &mut st, cursor, &entry, &mut jitter).await {
                return;
            }
            dirty = false;
        }
        if dirty && !save(&ex, &tenant, &rec.id, &st).await {
            return;
        }
    }
}

/// Moves the cursor over entries retention removed before they were delivered (counted,
/// logged): the oldest kept is `bounds.purged + 1`, or the first entry read. Returns
/// whether the cursor moved.
fn skip_purged(
    ex: &Exports,
    tenant: &TenantId,
    rec: &WebhookRecord,
    st: &mut DeliveryState,
    bounds: LogBounds,
    first_read: Option<u64>,
) -> bool {
    let oldest_kept = first_read
        .unwrap_or(bounds.purged + 1)
        .max(bounds.purged + 1);
    let lost = oldest_kept.saturating_sub(st.cursor + 1);
    if lost > 0 && st.cursor < bounds.last {
        ex.stats.skipped_retention.fetch_add(lost, Relaxed);
        tracing::warn!(%tenant, id = %rec.id, from = st.cursor + 1, lost, "webhook: alert-log entries were purged by retention before delivery; skipping them");
        st.cursor = oldest_kept - 1;
        return true;
    }
    false
}

/// Delivers one entry until a 2xx answer, storing the outcome of each attempt. Returns
/// false when the destination was deleted meanwhile.
async fn deliver(
    ex: &Exports,
    tenant: &TenantId,
    rec: &WebhookRecord,
    st: &mut DeliveryState,
    cursor: u64,
    entry: &AlertLogRecord,
    jitter: &mut Jitter,
) -> Alive {
    let body = event::build(&ex.source, tenant, cursor, entry, ex.render);
    loop {
        let now = ex.state.now_ms();
        let error = match ex.post(rec, body.clone(), now).await {
            Ok(a) if (200..300).contains(&a.status) => {
                ex.stats.delivered.fetch_add(1, Relaxed);
                st.cursor = cursor;
                st.last_success_ms = ex.state.now_ms();
                st.last_error.clear();
                st.failing_attempts = 0;
                return save(ex, tenant, &rec.id, st).await;
            }
            Ok(a) => {
                ex.stats.fail(match a.status {
                    300..=399 => "status_3xx",
                    400..=499 => "status_4xx",
                    _ => "status_5xx",
                });
                format!("answered {}: {}", a.status, a.body_start)
            }
            Err(e) => e,
        };
        st.failing_attempts = st.failing_attempts.saturating_add(1);
        st.last_error = error.chars().take(MAX_ERROR_CHARS).collect();
        st.last_error_ms = now;
        let wait = delay(
            st.failing_attempts,
            ex.webhooks.max_backoff(),
            jitter.sample(),
        );
        tracing::debug!(%tenant, id = %rec.id, cursor, attempts = st.failing_attempts, error = %st.last_error, ?wait, "webhook delivery failed; retrying");
        if !save(ex, tenant, &rec.id, st).await {
            return false;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Stores the delivery state (retrying store errors). Returns false when the destination
/// no longer exists.
async fn save(ex: &Exports, tenant: &TenantId, id: &str, st: &DeliveryState) -> Alive {
    loop {
        let (db, t, i, s) = (
            ex.state.db.clone(),
            tenant.clone(),
            id.to_owned(),
            st.clone(),
        );
        match blocking(move || Ok(db.put_delivery_state(&t, &i, &s)?)).await {
            Ok(alive) => return alive,
            Err(e) => {
                tracing::warn!(%tenant, %id, error = %e, "webhook: storing the cursor failed");
                tokio::time::sleep(STORE_RETRY).await;
            }
        }
    }
}
