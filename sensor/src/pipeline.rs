//! The aggregator task: folds source chunks into the batch under construction and seals it
//! into the outbox every flush interval, or sooner when the batch reaches its bounds.

use crate::aggregate::{self, AggregateLimits, Aggregator};
use crate::delivery::Outbox;
use crate::grpc::WireLimits;
use crate::sources::Chunk;
use crate::stats::SensorStats;
use crate::telemetry::BatchTraces;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Where sealed batches go: the outbox (spooled, then sent), and with telemetry on, a span
/// each from seal to ack.
pub(crate) struct Outlet {
    pub outbox: Arc<Outbox>,
    pub traces: Arc<BatchTraces>,
    /// The controller's limits (from its `Welcome`): batches are sealed within them.
    pub wire_limits: watch::Receiver<WireLimits>,
}

/// Folds chunks into the batch under construction and seals it every `flush` (or when full).
pub(crate) async fn run_aggregator(
    mut rx: mpsc::Receiver<Chunk>,
    mut templates: watch::Receiver<Arc<Vec<(String, String)>>>,
    limits: AggregateLimits,
    out: Outlet,
    flush: Duration,
    mut stop: watch::Receiver<bool>,
    stats: Arc<SensorStats>,
) {
    let Outlet {
        outbox,
        traces,
        mut wire_limits,
    } = out;
    let mut agg = Aggregator::new(limits);
    // The limits known at start (saved from the last Welcome); later Welcomes update them.
    let known = *wire_limits.borrow_and_update();
    agg.set_wire_limits(known.max_batch_endpoints, known.max_message_bytes);
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(c) => {
                    if templates.has_changed().unwrap_or(false) {
                        agg.learner.set_known(&templates.borrow_and_update());
                    }
                    if wire_limits.has_changed().unwrap_or(false) {
                        let l = *wire_limits.borrow_and_update();
                        agg.set_wire_limits(l.max_batch_endpoints, l.max_message_bytes);
                    }
                    fill(&mut agg, c, &outbox, &stats, &traces).await;
                }
                None => break,
            },
            _ = tick.tick() => {
                if agg.has_content() {
                    push(&outbox, agg.seal(), &traces).await;
                }
            }
            () = stopped(&mut stop) => {
                // Take what the sources already queued, then stop.
                while let Ok(c) = rx.try_recv() {
                    fill(&mut agg, c, &outbox, &stats, &traces).await;
                }
                break;
            }
        }
    }
    if agg.has_content() {
        push(&outbox, agg.seal(), &traces).await;
    }
}

/// Folds a chunk in, sealing whenever the batch reaches its bounds (also mid-chunk).
async fn fill(
    agg: &mut Aggregator,
    mut chunk: Chunk,
    outbox: &Arc<Outbox>,
    stats: &SensorStats,
    traces: &Arc<BatchTraces>,
) {
    while agg.fill(&mut chunk) {
        push(outbox, agg.seal(), traces).await;
    }
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    stats.notables_dropped.store(agg.notables_dropped, relaxed);
    stats.actors_dropped.store(agg.actors_dropped, relaxed);
}

/// Resolves once `stop` turns true (without holding the watch's lock across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Spools (fsync) and queues a batch off the async workers, in order. With telemetry on, the
/// batch's span starts here (seal) and is numbered before the batch can be sent.
async fn push(outbox: &Arc<Outbox>, sealed: aggregate::Sealed, traces: &Arc<BatchTraces>) {
    let outbox = outbox.clone();
    let traces = traces.clone();
    let queue = move || {
        if let Some(span) = traces.sealed(outbox.epoch, &sealed) {
            traces.track(outbox.next_seq(), span);
        }
        let _seq = outbox.push(sealed);
    };
    if let Err(e) = tokio::task::spawn_blocking(queue).await {
        tracing::error!(error = %e, "spooling task failed");
    }
}
