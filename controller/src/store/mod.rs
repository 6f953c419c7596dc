//! Storage: a small key-value contract ([`Store`]) with two implementations — sled on disk
//! for production ([`sled_store::SledStore`]) and an in-memory map for unit tests
//! ([`memory::MemoryStore`]) — and [`Db`], the typed, tenant-scoped layer every other module
//! uses. All record logic lives in `Db`, once, whatever the backend.

pub mod alert_query;
pub mod alerts;
pub mod analysis_commit;
pub mod analysis_log;
pub mod apis;
pub mod audit_log;
pub mod batch;
pub mod billing;
pub mod bounds;
pub mod db;
pub mod evidence;
pub mod findings;
pub mod growth;
pub mod incident_records;
pub mod incidents;
pub mod keys;
pub mod memory;
pub mod records;
pub mod sled_store;
pub mod specs;
pub mod suppressions;
mod time_index;
pub mod webhooks;

pub use batch::Applied;
pub use db::Db;
pub use records::{EndpointRecord, NotableRecord, SensorRecord, TenantRecord, TokenRecord};

/// The trees (keyspaces) of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    Tenants,
    Tokens,
    Sensors,
    Endpoints,
    Watermarks,
    Billing,
    CycleUsage,
    DayUsage,
    Notifications,
    Notables,
    /// Global counters and per-tenant markers (analysis sequence and cursor, alert-log
    /// cursors); see `keys::meta_*`.
    Meta,
    /// Committed batches waiting for threat analysis, by global sequence.
    AnalysisLog,
    /// The detection engines' persisted state, per tenant.
    DetectState,
    /// Alert id → its last-seen time (the pointer into `AlertsByTime`).
    Alerts,
    /// Alert records, newest last-seen first.
    AlertsByTime,
    /// Each tenant's alert change stream, by cursor.
    AlertLog,
    /// Suppression rules, per tenant.
    Suppressions,
    /// Imported API specs' metadata, `tenant 0 api` (see `specs`).
    Specs,
    /// Imported API specs' files, `tenant 0 api`, written with their `Specs` entry.
    SpecBundles,
    /// Incident id → its last-seen time (the pointer into `IncidentsByTime`).
    Incidents,
    /// Incident records, newest last-seen first.
    IncidentsByTime,
    /// APIs' onboarding state, `tenant 0 host` (see `apis`).
    Apis,
    /// Posture findings, `tenant 0 finding id` (see `findings`).
    Findings,
    /// Webhook destinations, `tenant 0 id` (see `webhooks`).
    Webhooks,
    /// Alert-export cursors: webhook delivery states and the file sink's, per tenant.
    ExportCursors,
    /// Token id → when it was last used (sortable i64 ms), written at most once a minute.
    TokenUse,
    /// The audit log: `tenant 0 time(sortable) seq(be64)` → entry (see `audit_log`).
    Audit,
    /// Inventory counts the caps are checked against: `tenant 0` → counts, `tenant 0 host` →
    /// the host's endpoint count (see `bounds`).
    Inventory,
    /// When each watermark last moved, same keys as `Watermarks` (sortable i64 ms): kept
    /// apart so the watermark values stay the 8-byte seq older controllers read.
    WatermarkTimes,
}

impl Tree {
    /// Every tree, in discriminant order (backends index by `tree as usize`).
    pub const ALL: [Tree; 29] = [
        Tree::Tenants,
        Tree::Tokens,
        Tree::Sensors,
        Tree::Endpoints,
        Tree::Watermarks,
        Tree::Billing,
        Tree::CycleUsage,
        Tree::DayUsage,
        Tree::Notifications,
        Tree::Notables,
        Tree::Meta,
        Tree::AnalysisLog,
        Tree::DetectState,
        Tree::Alerts,
        Tree::AlertsByTime,
        Tree::AlertLog,
        Tree::Suppressions,
        Tree::Specs,
        Tree::SpecBundles,
        Tree::Incidents,
        Tree::IncidentsByTime,
        Tree::Apis,
        Tree::Findings,
        Tree::Webhooks,
        Tree::ExportCursors,
        Tree::TokenUse,
        Tree::Audit,
        Tree::Inventory,
        Tree::WatermarkTimes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tree::Tenants => "tenants",
            Tree::Tokens => "tokens",
            Tree::Sensors => "sensors",
            Tree::Endpoints => "endpoints",
            Tree::Watermarks => "watermarks",
            Tree::Billing => "billing",
            Tree::CycleUsage => "cycle_usage",
            Tree::DayUsage => "day_usage",
            Tree::Notifications => "notifications",
            Tree::Notables => "notables",
            Tree::Meta => "meta",
            Tree::AnalysisLog => "analysis_log",
            Tree::DetectState => "detect_state",
            Tree::Alerts => "alerts",
            Tree::AlertsByTime => "alerts_by_time",
            Tree::AlertLog => "alert_log",
            Tree::Suppressions => "suppressions",
            Tree::Specs => "specs",
            Tree::SpecBundles => "spec_bundles",
            Tree::Incidents => "incidents",
            Tree::IncidentsByTime => "incidents_by_time",
            Tree::Apis => "apis",
            Tree::Findings => "findings",
            Tree::Webhooks => "webhooks",
            Tree::ExportCursors => "export_cursors",
            Tree::TokenUse => "token_use",
            Tree::Audit => "audit",
            Tree::Inventory => "inventory",
            Tree::WatermarkTimes => "watermark_times",
        }
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("corrupt {tree} record: {detail}")]
    Corrupt { tree: &'static str, detail: String },
    /// A transaction conflicted and must be retried by the backend.
    #[error("transaction conflict")]
    Conflict,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Reads and writes inside one atomic transaction.
pub trait Txn {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>>;
    fn put(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()>;
    fn delete(&mut self, tree: Tree, key: &[u8]) -> Result<()>;
}

/// Ordered key-value storage with multi-tree transactions.
pub trait Store: Send + Sync + 'static {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>>;
    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()>;
    fn delete(&self, tree: Tree, key: &[u8]) -> Result<()>;
    /// Entries whose key starts with `prefix` and is strictly greater than `after` (when
    /// given), in key order, at most `limit`.
    fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Runs `f` atomically across trees; the backend may run it more than once on conflict,
    /// so `f` must have no side effects besides the transaction.
    fn transact(&self, f: &dyn Fn(&mut dyn Txn) -> Result<()>) -> Result<()>;
    /// Applies puts (`Some`) and deletions (`None`) to one tree atomically: all or none
    /// survive a crash. Cheaper than a transaction (no reads, no conflict tracking), for bulk
    /// writes that need atomicity within one tree only.
    fn apply(&self, tree: Tree, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()>;
    /// Makes every completed write durable.
    fn flush(&self) -> Result<()>;
}

#[cfg(test)]
mod alert_tests;
#[cfg(test)]
mod growth_tests;
#[cfg(test)]
mod incident_tests;
