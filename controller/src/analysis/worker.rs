//! The analysis worker: one thread per controller that consumes the analysis log in sequence
//! order and stores each result in one transaction (engine state writes, alert changes and
//! their log entries, billing notices, suppression hits, the cursor, the consumed entry).
//!
//! Exactly once: the engine's in-memory state always equals its persisted state plus nothing
//! (it advances only together with a committed transaction; when a transaction fails or finds
//! the entry already analyzed, the tenant's engine is dropped and restored from the store on
//! next use). After a crash the worker restores each engine from `detect_state` and continues
//! after the durable cursor, so every committed batch is analyzed, none twice.
//!
//! Consecutive entries of one tenant within a pass are stored together (one transaction; each
//! engine state key written once, with its newest value): when analysis runs behind, as
//! under a replay or a burst, the state of an endpoint touched by every batch is written once
//! per pass instead of once per batch, which is most of the analysis cost on sparse traffic.
//!
//! Flush policy: the worker analyzes up to [`MAX_ENTRIES_PER_FLUSH`] entries, flushes the store
//! once, then announces the new cursors to watchers. A crash before that flush loses those
//! analyses and their entries' deletion together; the restarted worker redoes them from the
//! same restored state, producing the same changes under the same cursors (the per-tenant
//! cursor counter rolls back with them).

use crate::state::State;
use crate::store::alerts::{AnalysisCommit, Committed};
use crate::store::analysis_log::{BillingNotice, LogEntry, entry_tenant};
use picket_detect::incident::{Correlator, IncidentChange, IncidentConfig};
use picket_detect::{
    AlertChange, Context, DetectConfig, Engine, Input, Output, StateError, StateWrite, Suppression,
};
use picket_shared::TenantId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Most log entries analyzed between two flushes.
pub const MAX_ENTRIES_PER_FLUSH: usize = 64;
/// How long the worker sleeps when nothing wakes it (it also polls the log then).
pub const IDLE_POLL: Duration = Duration::from_secs(1);
/// Most log entries analyzed between two checkpoints of the engine state (a checkpoint is
/// also stored whenever analysis catches up with the log).
pub const CHECKPOINT_ENTRIES: u64 = 1_024;
/// Longest time between two checkpoints while entries are being analyzed.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);
/// Pause after a failed pass before retrying.
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What the worker needs of a detection engine: `picket_detect::Engine` in production; tests
/// substitute deterministic stand-ins through the same seam.
pub trait Detector: Sized + Send + 'static {
    fn fresh(config: DetectConfig) -> Self;
    fn restore(config: DetectConfig, state: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Self, StateError>;
    /// Analyzes one entry; its state changes wait for [`Detector::take_writes`].
    fn analyze(&mut self, input: &Input<'_>, ctx: &Context<'_>) -> Output;
    /// The state writes of everything analyzed since the last call.
    fn take_writes(&mut self) -> Vec<StateWrite>;
    /// The event-time watermark (ms) incidents close by; `None` when the detector keeps
    /// none (the newest alert's last-seen time stands in).
    fn event_ms(&self) -> Option<i64> {
        None
    }
}

impl Detector for Engine {
    fn fresh(config: DetectConfig) -> Self {
        Engine::new(config)
    }
    fn restore(config: DetectConfig, state: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Self, StateError> {
        Engine::restore(config, state)
    }
    fn analyze(&mut self, input: &Input<'_>, ctx: &Context<'_>) -> Output {
        Engine::analyze_deferred(self, input, ctx)
    }
    fn take_writes(&mut self) -> Vec<StateWrite> {
        Engine::take_writes(self)
    }
    fn event_ms(&self) -> Option<i64> {
        Some(Engine::event_ms(self))
    }
}

/// Consecutive analyses of one tenant stored in one transaction: their changes, suppression
/// hits and billing notices in order; the engine's state writes are taken once, when the group
/// is stored (each touched key once, with its newest value).
struct Group {
    tenant: TenantId,
    first_seq: u64,
    last_seq: u64,
    entries: u64,
    out: Output,
    /// What the tenant's correlator made of the group's alert changes, entry by entry, each
    /// with the number of `out.changes` before it (see `AnalysisCommit::incidents`).
    incidents: Vec<(usize, IncidentChange)>,
    billing: Vec<BillingNotice>,
    /// The tenant's unexpired suppression rules, read by the group's first analysis.
    rules: Option<Vec<Suppression>>,
    started: Instant,
}

impl Group {
    fn new(tenant: TenantId, first_seq: u64) -> Group {
        Group {
            tenant,
            first_seq,
            last_seq: first_seq,
            entries: 0,
            out: Output::default(),
            incidents: Vec::new(),
            billing: Vec::new(),
            rules: None,
            started: Instant::now(),
        }
    }

    fn add(
        &mut self,
        seq: u64,
        out: Output,
        incidents: Vec<IncidentChange>,
        billing: &[BillingNotice],
    ) {
        debug_assert!(self.entries == 0 || seq == self.last_seq + 1);
        self.last_seq = seq;
        self.entries += 1;
        debug_assert!(out.writes.is_empty(), "state writes are taken per group");
        self.out.changes.extend(out.changes);
        let before = self.out.changes.len();
        self.out.suppressed.extend(out.suppressed);
        self.out.late += out.late;
        self.incidents
            .extend(incidents.into_iter().map(|c| (before, c)));
        self.billing.extend_from_slice(billing);
    }
}

/// The worker's state: the engines and incident correlators of the tenants it has seen, and
/// the checkpoint their stored state reflects.
///
/// Correlators follow the engines exactly: each entry's alert changes are fed to the tenant's
/// correlator right after the entry is analyzed (then a tick with the engine's event time),
/// both during normal analysis and when recovery re-runs entries; a correlator's state is
/// stored with the engine state at each checkpoint and restored with it. Feeding per entry,
/// not per group, keeps the correlator's output independent of how entries are grouped, so a
/// re-run rebuilds exactly the state the stored incident changes came from.
pub struct Worker<D: Detector = Engine> {
    state: Arc<State>,
    config: DetectConfig,
    engines: HashMap<TenantId, D>,
    incident_config: IncidentConfig,
    correlators: HashMap<TenantId, Correlator>,
    /// Tenants whose correlator changed since the last checkpoint.
    correlators_dirty: HashSet<TenantId>,
    /// The analysis-log sequence the stored engine state reflects; `None` until the engines
    /// are recovered (at start, and after any failure).
    checkpoint: Option<u64>,
    /// When the last checkpoint was stored.
    checkpointed_at: Instant,
}

impl<D: Detector> Worker<D> {
    pub fn new(state: Arc<State>) -> Self {
        let config = state.detection.engine();
        let incident_config = state.incidents.correlator();
        Self {
            state,
            config,
            engines: HashMap::new(),
            incident_config,
            correlators: HashMap::new(),
            correlators_dirty: HashSet::new(),
            checkpoint: None,
            checkpointed_at: Instant::now(),
        }
    }

    /// Analyzes up to `max` pending entries, stores a checkpoint when one is due, flushes, and
    /// announces the new cursors. Returns how many entries it consumed.
    pub fn pass(&mut self, max: usize) -> crate::error::Result<usize> {
        let done = self.pass_inner(max);
        if done.is_err() {
            // An engine may have advanced past what the store holds (an analysis whose result
            // or checkpoint was never stored): recover every engine before the next analysis.
            self.forget_tenants();
            self.checkpoint = None;
        }
        done
    }

    fn pass_inner(&mut self, max: usize) -> crate::error::Result<usize> {
        let db = self.state.db.clone();
        let checkpoint = match self.checkpoint {
            Some(c) => c,
            None => self.recover()?,
        };
        let done = db.analysis_done()?;
        let pending = db.analysis_pending(done, max)?;
        let mut announce: HashMap<TenantId, u64> = HashMap::new();
        let mut group: Option<Group> = None;
        for (seq, entry) in &pending {
            let analyzable = match entry {
                Ok(e) => entry_tenant(e)
                    .map(|t| (e, t))
                    .ok_or_else(|| "names an invalid tenant".to_owned()),
                Err(err) => Err(err.to_string()),
            };
            match analyzable {
                Ok((e, tenant)) => {
                    if group.as_ref().is_some_and(|g| g.tenant != tenant) {
                        self.store(group.take(), &mut announce)?;
                    }
                    let g = group.get_or_insert_with(|| Group::new(tenant, *seq));
                    self.analyze_into(*seq, e, g)?;
                    // A billing notice follows its own entry's alert changes in the log: end
                    // the group there (notices are rare: a threshold crossed).
                    if !e.billing.is_empty() {
                        self.store(group.take(), &mut announce)?;
                    }
                }
                Err(why) => {
                    self.store(group.take(), &mut announce)?;
                    self.skip(*seq, &why)?;
                }
            }
        }
        self.store(group.take(), &mut announce)?;
        let analyzed = pending.last().map_or(done, |(seq, _)| *seq);
        let due = pending.len() < max
            || analyzed - checkpoint >= CHECKPOINT_ENTRIES
            || self.checkpointed_at.elapsed() >= CHECKPOINT_INTERVAL;
        if analyzed > checkpoint && due {
            self.save_checkpoint(checkpoint, analyzed)?;
        }
        if !pending.is_empty() {
            db.flush()?;
        }
        for (tenant, cursor) in announce {
            self.state.analysis.publish(&tenant, cursor);
        }
        Ok(pending.len())
    }

    fn skip(&self, seq: u64, why: &str) -> crate::error::Result<()> {
        tracing::error!(
            seq,
            why,
            "skipping an analysis-log entry that cannot be analyzed"
        );
        self.state
            .analysis
            .stats
            .entries_skipped
            .fetch_add(1, Relaxed);
        self.state.db.skip_analysis(seq)?;
        Ok(())
    }

    /// Stores every engine's state changed since the last checkpoint, marked as reflecting
    /// `upto`, and deletes the log entries it covers.
    fn save_checkpoint(&mut self, after: u64, upto: u64) -> crate::error::Result<()> {
        let writes: Vec<(TenantId, Vec<StateWrite>)> = self
            .engines
            .iter_mut()
            .map(|(t, e)| (t.clone(), e.take_writes()))
            .filter(|(_, w)| !w.is_empty())
            .collect();
        let incidents: Vec<(TenantId, Vec<u8>)> = self
            .correlators_dirty
            .iter()
            .filter_map(|t| Some((t.clone(), self.correlators.get(t)?.to_json())))
            .collect();
        self.state
            .db
            .save_checkpoint(writes, incidents, after, upto)?;
        self.correlators_dirty.clear();
        self.checkpoint = Some(upto);
        self.checkpointed_at = Instant::now();
        self.state.analysis.stats.checkpoints.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Rebuilds the engines as of the analysis cursor: the checkpointed state, then the
    /// entries analyzed after the checkpoint re-run with their output discarded (it was
    /// stored when they were first analyzed). Returns the checkpoint.
    fn recover(&mut self) -> crate::error::Result<u64> {
        self.forget_tenants();
        let db = self.state.db.clone();
        let done = db.analysis_done()?;
        let from = match db.detect_checkpoint()? {
            Some(c) => c.min(done),
            None => {
                // No checkpoint yet: a new store (cursor 0), or one whose state was written
                // with every analysis, so reflecting the cursor. Record that before analyzing.
                db.save_checkpoint(Vec::new(), Vec::new(), done, done)?;
                done
            }
        };
        db.purge_analysis_log(from)?;
        let mut after = from;
        let mut replayed = 0u64;
        // Each tenant's rules are read once per recovery, not once per re-run entry.
        let mut rules: HashMap<TenantId, Vec<Suppression>> = HashMap::new();
        while after < done {
            let page = db.analysis_pending(after, MAX_ENTRIES_PER_FLUSH)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = (*last).min(done);
            for (seq, entry) in &page {
                let Ok(e) = entry else { continue };
                let Some(tenant) = entry_tenant(e) else {
                    continue;
                };
                if *seq > done {
                    break;
                }
                if !rules.contains_key(&tenant) {
                    rules.insert(tenant.clone(), self.rules(&tenant)?);
                }
                let tenant_rules = rules.get(&tenant).map_or(&[][..], Vec::as_slice);
                self.analyze_entry(&tenant, e, tenant_rules)?;
                replayed += 1;
            }
        }
        if replayed > 0 {
            tracing::info!(
                checkpoint = from,
                cursor = done,
                replayed,
                "detection state recovered from its checkpoint"
            );
        }
        self.checkpoint = Some(from);
        self.checkpointed_at = Instant::now();
        Ok(from)
    }

    /// The tenant's unexpired suppression rules.
    fn rules(&self, tenant: &TenantId) -> crate::error::Result<Vec<Suppression>> {
        let now = self.state.now_ms();
        Ok(self
            .state
            .db
            .suppressions(tenant)?
            .into_iter()
            .map(|r| r.rule)
            .filter(|r| !r.expired(now))
            .collect())
    }

    /// Drops every tenant's engine and correlator (they are restored from the store).
    fn forget_tenants(&mut self) {
        self.engines.clear();
        self.correlators.clear();
        self.correlators_dirty.clear();
    }

    /// Runs one entry through its tenant's engine, then its alert changes through the
    /// tenant's incident correlator.
    fn analyze_entry(
        &mut self,
        tenant: &TenantId,
        e: &LogEntry,
        rules: &[Suppression],
    ) -> crate::error::Result<(Output, Vec<IncidentChange>)> {
        let out = self.detect_entry(tenant, e, rules)?;
        let incidents = self.correlate(tenant, &out.changes)?;
        Ok((out, incidents))
    }

    /// Feeds one entry's alert changes to the tenant's correlator, then advances it to the
    /// engine's event time (closing quiet incidents).
    fn correlate(
        &mut self,
        tenant: &TenantId,
        changes: &[AlertChange],
    ) -> crate::error::Result<Vec<IncidentChange>> {
        let newest_alert = changes.iter().map(|c| c.facts().last_seen_ms).max();
        let event_ms = self.engine(tenant)?.event_ms().or(newest_alert);
        let c = self.correlator(tenant)?;
        let mut out = c.apply_batch(changes);
        if let Some(wm) = event_ms {
            out.extend(c.tick(wm));
        }
        if !changes.is_empty() || event_ms.is_some() {
            self.correlators_dirty.insert(tenant.clone());
        }
        Ok(out)
    }

    /// The tenant's incident correlator, restored from the checkpoint on first use.
    fn correlator(&mut self, tenant: &TenantId) -> crate::error::Result<&mut Correlator> {
        if !self.correlators.contains_key(tenant) {
            let config = self.incident_config.clone();
            let restored = match self.state.db.incident_state(tenant)? {
                Some(raw) => Correlator::from_json(config.clone(), &raw),
                None => Correlator::new(config.clone()),
            };
            let c = match restored {
                Ok(c) => c,
                Err(e) => {
                    // Incidents start over rather than analysis stopping for the tenant.
                    tracing::error!(tenant = %tenant, error = %e, "incident state unreadable; starting fresh");
                    Correlator::new(config)
                        .map_err(|e| crate::error::Error::Internal(e.to_string()))?
                }
            };
            self.correlators.insert(tenant.clone(), c);
        }
        self.correlators
            .get_mut(tenant)
            .ok_or_else(|| crate::error::Error::Internal("correlator vanished".into()))
    }

    /// Runs one entry through its tenant's engine.
    fn detect_entry(
        &mut self,
        tenant: &TenantId,
        e: &LogEntry,
        rules: &[Suppression],
    ) -> crate::error::Result<Output> {
        let intel = self.state.analysis.intel();
        let input = Input {
            sensor: &e.sensor,
            arrival_ms: e.arrival_ms,
            window_ms: e.window_ms,
            endpoints: &e.endpoints,
            actors: &e.actors,
            notables: &e.notables,
        };
        let ctx = Context {
            intel: &intel,
            suppressions: rules,
            now_ms: self.state.now_ms(),
        };
        Ok(self.engine(tenant)?.analyze(&input, &ctx))
    }

    /// The tenant's engine, restored from the store on first use.
    fn engine(&mut self, tenant: &TenantId) -> crate::error::Result<&mut D> {
        if !self.engines.contains_key(tenant) {
            let saved = self.state.db.detect_state(tenant)?;
            let engine = match D::restore(self.config.clone(), saved) {
                Ok(e) => e,
                Err(e) => {
                    // Baselines start over rather than analysis stopping for the tenant; the
                    // engine's next writes replace the unreadable state.
                    tracing::error!(tenant = %tenant, error = %e, "detection state unreadable; starting fresh");
                    D::fresh(self.config.clone())
                }
            };
            self.engines.insert(tenant.clone(), engine);
        }
        self.engines
            .get_mut(tenant)
            .ok_or_else(|| crate::error::Error::Internal("engine vanished".into()))
    }

    /// Analyzes one entry of the group's tenant and adds its output to the group.
    fn analyze_into(&mut self, seq: u64, e: &LogEntry, g: &mut Group) -> crate::error::Result<()> {
        // The tenant's rules are read once per group, not once per entry.
        let rules = match g.rules.take() {
            Some(rules) => rules,
            None => self.rules(&g.tenant)?,
        };
        let tenant = g.tenant.clone();
        let (out, incidents) = self.analyze_entry(&tenant, e, &rules)?;
        g.rules = Some(rules);
        g.add(seq, out, incidents, &e.billing);
        Ok(())
    }

    /// Stores a group's analyses in one transaction and notes the tenant's newest cursor.
    fn store(
        &mut self,
        group: Option<Group>,
        announce: &mut HashMap<TenantId, u64>,
    ) -> crate::error::Result<()> {
        let Some(g) = group else {
            return Ok(());
        };
        let commit = AnalysisCommit {
            first_seq: g.first_seq,
            seq: g.last_seq,
            tenant: &g.tenant,
            changes: &g.out.changes,
            incidents: &g.incidents,
            suppressed: &g.out.suppressed,
            billing: &g.billing,
            now_ms: self.state.now_ms(),
        };
        match self.state.db.commit_analysis(&commit) {
            Ok(Committed::Stored(last)) => {
                if let Some(c) = last {
                    announce.insert(g.tenant.clone(), c);
                }
            }
            Ok(Committed::AlreadyDone) => {
                // Another analysis stored these entries: the engines are not what the store
                // reflects; recover them before the next analysis.
                self.forget_tenants();
                self.checkpoint = None;
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        }
        self.count(&g.out, g.entries, g.started);
        Ok(())
    }

    fn count(&self, out: &Output, entries: u64, started: Instant) {
        let s = &self.state.analysis.stats;
        let raised = out
            .changes
            .iter()
            .filter(|c| matches!(c, AlertChange::Raised(_)))
            .count() as u64;
        s.batches_analyzed.fetch_add(entries, Relaxed);
        s.alerts_raised.fetch_add(raised, Relaxed);
        s.alerts_updated
            .fetch_add(out.changes.len() as u64 - raised, Relaxed);
        s.alerts_suppressed
            .fetch_add(out.suppressed.len() as u64, Relaxed);
        s.seconds.observe(started.elapsed().as_secs_f64());
    }

    /// Runs passes until `stop` is set, sleeping when the log is empty.
    pub fn run(mut self, stop: &AtomicBool) {
        let mut seen = self.state.analysis.wake_count();
        while !stop.load(Relaxed) {
            match self.pass(MAX_ENTRIES_PER_FLUSH) {
                Ok(0) => seen = self.state.analysis.wait(seen, IDLE_POLL),
                Ok(_) => {}
                Err(e) => {
                    self.state.analysis.stats.failures.fetch_add(1, Relaxed);
                    tracing::warn!(error = %e, "analysis pass failed; retrying");
                    std::thread::sleep(RETRY_PAUSE);
                }
            }
        }
    }
}

/// The running worker thread.
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    state: Arc<State>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerHandle {
    /// Starts the worker on its own thread (store work is blocking).
    pub fn spawn(state: Arc<State>) -> std::io::Result<Self> {
        Self::spawn_with::<Engine>(state)
    }

    /// Like [`WorkerHandle::spawn`], with another detector (tests).
    pub fn spawn_with<D: Detector>(state: Arc<State>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let worker: Worker<D> = Worker::new(state.clone());
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("picket-analysis".into())
            .spawn(move || worker.run(&flag))?;
        Ok(Self {
            stop,
            state,
            thread: Some(thread),
        })
    }

    /// Stops the worker after its current pass and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Relaxed);
        self.state.analysis.wake();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the analysis worker panicked");
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        self.state.analysis.wake();
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
