//! The sensor's metrics: what `picket-runtime`'s registry reports at each scrape, read from
//! `SensorStats`, the outbox and the connection state — the data path counts per chunk and per
//! batch as it always did and pays nothing for being scraped. Labels: source name (the
//! configured sources) and rejection reason (the parsers' fixed labels); never a client
//! address, host or path. Also the readiness rule behind `/readyz`.

use crate::delivery::Outbox;
use crate::stats::SensorStats;
use picket_runtime::admin::ReadyCheck;
use picket_runtime::metrics::{Desc, LabelKey, Registry};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::watch;

const SRC: &[LabelKey] = &[LabelKey::Source];

pub const RECEIVED: Desc = Desc::counter(
    "picket_sensor_requests_received_total",
    "Lines or entries a source read (parsed + rejected)",
    SRC,
);
pub const PARSED: Desc = Desc::counter(
    "picket_sensor_requests_parsed_total",
    "Requests a source parsed and handed to the aggregator",
    SRC,
);
pub const REJECTED: Desc = Desc::counter(
    "picket_sensor_requests_rejected_total",
    "Lines or entries a source rejected (see picket_sensor_rejections_total for reasons)",
    SRC,
);
pub const REJECTIONS: Desc = Desc::counter(
    "picket_sensor_rejections_total",
    "Rejected lines or entries by reason, over all sources",
    &[LabelKey::Reason],
);
pub const BATCHES_SEALED: Desc = Desc::counter(
    "picket_sensor_batches_sealed_total",
    "Batches sealed by the aggregator",
    &[],
);
pub const BATCHES_SPOOLED: Desc = Desc::counter(
    "picket_sensor_batches_spooled_total",
    "Batches written to the on-disk spool",
    &[],
);
pub const SPOOL_ERRORS: Desc = Desc::counter(
    "picket_sensor_spool_errors_total",
    "Spool writes that failed (the batch stayed deliverable from memory)",
    &[],
);
pub const BATCHES_SENT: Desc = Desc::counter(
    "picket_sensor_batches_sent_total",
    "Batches sent to the controller (resends included)",
    &[],
);
pub const BATCHES_ACKED: Desc = Desc::counter(
    "picket_sensor_batches_acked_total",
    "Batches the controller acknowledged",
    &[],
);
pub const BATCHES_DROPPED: Desc = Desc::counter(
    "picket_sensor_batches_dropped_total",
    "Batches dropped unacknowledged because the outbox or spool was full",
    &[],
);
pub const OUTBOX_WAITS: Desc = Desc::counter(
    "picket_sensor_outbox_waits_total",
    "Batches of file or replay sources that waited for room in a full outbox (back-pressure)",
    &[],
);
pub const REQUESTS_ACKED: Desc = Desc::counter(
    "picket_sensor_requests_acked_total",
    "Requests in batches the controller acknowledged",
    &[],
);
pub const REQUESTS_DROPPED: Desc = Desc::counter(
    "picket_sensor_requests_dropped_total",
    "Requests lost: in dropped batches, or not taken because the aggregator queue was full",
    &[],
);
pub const BATCHES_REJECTED: Desc = Desc::counter(
    "picket_sensor_batches_rejected_total",
    "Batches the controller will never accept (or too large to send), set aside in the spool's rejected/ folder",
    &[],
);
pub const REQUESTS_REJECTED: Desc = Desc::counter(
    "picket_sensor_requests_rejected_total",
    "Requests in batches set aside as rejected",
    &[],
);
pub const NOTABLES_DROPPED: Desc = Desc::counter(
    "picket_sensor_notables_dropped_total",
    "Notable events not sent because their batch already held the maximum",
    &[],
);
pub const ACTORS_DROPPED: Desc = Desc::counter(
    "picket_sensor_actors_dropped_total",
    "Actor summaries (client and window) not sent because their batch already held the maximum",
    &[],
);
pub const OUTBOX_BATCHES: Desc = Desc::gauge(
    "picket_sensor_outbox_batches",
    "Batches sealed and not yet acknowledged",
    &[],
);
pub const SPOOL_BYTES: Desc = Desc::gauge(
    "picket_sensor_spool_bytes",
    "Bytes the on-disk spool holds",
    &[],
);
pub const CONNECTED: Desc = Desc::gauge(
    "picket_sensor_controller_connected",
    "1 while the stream to the controller is up, else 0",
    &[],
);
pub const ANALYSIS_PAUSED: Desc = Desc::gauge(
    "picket_sensor_analysis_paused",
    "1 while the controller has paused threat analysis for this tenant (plan cap), else 0",
    &[],
);
pub const AUTH_REFUSALS: Desc = Desc::counter(
    "picket_sensor_auth_refusals_total",
    "Controller sessions refused or ended because the token was revoked, expired or rotated out",
    &[],
);
pub const LISTENER_REFUSED: Desc = Desc::counter(
    "picket_sensor_listener_refused_total",
    "Connections a network listener (ALS, mirror) closed without serving, by reason: not_allowed (peer outside the allowlist), over_capacity (connection cap), tls_failed (TLS handshake or client certificate)",
    &[LabelKey::Source, LabelKey::Reason],
);
pub const LISTENER_TIMEOUTS: Desc = Desc::counter(
    "picket_sensor_listener_timeouts_total",
    "Connections or streams a network listener ended for time, by reason: header, body (mirror requests), idle (mirror keep-alive, quiet ALS stream)",
    &[LabelKey::Source, LabelKey::Reason],
);
pub const LISTENER_ACCEPT_ERRORS: Desc = Desc::counter(
    "picket_sensor_listener_accept_errors_total",
    "Failed accepts of a network listener (each followed by a growing pause)",
    SRC,
);
pub const LISTENER_CONNECTIONS: Desc = Desc::gauge(
    "picket_sensor_listener_connections",
    "Connections open on a network listener",
    SRC,
);
pub const BATCH_REQUESTS: Desc =
    Desc::histogram("picket_sensor_batch_requests", "Requests per sealed batch");

/// What the sensor's metrics and readiness are read from.
#[derive(Clone)]
pub struct Sources {
    pub stats: Arc<SensorStats>,
    pub outbox: Arc<Outbox>,
    pub connected: watch::Receiver<bool>,
}

/// Registers the sensor's scrape-time collectors and its batch-size histogram.
pub fn register(registry: &Registry, s: Sources) {
    registry.histogram(BATCH_REQUESTS, s.stats.batch_requests.0.clone());
    registry.collect(move |c| {
        let st = &s.stats;
        for src in st.sources() {
            let l = [src.source.as_str()];
            c.counter(&RECEIVED, &l, src.received);
            c.counter(&PARSED, &l, src.parsed);
            c.counter(&REJECTED, &l, src.rejected);
        }
        for l in st.listeners() {
            let src = l.source.as_str();
            for (reason, n) in [
                ("not_allowed", &l.not_allowed),
                ("over_capacity", &l.over_capacity),
                ("tls_failed", &l.tls_failed),
            ] {
                c.counter(&LISTENER_REFUSED, &[src, reason], n.load(Relaxed));
            }
            for (reason, n) in [
                ("header", &l.header_timeouts),
                ("preface", &l.preface_timeouts),
                ("body", &l.body_timeouts),
                ("idle", &l.idle_timeouts),
            ] {
                c.counter(&LISTENER_TIMEOUTS, &[src, reason], n.load(Relaxed));
            }
            c.counter(
                &LISTENER_ACCEPT_ERRORS,
                &[src],
                l.accept_errors.load(Relaxed),
            );
            c.gauge(&LISTENER_CONNECTIONS, &[src], l.open.load(Relaxed) as i64);
        }
        for (reason, n) in st.rejected_by_reason() {
            c.counter(&REJECTIONS, &[reason], n);
        }
        let snap = |a: &std::sync::atomic::AtomicU64| a.load(Relaxed);
        c.counter(&BATCHES_SEALED, &[], snap(&st.batches_sealed));
        c.counter(&BATCHES_SPOOLED, &[], snap(&st.batches_spooled));
        c.counter(&SPOOL_ERRORS, &[], snap(&st.spool_errors));
        c.counter(&BATCHES_SENT, &[], snap(&st.batches_sent));
        c.counter(&BATCHES_ACKED, &[], snap(&st.batches_acked));
        c.counter(&BATCHES_DROPPED, &[], snap(&st.batches_dropped));
        c.counter(&OUTBOX_WAITS, &[], snap(&st.outbox_waits));
        c.counter(&REQUESTS_ACKED, &[], snap(&st.requests_acked));
        let dropped = snap(&st.requests_dropped) + snap(&st.queue_full_drops);
        c.counter(&REQUESTS_DROPPED, &[], dropped);
        c.counter(&BATCHES_REJECTED, &[], snap(&st.batches_rejected));
        c.counter(&REQUESTS_REJECTED, &[], snap(&st.requests_rejected));
        c.counter(&NOTABLES_DROPPED, &[], snap(&st.notables_dropped));
        c.counter(&ACTORS_DROPPED, &[], snap(&st.actors_dropped));
        c.counter(&AUTH_REFUSALS, &[], snap(&st.auth_refusals));
        c.gauge(&OUTBOX_BATCHES, &[], s.outbox.len() as i64);
        c.gauge(&SPOOL_BYTES, &[], snap(&st.spool_bytes) as i64);
        c.gauge(&CONNECTED, &[], i64::from(*s.connected.borrow()));
        c.gauge(
            &ANALYSIS_PAUSED,
            &[],
            i64::from(st.analysis_paused.load(Relaxed)),
        );
    });
}

/// The readiness rule: ready while connected to the controller, or while spooling within
/// bounds; not ready once disconnected with a full outbox (`max_pending_batches` batches or
/// `spool_max_bytes` bytes waiting), because from then on files and replays stop being read
/// and each new batch of a network source pushes out the oldest.
pub fn readiness(s: Sources, max_pending_batches: usize, spool_max_bytes: u64) -> ReadyCheck {
    Arc::new(move || {
        if *s.connected.borrow() {
            return Ok(());
        }
        if let Some(why) = s.stats.auth_error() {
            return Err(format!(
                "the controller refuses this sensor's token ({why}); batches stay spooled until a valid token is configured (token_file is re-read on every connection attempt)"
            ));
        }
        let (pending, bytes) = (s.outbox.len(), s.stats.spool_bytes.load(Relaxed));
        if pending >= max_pending_batches || bytes >= spool_max_bytes {
            return Err(format!(
                "not connected to the controller and the outbox is full ({pending} of {max_pending_batches} batches, {bytes} of {spool_max_bytes} spool bytes); files wait, network sources drop their oldest batches"
            ));
        }
        Ok(())
    })
}
