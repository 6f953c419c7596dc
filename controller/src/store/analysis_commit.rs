//! Storing one analysis: the alert changes of consecutive analysis-log entries of one tenant,
//! the incident changes they caused, billing notices, suppression hits and the analysis
//! cursor, in one transaction. Apart from `alerts` and `incidents` so that each of those
//! knows only the alert log, not the other.

use super::alerts::{
    AlertLogRecord, AnalysisCommit, ChangeKind, Committed, add_hit, append_log, apply_change,
    billing_notice_text,
};
use super::db::{Db, read_u64};
use super::incidents::apply_incident_change;
use super::{Result, Tree, Txn, keys};
use std::cell::RefCell;
use std::collections::HashMap;

fn commit_in_txn(txn: &mut dyn Txn, c: &AnalysisCommit<'_>) -> Result<Committed> {
    let done = txn
        .get(Tree::Meta, keys::META_ANALYSIS_DONE)?
        .map_or(0, |raw| read_u64(&raw));
    if c.first_seq <= done {
        // Already applied: analysis of these entries committed before.
        return Ok(Committed::AlreadyDone);
    }
    // The incident each alert of this commit ends up in, so the alert's own log entry
    // already names it (the incident change follows the alert change on the log).
    let mut placed: HashMap<&str, &str> = HashMap::new();
    for (_, inc) in c.incidents {
        if let Some(f) = inc.facts() {
            for id in &f.alert_ids {
                placed.insert(id, &f.id);
            }
        }
    }
    let mut last = None;
    let mut incidents = c.incidents.iter().peekable();
    for (i, change) in c.changes.iter().enumerate() {
        while let Some((_, inc)) = incidents.next_if(|(before, _)| *before <= i) {
            last = apply_incident_change(txn, c.tenant, inc, c.now_ms)?.or(last);
        }
        let incident = placed.get(change.facts().id.as_str()).copied();
        last = Some(apply_change(txn, c.tenant, change, incident, c.now_ms)?);
    }
    for (_, inc) in incidents {
        last = apply_incident_change(txn, c.tenant, inc, c.now_ms)?.or(last);
    }
    for notice in c.billing {
        let entry = AlertLogRecord {
            kind: ChangeKind::Billing,
            at_ms: c.now_ms,
            alert: None,
            notice: billing_notice_text(notice),
            incident: None,
        };
        last = Some(append_log(txn, c.tenant, &entry)?);
    }
    for (rule, _) in c.suppressed {
        add_hit(txn, c.tenant, rule)?;
    }
    txn.put(Tree::Meta, keys::META_ANALYSIS_DONE, &c.seq.to_be_bytes())?;
    Ok(Committed::Stored(last))
}

impl Db {
    /// Stores the results of consecutive analyses atomically: the alert changes and the
    /// incident changes they caused, with their log entries, billing notices, suppression hits and the analysis cursor. Engine state
    /// and the consumed log entries are not part of it: they move with checkpoints
    /// ([`Db::save_checkpoint`]). Entries at or below the cursor change nothing (they were
    /// stored before), so a retried or replayed analysis cannot double.
    pub fn commit_analysis(&self, c: &AnalysisCommit<'_>) -> Result<Committed> {
        let out = RefCell::new(Committed::AlreadyDone);
        self.kv.transact(&|txn| {
            *out.borrow_mut() = commit_in_txn(txn, c)?;
            Ok(())
        })?;
        Ok(out.into_inner())
    }
}
