//! Alerts out: every alert and incident change of a tenant, as a CloudEvents 1.0 JSON event,
//! to webhook destinations (signed, retried, at least once) and to a JSON-lines file.
//!
//! The durable outbox is the tenant's `alert_log` itself plus a persisted cursor per export
//! (`store::webhooks`): a delivery task follows the log from its cursor and advances it only
//! after the receiver answered 2xx (the file sink: after write and fsync), so a restart —
//! even a `kill -9` — resumes from the last acknowledged entry. Entries retention purged
//! before delivery are counted and skipped with a log line.
//!
//! - [`Exports`]: the runtime — one delivery task per destination (`deliver`), the file sink
//!   (`file_sink`), destination management for the `Webhooks` RPCs (`webhooks`), counters.
//! - `event`: entries as CloudEvents; `sign`: the `Picket-Signature` header; `backoff`: retry
//!   delays; `http`: the HTTP/1.1 client (plain or rustls); `url`: destination validation;
//!   `config`: `[webhooks]` and `[export]`; `metrics`: what `/metrics` reports.

pub mod backoff;
pub mod config;
mod deliver;
pub mod event;
mod file_sink;
pub mod http;
pub mod metrics;
pub mod sign;
pub mod url;
pub mod webhooks;

use crate::error::{Error, Result};
use crate::state::State;
use config::{ExportConfig, WebhooksConfig};
use event::RenderData;
use picket_shared::TenantId;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinHandle;

/// Failed-attempt reasons, the label values of the failure counter (a fixed set).
pub const FAILURE_REASONS: [&str; 9] = [
    "resolve",
    "refused_address",
    "connect",
    "tls",
    "http",
    "timeout",
    "status_3xx",
    "status_4xx",
    "status_5xx",
];

/// Export counters, read at scrape time.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Webhook events answered 2xx.
    pub delivered: AtomicU64,
    /// Failed webhook attempts, by [`FAILURE_REASONS`] index.
    pub failed: [AtomicU64; FAILURE_REASONS.len()],
    /// Alert-log entries a destination's filter skipped.
    pub filtered: AtomicU64,
    /// Entries retention purged before a destination delivered them.
    pub skipped_retention: AtomicU64,
    /// Lines the file sink wrote (and synced).
    pub file_lines: AtomicU64,
    /// File sink write or open failures (the batch is retried).
    pub file_errors: AtomicU64,
    /// File reopens after a rename or removal.
    pub file_reopens: AtomicU64,
    /// Entries retention purged before the file sink wrote them.
    pub file_skipped_retention: AtomicU64,
}

impl ExportStats {
    pub(crate) fn fail(&self, reason: &str) {
        let i = FAILURE_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(FAILURE_REASONS.len() - 1);
        self.failed[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The alert exports of one controller.
pub struct Exports {
    pub(crate) state: Arc<State>,
    pub(crate) webhooks: WebhooksConfig,
    /// The `source` name of events.
    pub(crate) source: String,
    pub(crate) render: RenderData,
    pub stats: ExportStats,
    /// Running delivery tasks by (tenant, destination id).
    tasks: Mutex<HashMap<(TenantId, String), JoinHandle<()>>>,
    file_task: Mutex<Option<JoinHandle<()>>>,
    /// Serializes destination changes (the per-tenant cap is checked, then written).
    admin: Mutex<()>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Exports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exports")
            .field("source", &self.source)
            .finish()
    }
}

impl Exports {
    /// Starts a delivery task for every stored destination and, when configured, the file
    /// sink. Must run inside the tokio runtime.
    pub fn start(
        state: Arc<State>,
        webhooks: WebhooksConfig,
        export: &ExportConfig,
        render: RenderData,
    ) -> Result<Arc<Exports>> {
        let ex = Arc::new(Exports {
            source: webhooks.source(),
            state,
            webhooks,
            render,
            stats: ExportStats::default(),
            tasks: Mutex::new(HashMap::new()),
            file_task: Mutex::new(None),
            admin: Mutex::new(()),
            runtime: tokio::runtime::Handle::current(),
        });
        for t in ex.state.db.list_tenants()? {
            for rec in ex
                .state
                .db
                .list_webhooks(&t.name, webhooks::MAX_WEBHOOKS_PER_TENANT)?
            {
                ex.spawn_delivery(t.name.clone(), rec);
            }
        }
        if let Some(path) = &export.alerts_file {
            let task = tokio::spawn(file_sink::run(ex.clone(), path.clone()));
            *ex.file_task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        }
        Ok(ex)
    }

    fn spawn_delivery(
        self: &Arc<Self>,
        tenant: TenantId,
        rec: crate::store::webhooks::WebhookRecord,
    ) {
        let key = (tenant.clone(), rec.id.clone());
        let task = self.runtime.spawn(deliver::run(self.clone(), tenant, rec));
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = tasks.insert(key, task) {
            old.abort();
        }
    }

    fn stop_delivery(&self, tenant: &TenantId, id: &str) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = tasks.remove(&(tenant.clone(), id.to_owned())) {
            t.abort();
        }
    }

    /// Stops every delivery task and the file sink (their progress is already stored).
    pub fn shutdown(&self) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, t) in tasks.drain() {
            t.abort();
        }
        if let Some(t) = self
            .file_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.abort();
        }
    }
}

/// Runs blocking store or file work off the async executor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::Internal(format!("export task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests;
