//! State shared by the controller's gRPC services.

use crate::config::Limits;
use crate::store::Db;
use picket_shared::TenantId;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};

/// Ingest counters (logged; exported as metrics once telemetry lands).
#[derive(Debug, Default)]
pub struct IngestStats {
    pub batches_committed: AtomicU64,
    pub batches_duplicate: AtomicU64,
    pub requests_committed: AtomicU64,
    /// Endpoint summaries dropped because a field was invalid.
    pub entries_rejected: AtomicU64,
    pub streams_rejected: AtomicU64,
}

pub struct State {
    pub db: Db,
    pub limits: Limits,
    pub ingest: IngestStats,
    /// Open ingest streams per (tenant, sensor id).
    connected: Mutex<HashMap<(TenantId, String), u32>>,
}

impl State {
    pub fn new(db: Db, limits: Limits) -> Self {
        Self {
            db,
            limits,
            ingest: IngestStats::default(),
            connected: Mutex::new(HashMap::new()),
        }
    }

    pub fn stream_opened(&self, tenant: &TenantId, sensor: &str) {
        let mut m = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *m.entry((tenant.clone(), sensor.to_owned())).or_default() += 1;
    }

    pub fn stream_closed(&self, tenant: &TenantId, sensor: &str) {
        let mut m = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (tenant.clone(), sensor.to_owned());
        if let Some(n) = m.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&key);
            }
        }
    }

    pub fn is_connected(&self, tenant: &TenantId, sensor: &str) -> bool {
        let m = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        m.contains_key(&(tenant.clone(), sensor.to_owned()))
    }

    /// Clamps a requested page size to the server's limits (0 means the default of 100).
    pub fn page_size(&self, requested: u32) -> usize {
        let size = if requested == 0 { 100 } else { requested };
        size.min(self.limits.max_page_size) as usize
    }
}

/// Current wall-clock time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
