//! The analysis log: what each committed batch hands on to threat analysis, appended in the
//! batch's own transaction under a global sequence. The analysis worker stores each result
//! with the analysis cursor in one transaction, so no result is stored twice; engine state is
//! checkpointed apart from it (every so many entries, and whenever analysis catches up), and
//! an entry is deleted only once a checkpoint covers it. After a crash the worker restores the
//! checkpointed state and re-runs the entries between the checkpoint and the cursor to
//! rebuild the engines, discarding what they produce (it was stored before).
//!
//! Entries are postcard (compact binary serde), not JSON like the store's other records: an
//! entry carries every summary of its batch, is written once and read once, and on sparse
//! traffic (about one summary per request) its JSON encoding and decoding were a tenth of the
//! whole ingest-and-analysis cost. Nothing outside the controller reads this tree. Postcard
//! is positional, so each entry starts with [`LOG_HEADER`] (a magic and the format version)
//! and a controller decodes the entries of every earlier version (golden files in
//! `store/testdata` pin them): entries an older controller appended and did not analyze
//! before an upgrade are analyzed by the new one. Entries without a header (version 0) were
//! written before headers existed (builds from 2026-11-30, when request media types joined
//! the summaries) and hold the version-1 body; older headerless entries do not decode whole
//! and are skipped as corrupt rather than misread.

use super::db::{Db, read_u64};
use super::{Result, Tree, Txn, keys};
use picket_detect::StateWrite;
use picket_shared::versioned::{DecodeError, Header};
use picket_shared::{ActorSummary, EndpointKey, EndpointSummary, NotableEvent, TenantId};
use serde::{Deserialize, Serialize};

/// The header of an analysis-log entry: `PKAL`, then the version of the body this build
/// writes. A headerless entry (version 0) starts with its tenant name's length, at most 64,
/// never `P` (80).
pub const LOG_HEADER: Header = Header {
    magic: *b"PKAL",
    version: 1,
};

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
    pub notables: Vec<&'a NotableEvent>,
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
    let value = postcard::to_extend(entry, LOG_HEADER.start(512)).map_err(|e| {
        super::StoreError::Corrupt {
            tree: Tree::AnalysisLog.name(),
            detail: e.to_string(),
        }
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
            .map(|(k, v)| (read_u64(&k), decode_entry(&v)))
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

    /// The analysis-log sequence the stored engine state reflects; `None` before the first
    /// checkpoint (state written by a version that stored it with every analysis reflects
    /// the analysis cursor).
    pub fn detect_checkpoint(&self) -> Result<Option<u64>> {
        Ok(self
            .kv
            .get(Tree::DetectState, keys::DETECT_CHECKPOINT)?
            .map(|raw| read_u64(&raw)))
    }

    /// Stores a checkpoint: the engine state writes of every tenant, the incident
    /// correlators' states (`incidents`: tenant and serialized state) and the sequence `upto`
    /// they reflect, atomically (one tree); then deletes the log entries it covers
    /// (`after+1..=upto`; a crash before that leaves them for [`Db::purge_analysis_log`]).
    pub fn save_checkpoint(
        &self,
        writes: Vec<(TenantId, Vec<StateWrite>)>,
        incidents: Vec<(TenantId, Vec<u8>)>,
        after: u64,
        upto: u64,
    ) -> Result<()> {
        let mut batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(
            writes.iter().map(|(_, w)| w.len()).sum::<usize>() + incidents.len() + 1,
        );
        // Moved, not copied: a checkpoint after a burst carries megabytes of state.
        for (tenant, ws) in writes {
            for w in ws {
                batch.push((keys::detect_state(&tenant, &w.key), w.value));
            }
        }
        for (tenant, state) in incidents {
            batch.push((keys::incident_state(&tenant), Some(state)));
        }
        batch.push((
            keys::DETECT_CHECKPOINT.to_vec(),
            Some(upto.to_be_bytes().to_vec()),
        ));
        self.kv.apply(Tree::DetectState, &batch)?;
        let consumed: Vec<(Vec<u8>, Option<Vec<u8>>)> = (after.saturating_add(1)..=upto)
            .map(|seq| (keys::analysis_log(seq).to_vec(), None))
            .collect();
        self.kv.apply(Tree::AnalysisLog, &consumed)
    }

    /// Deletes every log entry at or below `upto` (those a checkpoint covers), a page at a
    /// time; returns how many went.
    pub fn purge_analysis_log(&self, upto: u64) -> Result<usize> {
        const PAGE: usize = 256;
        let mut gone = 0;
        loop {
            let rows = self.kv.scan(Tree::AnalysisLog, b"", None, PAGE)?;
            let old: Vec<(Vec<u8>, Option<Vec<u8>>)> = rows
                .into_iter()
                .filter(|(k, _)| read_u64(k) <= upto)
                .map(|(k, _)| (k, None))
                .collect();
            if old.is_empty() {
                return Ok(gone);
            }
            gone += old.len();
            let full = old.len() == PAGE;
            self.kv.apply(Tree::AnalysisLog, &old)?;
            if !full {
                return Ok(gone);
            }
        }
    }

    /// The tenant's incident-correlator state as of the checkpoint, when one was stored.
    pub fn incident_state(&self, tenant: &TenantId) -> Result<Option<Vec<u8>>> {
        self.kv
            .get(Tree::DetectState, &keys::incident_state(tenant))
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

/// An entry from its stored bytes.
fn decode_entry(raw: &[u8]) -> Result<LogEntry> {
    LOG_HEADER
        .decode(raw)
        .map_err(|e| super::StoreError::Corrupt {
            tree: Tree::AnalysisLog.name(),
            detail: match e {
                DecodeError::Newer(v) => format!(
                    "entry format {v} was written by a newer controller (this one reads up to {})",
                    LOG_HEADER.version
                ),
                e => e.to_string(),
            },
        })
}

/// The entry's tenant, when its name is valid.
pub fn entry_tenant(entry: &LogEntry) -> Option<TenantId> {
    TenantId::new(&entry.tenant).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_shared::summary::ClientActivity;
    use std::collections::BTreeMap;

    /// The borrowed form written at commit reads back as the owned form, field for field.
    #[test]
    fn entries_read_back_as_written() {
        let key = EndpointKey {
            host: "api.example.com".into(),
            method: "GET".into(),
            template: "/users/{id}".into(),
        };
        let mut summary = EndpointSummary {
            requests: 3,
            statuses: BTreeMap::from([(200, 2), (404, 1)]),
            window_start_ms: 1_800_000_000_000,
            ..Default::default()
        };
        summary.latency_us_hist.record(12_345);
        summary.top_clients.push(ClientActivity {
            client_ip: Some("203.0.113.9".parse().unwrap()),
            requests: 3,
            ref_sample: vec![7, 9],
            ..Default::default()
        });
        let endpoints = [(key, summary)];
        let actors = [ActorSummary {
            client_ip: Some("203.0.113.9".parse().unwrap()),
            requests: 3,
            not_found: 1,
            ..Default::default()
        }];
        let written = LogEntryRef {
            tenant: "acme",
            sensor: "edge-1",
            arrival_ms: 42,
            window_ms: 10_000,
            endpoints: endpoints.iter().collect(),
            actors: &actors,
            notables: Vec::new(),
            billing: vec![BillingNotice {
                cycle_start_ms: 1,
                threshold_pct: 80,
            }],
        };
        let raw = postcard::to_stdvec(&written).unwrap();
        let read = decode_entry(&raw).unwrap();
        assert_eq!(read.tenant, "acme");
        assert_eq!(read.sensor, "edge-1");
        assert_eq!((read.arrival_ms, read.window_ms), (42, 10_000));
        assert_eq!(read.endpoints, endpoints.to_vec());
        assert_eq!(read.actors, actors.to_vec());
        assert_eq!(read.billing, written.billing);
        assert!(
            decode_entry(&raw[..raw.len() / 2]).is_err(),
            "a torn entry is an error"
        );
    }

    /// Entries of every format version decode to the same entry. Never regenerate these
    /// fixtures: when `LogEntry` or a type it holds changes shape, bump `LOG_HEADER.version`,
    /// add the new version's fixture, and decode the older versions through a frozen copy of
    /// their types, so entries an older controller left unanalyzed survive an upgrade.
    #[test]
    fn entries_of_every_earlier_version_still_decode_to_the_same_entry() {
        let want: serde_json::Value =
            serde_json::from_str(include_str!("testdata/analysis-log-golden.json")).unwrap();
        let v0: &[u8] = include_bytes!("testdata/analysis-log-golden-v0.bin");
        let v1: &[u8] = include_bytes!("testdata/analysis-log-golden-v1.bin");
        for (version, bytes) in [(0, v0), (1, v1)] {
            let got = serde_json::to_value(decode_entry(bytes).unwrap()).unwrap();
            assert_eq!(got, want, "version {version} decodes to another entry");
        }
        // This build appends the newest version, byte for byte.
        let entry: LogEntry = serde_json::from_value(want).unwrap();
        let db = Db::new(std::sync::Arc::new(crate::store::memory::MemoryStore::new()));
        let r = LogEntryRef {
            tenant: &entry.tenant,
            sensor: &entry.sensor,
            arrival_ms: entry.arrival_ms,
            window_ms: entry.window_ms,
            endpoints: entry.endpoints.iter().collect(),
            actors: &entry.actors,
            notables: entry.notables.iter().collect(),
            billing: entry.billing.clone(),
        };
        db.kv
            .transact(&|txn| append_in_txn(txn, &r).map(|_| ()))
            .unwrap();
        let stored = db.kv.scan(Tree::AnalysisLog, b"", None, 2).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].1, v1);
        // A newer controller's entry is an error naming why, not a wrong entry.
        let mut newer = v1.to_vec();
        newer[4] = LOG_HEADER.version + 1;
        let err = decode_entry(&newer).unwrap_err().to_string();
        assert!(err.contains("newer controller"), "{err}");
        // Bytes after the entry: another layout, an error rather than a wrong entry.
        let longer = [v1, &[0u8][..]].concat();
        assert!(decode_entry(&longer).is_err());
    }
}
