//! `picket.v1.Ingest/Stream`: hello, then batches applied atomically with their watermark and
//! acknowledged only after a durable commit.

use super::{blocking, convert};
use crate::auth::AuthContext;
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::grpc::limits;
use crate::limits::{StreamKind, StreamTimers};
use crate::metering::cycle::Cycle;
use crate::specs::Templates;
use crate::state::{PauseState, State};
use crate::store::{Applied, SensorRecord};
use crate::telemetry::{BatchCost, BatchSpan};
use picket_proto::v1 as pb;
use picket_proto::v1::ingest_server::Ingest;
use picket_shared::{Role, SensorId, TenantId};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// Messages queued towards one sensor.
const OUTBOUND_QUEUE: usize = 64;

pub struct IngestService {
    state: Arc<State>,
}

impl IngestService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

type Outbound = Pin<Box<dyn Stream<Item = Result<pb::ControllerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Ingest for IngestService {
    type StreamStream = Outbound;

    async fn stream(
        &self,
        req: Request<Streaming<pb::SensorMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Sensor)?;
        // The client certificate's leaf, when the connection is mTLS.
        let leaf = req.peer_certs().and_then(|certs| certs.first().cloned());
        let inbound = req.into_inner();
        let state = self.state.clone();
        // Held by the stream task: the tenant's stream count drops however the stream ends.
        let slot = (state.quotas.streams)
            .acquire(&ctx.tenant, StreamKind::Ingest)
            .map_err(limits::stream_refused)?;
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let (outbound, end) = limits::endable(rx);
        let timers = state.quotas.timers();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(status) = session(&state, &ctx, leaf, inbound, &tx, timers).await {
                // A sensor that stops or loses its connection ends the stream at the transport
                // level (Unknown/Cancelled); only protocol violations are the sensor's fault.
                if matches!(status.code(), tonic::Code::Unknown | tonic::Code::Cancelled) {
                    tracing::info!(tenant = %ctx.tenant, %status, "ingest stream closed by the transport");
                } else if status.code() == tonic::Code::Unauthenticated {
                    // Counted as `streams_unauthenticated` where it was found.
                    tracing::warn!(tenant = %ctx.tenant, token = %ctx.token_id, %status, "ingest stream ended: its token no longer works");
                } else if limits::is_limit(&status) {
                    // Counted per limit where it was found.
                    tracing::info!(tenant = %ctx.tenant, %status, "ingest stream ended by a limit");
                } else {
                    state.ingest.streams_rejected.fetch_add(1, Relaxed);
                    tracing::warn!(tenant = %ctx.tenant, %status, "ingest stream ended with an error");
                }
                // Never waits: a sensor that stopped reading gets the status next.
                end.finish(&tx, status);
            }
        });
        Ok(Response::new(Box::pin(outbound)))
    }
}

fn msg(m: pb::controller_message::Msg) -> Result<pb::ControllerMessage, Status> {
    Ok(pb::ControllerMessage { msg: Some(m) })
}

async fn session(
    state: &Arc<State>,
    ctx: &AuthContext,
    leaf: Option<rustls::pki_types::CertificateDer<'static>>,
    mut inbound: Streaming<pb::SensorMessage>,
    tx: &mpsc::Sender<Result<pb::ControllerMessage, Status>>,
    mut timers: StreamTimers,
) -> Result<(), Status> {
    let hello_timeout = Duration::from_millis(state.limits.hello_timeout_ms);
    let first = tokio::time::timeout(hello_timeout, inbound.message())
        .await
        .map_err(|_| Error::DeadlineExceeded("no hello within the hello timeout".into()))??;
    let hello = match first.and_then(|m| m.msg) {
        Some(pb::sensor_message::Msg::Hello(h)) => h,
        _ => {
            return Err(Error::invalid("the first message of a stream must be a hello").into());
        }
    };
    let sensor = SensorId::new(&hello.sensor_id).map_err(|e| Error::invalid(e.to_string()))?;
    if hello.stream_epoch == 0 {
        return Err(Error::invalid("stream_epoch must be greater than 0").into());
    }
    if state.tls_bind_sensor_id
        && !leaf
            .as_ref()
            .is_some_and(|c| picket_runtime::tls::names_sensor(c, sensor.as_str()))
    {
        return Err(Error::denied(format!(
            "the client certificate does not name sensor {sensor} (tls.bind_sensor_id)"
        ))
        .into());
    }
    // Registers the stream as open (`stream_closed` below).
    let committed = register(state, ctx, &sensor, &hello).await?;
    tracing::info!(tenant = %ctx.tenant, sensor = %sensor, epoch = hello.stream_epoch, committed, "sensor connected");
    let welcome = pb::Welcome {
        tenant: ctx.tenant.to_string(),
        committed_seq: committed,
        controller_version: env!("CARGO_PKG_VERSION").to_owned(),
        // The sensor seals its batches within these, so none is refused for its size.
        max_batch_endpoints: state.limits.max_batch_endpoints as u64,
        max_message_bytes: state.limits.max_message_bytes as u64,
    };
    let mut pause = state.watch_pause(&ctx.tenant);
    // A revoked, rotated-out or expired token ends the stream within seconds, and no batch
    // is applied (or billed) once its token stopped working.
    let mut guard = state.tokens.guard(state.db.clone(), ctx.clone());
    let mut templates = watch_templates(state, ctx).await?;
    let result = async {
        let welcome = pb::controller_message::Msg::Welcome(welcome);
        send_timed(state, &timers, tx, welcome).await?;
        let initial = *pause.borrow_and_update();
        send_timed(state, &timers, tx, directive(initial)).await?;
        // Always sent on connect, even empty: specs deleted while the sensor was away go.
        let known = templates.borrow_and_update().clone();
        send_timed(state, &timers, tx, template_hints(&known)).await?;
        loop {
            let m = tokio::select! {
                m = inbound.message() => match m? {
                    Some(m) => m,
                    None => break,
                },
                changed = pause.changed() => {
                    if changed.is_ok() {
                        let now = *pause.borrow_and_update();
                        send_timed(state, &timers, tx, directive(now)).await?;
                    }
                    continue;
                }
                changed = templates.changed() => {
                    if changed.is_ok() {
                        let now = templates.borrow_and_update().clone();
                        send_timed(state, &timers, tx, template_hints(&now)).await?;
                    }
                    continue;
                }
                e = guard.invalidated() => {
                    state.ingest.streams_unauthenticated.fetch_add(1, Relaxed);
                    return Err(e.into());
                }
                why = timers.expired(true) => {
                    state.quotas.count_end(why);
                    return Err(limits::ended(why, &state.quotas.timeouts));
                }
            };
            timers.heard();
            match m.msg {
                Some(pb::sensor_message::Msg::Batch(b)) => {
                    if let Err(e) = guard.check().await {
                        state.ingest.streams_unauthenticated.fetch_add(1, Relaxed);
                        return Err(e.into());
                    }
                    let ack = match apply(state, ctx, &sensor, hello.stream_epoch, b).await {
                        Ok(ack) => ack,
                        Err(status) => {
                            let counter = match status.code() {
                                tonic::Code::Unauthenticated => {
                                    &state.ingest.streams_unauthenticated
                                }
                                _ => &state.ingest.batches_rejected,
                            };
                            counter.fetch_add(1, Relaxed);
                            return Err(status);
                        }
                    };
                    match timers
                        .send(tx, msg(pb::controller_message::Msg::Ack(ack)))
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(why) => {
                            state.quotas.count_end(why);
                            return Err(limits::ended(why, &state.quotas.timeouts));
                        }
                    }
                }
                Some(pb::sensor_message::Msg::Hello(_)) => {
                    return Err(Error::invalid("hello may only be sent once per stream").into());
                }
                None => return Err(Error::invalid("empty sensor message").into()),
            }
        }
        Ok(())
    }
    .await;
    state.stream_closed(&ctx.tenant, sensor.as_str(), hello.stream_epoch);
    tracing::info!(tenant = %ctx.tenant, sensor = %sensor, "sensor disconnected");
    result
}

/// Sends a message to the sensor within the stall timeout: a sensor that stops reading ends
/// its stream (counted) instead of holding the task, its place and its token's stream (a
/// blocked send polls neither the token guard nor the stream timers).
async fn send_timed(
    state: &State,
    timers: &StreamTimers,
    tx: &mpsc::Sender<Result<pb::ControllerMessage, Status>>,
    m: pb::controller_message::Msg,
) -> Result<(), Status> {
    match timers.send(tx, msg(m)).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Cancelled("sensor went away".into()).into()),
        Err(why) => {
            state.quotas.count_end(why);
            Err(limits::ended(why, &state.quotas.timeouts))
        }
    }
}

/// Tells the sensor whether threat analysis is paused for its tenant.
fn directive(p: PauseState) -> pb::controller_message::Msg {
    let d = pb::Directive {
        notice: String::new(),
        analysis_paused: p.paused,
        paused_until_ms: if p.paused { p.until_ms } else { 0 },
        // Template hints travel in their own directive (`template_hints`).
        ..Default::default()
    };
    pb::controller_message::Msg::Directive(d)
}

/// Subscribes to the templates of the tenant's API specs (parsing them on first use).
async fn watch_templates(
    state: &Arc<State>,
    ctx: &AuthContext,
) -> Result<tokio::sync::watch::Receiver<Templates>, Status> {
    let (st, tenant) = (state.clone(), ctx.tenant.clone());
    blocking(move || st.specs.watch_templates(&st.db, &tenant)).await
}

/// The whole set of spec templates (`templates_set`: an empty set clears them); the sensor's
/// templating follows them from its next request on.
fn template_hints(templates: &Templates) -> pb::controller_message::Msg {
    let d = pb::Directive {
        templates: templates
            .iter()
            .map(|(host, template)| pb::TemplateHint {
                host: host.clone(),
                template: template.clone(),
            })
            .collect(),
        templates_set: true,
        ..Default::default()
    };
    pb::controller_message::Msg::Directive(d)
}

/// Records the sensor's hello and returns the committed seq of its epoch.
async fn register(
    state: &Arc<State>,
    ctx: &AuthContext,
    sensor: &SensorId,
    hello: &pb::Hello,
) -> Result<u64, Status> {
    let db = state.db.clone();
    let tenant = ctx.tenant.clone();
    let sensor = sensor.clone();
    let hello = hello.clone();
    let state = state.clone();
    blocking(move || {
        let now = state.now_ms();
        if crate::store::growth::epoch_too_far_ahead(hello.stream_epoch, now) {
            return Err(Error::invalid(format!(
                "stream_epoch {} is more than {} ms ahead of the controller's clock ({now}): check the sensor's clock",
                hello.stream_epoch,
                crate::store::growth::MAX_EPOCH_AHEAD_MS
            )));
        }
        if !db.admit_sensor(&tenant, &sensor, now)? {
            tracing::warn!(tenant = %tenant, sensor = %sensor, "refused a new sensor: the tenant is at inventory.max_sensors_per_tenant");
            return Err(Error::ResourceExhausted(format!(
                "tenant {tenant} holds inventory.max_sensors_per_tenant sensors; sensor {sensor} is new"
            )));
        }
        let mut rec = db
            .get_sensor(&tenant, &sensor)?
            .unwrap_or_else(|| SensorRecord {
                sensor_id: sensor.to_string(),
                first_seen_ms: now,
                ..Default::default()
            });
        rec.version = hello.version.chars().take(64).collect();
        rec.sources = hello
            .sources
            .iter()
            .take(32)
            .map(|s| s.chars().take(256).collect())
            .collect();
        rec.hostname = hello.hostname.chars().take(255).collect();
        rec.last_seen_ms = now;
        rec.stream_epoch = hello.stream_epoch;
        // The epoch is in use: its idle time (watermark pruning) starts again.
        db.touch_watermark(&tenant, &sensor, hello.stream_epoch, now)?;
        let committed = db.committed_seq(&tenant, &sensor, hello.stream_epoch)?;
        // Checked and registered as open in one step: concurrent hellos of new epochs count
        // each other (their watermarks come with their first batches).
        let _gate = state
            .hello_gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if committed == 0 {
            admit_epoch(&state, &tenant, &sensor, hello.stream_epoch, now)?;
        }
        rec.committed_seq = committed;
        db.put_sensor(&tenant, &rec)?;
        state.refresh_pause(&tenant)?;
        // Last, once nothing can fail: the session closes it when the stream ends.
        state.stream_opened(&tenant, sensor.as_str(), hello.stream_epoch);
        Ok(committed)
    })
    .await
}

/// Fits a new epoch of `sensor` under `inventory.max_epochs_per_sensor` (`Db::trim_epochs`),
/// or refuses its hello. Runs under `State::hello_gate`.
fn admit_epoch(
    state: &State,
    tenant: &TenantId,
    sensor: &SensorId,
    epoch: u64,
    now: i64,
) -> Result<(), Error> {
    let open = state.open_epochs(tenant, sensor.as_str());
    let cap = state.inventory.max_epochs_per_sensor;
    let trim = state
        .db
        .trim_epochs(tenant, sensor, epoch, &open, cap, now)?;
    if trim.retired > 0 {
        crate::maintenance::EPOCHS_TRIMMED.fetch_add(trim.retired as u64, Relaxed);
        tracing::warn!(tenant = %tenant, sensor = %sensor, retired = trim.retired, epoch, "a new epoch retired the sensor's oldest at inventory.max_epochs_per_sensor");
    }
    if trim.fits {
        return Ok(());
    }
    tracing::warn!(tenant = %tenant, sensor = %sensor, epoch, held = trim.held, "refused a new epoch: the sensor holds inventory.max_epochs_per_sensor and its oldest is streaming or was used within a day");
    Err(Error::ResourceExhausted(format!(
        "sensor {sensor} holds {} epochs plus the open streams of new ones (inventory.max_epochs_per_sensor = {cap}); its oldest is streaming or was used within a day, so epoch {epoch} cannot start",
        trim.held
    )))
}

/// Validates, applies and durably commits one batch, inside its span (a child of the sensor's
/// span for the batch when the batch carries a `traceparent`).
async fn apply(
    state: &Arc<State>,
    ctx: &AuthContext,
    sensor: &SensorId,
    epoch: u64,
    b: pb::Batch,
) -> Result<pb::Ack, Status> {
    let span = BatchSpan::start(
        &b.traceparent,
        &ctx.tenant,
        sensor,
        epoch,
        b.seq,
        b.endpoints.len(),
    );
    match apply_batch(state, ctx, sensor, epoch, b).await {
        Ok((ack, cost)) => {
            span.applied(cost);
            Ok(ack)
        }
        Err(status) => {
            span.failed(status.message());
            Err(status)
        }
    }
}

async fn apply_batch(
    state: &Arc<State>,
    ctx: &AuthContext,
    sensor: &SensorId,
    epoch: u64,
    b: pb::Batch,
) -> Result<(pb::Ack, BatchCost), Status> {
    if b.sensor_id != sensor.as_str() || b.stream_epoch != epoch {
        return Err(Error::invalid(format!(
            "batch is for sensor {:?} epoch {}, but the stream said hello as {:?} epoch {}",
            b.sensor_id,
            b.stream_epoch,
            sensor.as_str(),
            epoch
        ))
        .into());
    }
    if b.seq == 0 {
        return Err(Error::invalid("batch seq must be greater than 0").into());
    }
    if b.endpoints.len() > state.limits.max_batch_endpoints {
        // Resending cannot change this: a definite rejection, so the sensor sets the batch
        // aside and goes on, instead of an error that makes it resend the batch forever.
        let reason = format!(
            "batch holds {} endpoint summaries, the limit is {}",
            b.endpoints.len(),
            state.limits.max_batch_endpoints
        );
        state.ingest.batches_refused.fetch_add(1, Relaxed);
        tracing::warn!(tenant = %ctx.tenant, sensor = %sensor, seq = b.seq, %reason, "refused a batch for good");
        let ack = pb::Ack {
            stream_epoch: epoch,
            seq: b.seq,
            duplicate: false,
            rejected: true,
            reject_reason: reason,
        };
        return Ok((ack, BatchCost::default()));
    }
    let seq = b.seq;
    let (batch, drops) = convert::batch(b);
    if drops.total() > 0 {
        state
            .ingest
            .entries_rejected
            .fetch_add(drops.total(), Relaxed);
        state.ingest.fields_dropped.add(&drops);
        tracing::warn!(tenant = %ctx.tenant, sensor = %sensor, seq, dropped = ?drops.nonzero(), "dropped invalid fields of a batch (its summaries are kept)");
    }
    let dropped = drops.total();
    let st = state.clone();
    let tenant = ctx.tenant.clone();
    let logged_sensor = sensor.clone();
    let sensor = sensor.clone();
    let caller = ctx.clone();
    let (applied, commit, analysis) = blocking(move || {
        let now = st.now_ms();
        // No batch commits once its token's revocation (or rotation) has returned: the check
        // and the commit happen under the fence a revocation waits on (`TokenLife::fence`).
        let _fence = st.tokens.commit_fence();
        crate::auth::recheck(&st.db, &caller, now)?;
        let started = Instant::now();
        let applied =
            st.db
                .apply_batch_counting(&tenant, &sensor, &batch, now, &st.policy, dropped)?;
        // Durable before the ack: the sensor forgets the batch once acknowledged.
        st.db.flush()?;
        let committed = Instant::now();
        (st.ingest.commit_seconds).observe((committed - started).as_secs_f64());
        if let Applied::Committed { metering, .. } = &applied {
            // Only what metering lets through reaches threat analysis.
            let analyzed: Vec<_> = batch
                .endpoints
                .iter()
                .zip(&metering.analyze)
                .filter(|(_, a)| **a)
                .map(|(e, _)| e)
                .collect();
            // The batch's log entry is durable with it; the worker analyzes it from there.
            st.analysis.submit(&tenant, &analyzed);
            st.analysis.wake();
            for pct in &metering.crossed_pct {
                tracing::warn!(tenant = %tenant, threshold_pct = pct, "billing budget threshold reached");
            }
            let until_ms = Cycle::containing(now).end_ms;
            st.publish_pause(&tenant, PauseState { paused: metering.paused_after, until_ms });
        }
        Ok((applied, committed - started, committed.elapsed()))
    })
    .await?;
    let mut cost = BatchCost {
        commit,
        analysis,
        ..Default::default()
    };
    match applied {
        Applied::Committed { requests, .. } => {
            state.ingest.batches_committed.fetch_add(1, Relaxed);
            state.ingest.requests_committed.fetch_add(requests, Relaxed);
            cost.requests = requests;
        }
        Applied::Duplicate => {
            state.ingest.batches_duplicate.fetch_add(1, Relaxed);
            cost.duplicate = true;
        }
        Applied::Retired => {
            // The epoch's watermark was pruned: a definite rejection, never a second billing.
            state.ingest.batches_refused.fetch_add(1, Relaxed);
            let reason = format!(
                "epoch {epoch} was retired (superseded and idle, or beyond inventory.max_epochs_per_sensor); start a new run"
            );
            tracing::warn!(tenant = %ctx.tenant, sensor = %logged_sensor, seq, %reason, "refused a batch for good");
            let ack = pb::Ack {
                stream_epoch: epoch,
                seq,
                rejected: true,
                reject_reason: reason,
                ..Default::default()
            };
            return Ok((ack, cost));
        }
    }
    let ack = pb::Ack {
        stream_epoch: epoch,
        seq,
        duplicate: cost.duplicate,
        ..Default::default()
    };
    Ok((ack, cost))
}

#[cfg(test)]
#[path = "ingest_race_tests.rs"]
mod race_tests;
