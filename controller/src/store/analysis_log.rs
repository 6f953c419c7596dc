//! The analysis log: what each committed batch hands on to threat analysis, appended in the
//! batch's own transaction under a global sequence, and consumed (deleted) by the analysis
//! worker in the transaction that stores the analysis result. A batch is thus analyzed
//! exactly once: after a crash its entry is still there (not yet analyzed) or gone together
//! with everything its analysis wrote.
//!
//! Entries are JSON (the store's one record encoding): a batch's analyzable part is bounded
//! by the wire limits, and the cost of encoding it is small next to applying the batch.

use super::db::{Db, read_u64};
use super::records::decode;
use super::{Result, Tree, Txn, keys};
use picket_shared::{ActorSummary, EndpointKey, EndpointSummary, NotableEvent, TenantId};
use serde::{Deserialize, Serialize};

/// A budget threshold the batch crossed, to be announced on the tenant's alert stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingNotice {
    /// Start of the billing cycle (Unix ms).
    pub cycle_start_ms: i64,
    /// The threshold crossed, in percent of the included calls.
    pub threshold_pct: u32,
}

/// One committed batch's analyzable part (owned, as read back).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogEntry {
    pub tenant: String,
    pub sensor: String,
    /// Controller clock at commit.
    pub arrival_ms: i64,
    pub window_ms: u32,
    pub endpoints: Vec<(EndpointKey, EndpointSummary)>,
    pub actors: Vec<ActorSummary>,
    pub notables: Vec<NotableEvent>,
    pub billing: Vec<BillingNotice>,
}

/// The same, borrowed from the batch being committed (serializes exactly like [`LogEntry`]).
#[derive(Debug, Serialize)]
pub struct LogEntryRef<'a> {
    pub tenant: &'a str,
    pub sensor: &'a str,
    pub arrival_ms: i64,
    pub window_ms: u32,
    pub endpoints: Vec<&'a (EndpointKey, EndpointSummary)>,
    pub actors: &'a [ActorSummary],
    pub notables: &'a [NotableEvent],
    pub billing: Vec<BillingNotice>,
}

impl LogEntryRef<'_> {
    /// Whether the entry carries anything for analysis or the alert stream.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
            && self.actors.is_empty()
            && self.notables.is_empty()
            && self.billing.is_empty()
    }
}

/// Appends an entry inside the batch's transaction; returns its sequence.
pub(super) fn append_in_txn(txn: &mut dyn Txn, entry: &LogEntryRef<'_>) -> Result<u64> {
    let seq = txn
        .get(Tree::Meta, keys::META_ANALYSIS_APPENDED)?
        .map_or(0, |raw| read_u64(&raw))
        + 1;
    let value = serde_json::to_vec(entry).map_err(|e| super::StoreError::Corrupt {
        tree: Tree::AnalysisLog.name(),
        detail: e.to_string(),
    })?;
    txn.put(Tree::AnalysisLog, &keys::analysis_log(seq), &value)?;
    txn.put(Tree::Meta, keys::META_ANALYSIS_APPENDED, &seq.to_be_bytes())?;
    Ok(seq)
}

/// An entry read back: its sequence and content, or why it could not be decoded.
pub type Pending = (u64, Result<LogEntry>);

impl Db {
    /// Sequence of the newest entry appended (0 when none).
    pub fn analysis_appended(&self) -> Result<u64> {
        Ok(self
            .kv
            .get(Tree::Meta, keys::META_ANALYSIS_APPENDED)?
            .map_or(0, |raw| read_u64(&raw)))
    }

    /// Sequence of the newest entry analyzed (0 when none): the worker's durable cursor.
    pub fn analysis_done(&self) -> Result<u64> {
        Ok(self
            .kv
            .get(Tree::Meta, keys::META_ANALYSIS_DONE)?
            .map_or(0, |raw| read_u64(&raw)))
    }

    /// Entries after `after`, in sequence order, at most `limit`.
    pub fn analysis_pending(&self, after: u64, limit: usize) -> Result<Vec<Pending>> {
        let start = keys::analysis_log(after);
        let rows = self.kv.scan(Tree::AnalysisLog, b"", Some(&start), limit)?;
        Ok(rows
            .into_iter()
            .map(|(k, v)| (read_u64(&k), decode(Tree::AnalysisLog, &v)))
            .collect())
    }

    /// Consumes an entry without analyzing it (it cannot be decoded or names no valid tenant):
    /// advances the cursor past it and deletes it.
    pub fn skip_analysis(&self, seq: u64) -> Result<()> {
        self.kv.transact(&|txn| {
            let done = txn
                .get(Tree::Meta, keys::META_ANALYSIS_DONE)?
                .map_or(0, |raw| read_u64(&raw));
            if seq > done {
                txn.put(Tree::Meta, keys::META_ANALYSIS_DONE, &seq.to_be_bytes())?;
            }
            txn.delete(Tree::AnalysisLog, &keys::analysis_log(seq))
        })
    }

    /// Engine state of a tenant, tenant-relative keys, in key order.
    pub fn detect_state(&self, tenant: &TenantId) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        const PAGE: usize = 1024;
        let prefix = keys::tenant_prefix(tenant);
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self
                .kv
                .scan(Tree::DetectState, &prefix, after.as_deref(), PAGE)?;
            let done = rows.len() < PAGE;
            for (k, v) in rows {
                out.push((k[prefix.len()..].to_vec(), v));
                after = Some(k);
            }
            if done {
                return Ok(out);
            }
        }
    }
}

/// The entry's tenant, when its name is valid.
pub fn entry_tenant(entry: &LogEntry) -> Option<TenantId> {
    TenantId::new(&entry.tenant).ok()
}
