//! The analysis loop: event-time ordering, per-sensor watermarks, lateness, minute buckets and
//! their absorption into baselines, and the dispatch to the detectors.
//!
//! A batch's endpoint summaries, actor summaries and notables are processed in event-time
//! order (window start or timestamp; then summaries, actors, notables; then batch position),
//! and each sensor's watermark (its newest event time) advances item by item. So the same
//! traffic cut into batches differently meets the same watermark at every item and yields the
//! same alerts and counts. Data older than watermark − lateness is late: signature detectors
//! still judge it; baselines and windows do not take it (`Output.late`). An endpoint's minute
//! bucket is absorbed into its baselines once the watermark passes its end plus the lateness
//! (checked when the endpoint is next touched; at most `MAX_OPEN_BUCKETS` stay open).

use crate::alerts::{self, Candidate};
use crate::baseline::decay;
use crate::detectors::{self, Client, actor_key};
use crate::state::{
    ActorEndpoint, ActorState, BUCKET_MS, Bucket, EndpointState, MAX_ACTOR_ENDPOINTS_PER_MIN,
    MAX_ACTOR_PRINCIPALS, MAX_BUCKET_CLIENTS, MAX_BUCKET_FAILERS, MAX_OPEN_BUCKETS,
    MAX_SENSITIVE_CLASSES, floor,
};
use crate::table::stable_hash;
use crate::{Context, Engine, Input, Output};
use picket_shared::{ActorSummary, EndpointKey, EndpointSummary};

/// Most idle minutes filled one by one into a rate level (the rest decay only).
const MAX_GAP_MINUTES: u64 = 24 * 60;

impl Engine {
    pub(crate) fn run(&mut self, input: &Input<'_>, ctx: &Context<'_>) -> Output {
        let mut out = Output::default();
        let mut items: Vec<(i64, u8, usize)> =
            Vec::with_capacity(input.endpoints.len() + input.actors.len() + input.notables.len());
        items.extend(
            input
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, (_, s))| (s.window_start_ms, 0, i)),
        );
        items.extend(
            input
                .actors
                .iter()
                .enumerate()
                .map(|(i, a)| (a.window_start_ms, 1, i)),
        );
        items.extend(
            input
                .notables
                .iter()
                .enumerate()
                .map(|(i, n)| (n.ts_ms, 2, i)),
        );
        items.sort_unstable();
        let sensor = input.sensor;
        for (ts, kind, i) in items {
            let (wm, late) = self.advance(sensor, ts);
            let cands = match kind {
                0 => {
                    let (key, s) = &input.endpoints[i];
                    self.meta.stats.summaries += 1;
                    self.on_summary(key, s, wm, late, ctx, &mut out)
                }
                1 => {
                    self.meta.stats.actor_summaries += 1;
                    if late {
                        self.meta.stats.late += 1;
                        out.late += 1;
                    }
                    self.on_actor(&input.actors[i], late, ctx)
                }
                _ => {
                    self.meta.stats.notables += 1;
                    detectors::signature::notable(&input.notables[i], ctx.intel)
                }
            };
            for c in cands {
                self.emit(c, sensor, ctx, &mut out);
            }
        }
        self.housekeeping();
        self.meta_dirty = true;
        out
    }

    /// Moves `sensor`'s watermark to `ts`; returns it and whether `ts` is late.
    fn advance(&mut self, sensor: &str, ts: i64) -> (i64, bool) {
        let wm_before = self
            .meta
            .watermarks
            .get(sensor)
            .copied()
            .unwrap_or(i64::MIN);
        let late = ts < wm_before.saturating_sub(self.config.lateness_ms);
        let wm = wm_before.max(ts);
        self.meta.watermarks.insert(sensor.to_owned(), wm);
        self.meta.event_ms = self.meta.event_ms.max(wm);
        if self.meta.watermarks.len() > crate::MAX_SENSORS {
            // Forget the sensor that has been silent longest (never the current one).
            let oldest = self
                .meta
                .watermarks
                .iter()
                .filter(|(s, _)| s.as_str() != sensor)
                .min_by_key(|(_, w)| **w)
                .map(|(s, _)| s.clone());
            if let Some(s) = oldest {
                self.meta.watermarks.remove(&s);
                self.meta.stats.evictions += 1;
            }
        }
        (wm, late)
    }

    fn emit(&mut self, c: Candidate, sensor: &str, ctx: &Context<'_>, out: &mut Output) {
        let window = self.config.dedup_window_ms;
        alerts::emit(
            &mut self.open,
            c,
            sensor,
            window,
            ctx,
            out,
            &mut self.meta.stats,
        );
    }

    fn on_summary(
        &mut self,
        key: &EndpointKey,
        s: &EndpointSummary,
        wm: i64,
        late: bool,
        ctx: &Context<'_>,
        out: &mut Output,
    ) -> Vec<Candidate> {
        let clients = detectors::clients(s);
        let mut cands: Vec<Candidate> = clients
            .iter()
            .filter_map(|c| {
                let ip = c.ip?;
                detectors::signature::ip_hit(
                    ip,
                    c.principal.as_deref(),
                    key,
                    s.window_start_ms,
                    ctx.intel,
                )
            })
            .collect();
        let ts = s.window_start_ms;
        let bstart = floor(ts, BUCKET_MS);
        let id = detectors::volume::endpoint_id(key);
        let lateness = self.config.lateness_ms;
        let learning = self.config.learning_period_ms;
        let ep = self.endpoints.entry(&id, || EndpointState {
            first_ms: ts,
            ..EndpointState::default()
        });
        ep.first_ms = ep.first_ms.min(ts);
        ep.last_ms = ep.last_ms.max(ts);
        absorb_due(ep, wm.saturating_sub(lateness));
        if late || ep.absorbed.is_some_and(|a| bstart <= a) {
            self.meta.stats.late += 1;
            out.late += 1;
            return cands;
        }
        let armed = bstart >= ep.first_ms.saturating_add(learning);
        let mut b = ep.buckets.remove(&bstart).unwrap_or_default();
        add_to_bucket(&mut b, s, &clients);
        if armed {
            cands.extend(detectors::volume::endpoint(ep, &mut b, s, &clients, key));
            cands.extend(detectors::authn::check(ep, &mut b, s, &clients, key));
        }
        ep.buckets.insert(bstart, b);
        cands.extend(detectors::params::check(ep, s, &clients, key, armed));
        cands.extend(detectors::enumeration::distributed(
            ep, &clients, key, ts, armed,
        ));
        let ep_hash = stable_hash(&[id.as_bytes()]);
        for c in &clients {
            cands.extend(self.on_client(&id, ep_hash, key, c, ts, armed));
        }
        for c in detectors::principals(s) {
            cands.extend(self.on_refs(&id, key, &c, ts, armed));
        }
        cands
    }

    /// Per-(actor, endpoint) and per-actor updates and checks for one client of a summary.
    fn on_client(
        &mut self,
        id: &str,
        ep_hash: u64,
        key: &EndpointKey,
        c: &Client,
        ts: i64,
        armed: bool,
    ) -> Vec<Candidate> {
        let mut out = Vec::new();
        let minute = floor(ts, BUCKET_MS);
        let a = self.actors.entry(&c.key, ActorState::default);
        roll_actor(a, minute);
        a.last_ms = a.last_ms.max(ts);
        if a.minute == minute {
            a.client_requests = a.client_requests.saturating_add(c.requests);
            a.client_errors = a.client_errors.saturating_add(c.errors);
            if let Err(pos) = a.endpoints.binary_search(&ep_hash)
                && a.endpoints.len() < MAX_ACTOR_ENDPOINTS_PER_MIN
            {
                a.endpoints.insert(pos, ep_hash);
            }
            for p in &c.principals {
                let h = stable_hash(&[p.as_bytes()]);
                if !a.principals.contains(&h) && a.principals.len() < MAX_ACTOR_PRINCIPALS {
                    a.principals.push(h);
                }
            }
            out.extend(detectors::actor::spray(a, &c.key, c.actor(), &key.host));
        }
        let principals = a.principals.len();
        let ae_key = format!("{}\u{1}{id}", c.key);
        let Some(ep) = self.endpoints.get_mut(id) else {
            return out;
        };
        let ae = self.actor_eps.entry(&ae_key, ActorEndpoint::default);
        ae.last_ms = ae.last_ms.max(ts);
        if minute > ae.minute {
            if ae.requests > 0 {
                let d = decay(minute - ae.minute);
                ae.own.observe(ae.requests as f64, d);
            }
            *ae = ActorEndpoint {
                minute,
                own: std::mem::take(&mut ae.own),
                horizon_ms: ae.horizon_ms,
                kmv: std::mem::take(&mut ae.kmv),
                h_fired: ae.h_fired,
                last_ms: ae.last_ms,
                ..ActorEndpoint::default()
            };
        }
        if minute == ae.minute {
            ae.requests = ae.requests.saturating_add(c.requests);
            ae.auth_failures = ae.auth_failures.saturating_add(c.auth_failures);
            out.extend(detectors::actor::brute_force(ae, principals, c, key, ts));
            if armed {
                out.extend(detectors::volume::client_spike(ep, ae, c, key, ts));
            }
        }
        out
    }

    /// Reference enumeration for one (address, principal) client of a summary.
    fn on_refs(
        &mut self,
        id: &str,
        key: &EndpointKey,
        c: &Client,
        ts: i64,
        armed: bool,
    ) -> Option<Candidate> {
        if c.sample.is_empty() {
            return None;
        }
        let ep = self.endpoints.get_mut(id)?;
        let ae = self
            .actor_eps
            .entry(&format!("r\u{1}{}\u{1}{id}", c.key), ActorEndpoint::default);
        ae.last_ms = ae.last_ms.max(ts);
        detectors::enumeration::single(ep, ae, c, key, ts, armed)
    }

    fn on_actor(&mut self, a: &ActorSummary, late: bool, ctx: &Context<'_>) -> Vec<Candidate> {
        let mut out = detectors::signature::actor(a, ctx.intel);
        let Some(k) = actor_key(a.client_ip, a.principal.as_deref()) else {
            return out;
        };
        if late {
            return out;
        }
        let minute = floor(a.window_start_ms, BUCKET_MS);
        let st = self.actors.entry(&k, ActorState::default);
        roll_actor(st, minute);
        st.last_ms = st.last_ms.max(a.window_start_ms);
        if st.minute == minute {
            st.requests = st.requests.saturating_add(a.requests);
            st.errors = st
                .errors
                .saturating_add(a.forbidden.saturating_add(a.not_found))
                .saturating_add(a.method_not_allowed);
            let actor = crate::Actor {
                ip: a.client_ip,
                principal: a.principal.clone(),
                user_agent: a.agent.clone(),
            };
            out.extend(detectors::actor::spray(st, &k, actor, ""));
        }
        out
    }
}

/// Starts a new minute for an actor when `minute` is newer.
fn roll_actor(a: &mut ActorState, minute: i64) {
    if minute > a.minute {
        *a = ActorState {
            minute,
            last_ms: a.last_ms,
            ..ActorState::default()
        };
    }
}

/// Folds a summary into its minute bucket.
fn add_to_bucket(b: &mut Bucket, s: &EndpointSummary, clients: &[Client]) {
    b.requests = b.requests.saturating_add(s.requests);
    let mut ok = 0u64;
    for (status, n) in &s.statuses {
        if let Some(slot) = b.classes.get_mut(usize::from(status / 100).wrapping_sub(2)) {
            *slot = slot.saturating_add(*n);
        }
        if (200..300).contains(status) {
            ok = ok.saturating_add(*n);
        }
        if matches!(status, 401 | 403) {
            b.auth_fail = b.auth_fail.saturating_add(*n);
        }
    }
    b.unauth_2xx += ok.saturating_sub(s.auth_present);
    b.auth_present = b.auth_present.saturating_add(s.auth_present);
    b.lat.merge(&s.latency_us_hist);
    b.req.merge(&s.request_bytes_hist);
    b.resp.merge(&s.response_bytes_hist);
    for c in clients {
        if b.clients.len() < MAX_BUCKET_CLIENTS || b.clients.contains_key(&c.key) {
            let slot = b.clients.entry(c.key.clone()).or_default();
            *slot = slot.saturating_add(c.requests);
        }
        if c.auth_failures > 0 {
            if b.fail_actors.len() < MAX_BUCKET_FAILERS {
                b.fail_actors.insert(c.key.clone());
            }
            for p in &c.principals {
                if b.fail_principals.len() < MAX_BUCKET_FAILERS {
                    b.fail_principals.insert(p.clone());
                }
            }
        }
    }
    for (k, n) in &s.sensitive {
        if k.starts_with("response:")
            && (b.sensitive.len() < MAX_SENSITIVE_CLASSES || b.sensitive.contains_key(k))
        {
            let slot = b.sensitive.entry(k.clone()).or_default();
            *slot = slot.saturating_add(*n);
        }
    }
}

/// Absorbs the buckets that ended at or before `upto` (and the oldest beyond the cap).
fn absorb_due(ep: &mut EndpointState, upto: i64) {
    while let Some((&start, _)) = ep.buckets.first_key_value() {
        if start + BUCKET_MS > upto && ep.buckets.len() <= MAX_OPEN_BUCKETS {
            break;
        }
        if let Some(b) = ep.buckets.remove(&start) {
            absorb(ep, start, &b);
        }
    }
}

/// Adds one closed minute to the endpoint's baselines.
fn absorb(ep: &mut EndpointState, start: i64, b: &Bucket) {
    let d1 = decay(BUCKET_MS);
    if let Some(prev) = ep.absorbed {
        let gaps = ((start - prev) / BUCKET_MS).saturating_sub(1);
        ep.rate
            .observe_zeros(gaps.max(0) as u64, d1, MAX_GAP_MINUTES);
    }
    ep.rate.observe(b.requests as f64, d1);
    let d = if ep.sums_ms == 0 {
        1.0
    } else {
        decay(start - ep.sums_ms)
    };
    let mut first = true;
    for n in b.clients.values() {
        let dc = if first { d } else { 1.0 };
        first = false;
        ep.client_rate.observe(*n as f64, dc);
    }
    for (slot, n) in ep.classes.iter_mut().zip(b.classes) {
        *slot = *slot * d + n as f64;
    }
    ep.auth_fail = ep.auth_fail * d + b.auth_fail as f64;
    let auth_present = b.auth_present.min(b.requests) as f64;
    ep.requests = ep.requests * d + b.requests as f64;
    ep.auth_present = ep.auth_present * d + auth_present;
    ep.sums_ms = start;
    ep.resp.absorb(&b.resp, d);
    ep.req.absorb(&b.req, d);
    ep.lat.absorb(&b.lat, d);
    for (class, n) in &b.sensitive {
        if ep.sensitive.len() < MAX_SENSITIVE_CLASSES || ep.sensitive.contains_key(class) {
            ep.sensitive
                .entry(class.clone())
                .or_default()
                .observe(*n as f64, d);
        }
    }
    ep.absorbed = Some(start);
}
