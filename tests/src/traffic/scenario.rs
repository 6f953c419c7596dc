//! A seeded threat scenario: a shop API's benign traffic (users, many behind one NAT address,
//! health probes, a partner's catalogue syncs, support staff, scripts retrying with an
//! expired token, a reporting integration) and, after the learning period, the chosen attacks,
//! one per time slot, each with its ground truth. Output: records in time order, rendered as
//! nginx JSON access-log lines (`deploy/nginx/picket-log-format.conf`) whose `msec` carries
//! event time, so `picket-sensor` (tail or `replay`) sees the scenario's clock.
//!
//! Same config, same lines: everything is drawn from the module's splitmix64 [`Rng`].
//!
//! ```no_run
//! use picket_tests::traffic::scenario::{self, Attack, Config};
//! let cfg = Config { attacks: Attack::ALL.to_vec(), ..Config::new(7) };
//! let (lines, truth) = scenario::nginx_scenario(&cfg);
//! ```

mod anomalies;
mod attacks;
mod benign;
#[cfg(test)]
mod tests;

use super::{Rng, START_MS};
use std::net::Ipv4Addr;

/// The scenario's API host.
pub const HOST: &str = "shop.example.com";

/// The threat-intel address the malicious-IP attack comes from (TEST-NET-3, RFC 5737);
/// `tests/data/threat-intel.txt` lists it.
pub const MALICIOUS_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);

/// Longest scenario generated, in milliseconds (a day): bounds the output.
pub const MAX_DURATION_MS: i64 = 86_400_000;

/// An attack the scenario can stage; [`Attack::type_id`] is the alert type id that should
/// report it (SPEC §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attack {
    EndpointSpray,
    ParameterEnumeration,
    DistributedParameterEnumeration,
    Injection,
    BruteForce,
    CredentialStuffing,
    AuthBypass,
    PopulationTrafficSpike,
    ClientTrafficSpike,
    LargeResponse,
    LargeRequestBody,
    LatencySpike,
    UnseenParameter,
    AnomalousParameterType,
    MaliciousIp,
    SuspiciousUserAgent,
}

impl Attack {
    /// Every attack, in slot order when all are staged.
    pub const ALL: [Attack; 16] = [
        Attack::EndpointSpray,
        Attack::ParameterEnumeration,
        Attack::DistributedParameterEnumeration,
        Attack::Injection,
        Attack::BruteForce,
        Attack::CredentialStuffing,
        Attack::AuthBypass,
        Attack::PopulationTrafficSpike,
        Attack::ClientTrafficSpike,
        Attack::LargeResponse,
        Attack::LargeRequestBody,
        Attack::LatencySpike,
        Attack::UnseenParameter,
        Attack::AnomalousParameterType,
        Attack::MaliciousIp,
        Attack::SuspiciousUserAgent,
    ];

    /// The alert type id (`endpoint_spray`, …) of the detector that should report it.
    pub fn type_id(self) -> &'static str {
        match self {
            Attack::EndpointSpray => "endpoint_spray",
            Attack::ParameterEnumeration => "parameter_enumeration",
            Attack::DistributedParameterEnumeration => "distributed_parameter_enumeration",
            Attack::Injection => "injection",
            Attack::BruteForce => "brute_force",
            Attack::CredentialStuffing => "credential_stuffing",
            Attack::AuthBypass => "auth_bypass",
            Attack::PopulationTrafficSpike => "population_traffic_spike",
            Attack::ClientTrafficSpike => "client_traffic_spike",
            Attack::LargeResponse => "large_response",
            Attack::LargeRequestBody => "large_request_body",
            Attack::LatencySpike => "latency_spike",
            Attack::UnseenParameter => "unseen_parameter",
            Attack::AnomalousParameterType => "anomalous_parameter_type",
            Attack::MaliciousIp => "malicious_ip",
            Attack::SuspiciousUserAgent => "suspicious_user_agent",
        }
    }
}

/// One request as the gateway logs it, with its ground truth (`attack`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub ts_ms: i64,
    pub host: &'static str,
    pub method: &'static str,
    /// Path and query, percent-encoded as sent.
    pub target: String,
    pub status: u16,
    pub client: Ipv4Addr,
    pub user_agent: &'static str,
    /// The `Authorization` header, when the request carried one.
    pub authorization: Option<String>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub latency_ms: u64,
    /// The attack the request belongs to; `None` for benign traffic.
    pub attack: Option<Attack>,
}

/// Ground truth of one staged attack.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub attack: Attack,
    pub host: &'static str,
    /// The endpoint attacked; `None` when the attack spans endpoints (spray, scanners).
    pub method: Option<&'static str>,
    pub template: Option<&'static str>,
    /// The attackers' addresses (one for single-actor attacks).
    pub clients: Vec<Ipv4Addr>,
    /// The credentials' identities as sent (Basic user names, bearer tokens); empty when
    /// anonymous.
    pub principals: Vec<String>,
    /// First and last request, inclusive, in Unix ms.
    pub start_ms: i64,
    pub end_ms: i64,
    pub requests: usize,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Unix ms of the first request.
    pub start_ms: i64,
    /// Length of the benign traffic; extended when the attack slots need more.
    pub duration_ms: i64,
    /// Benign-only stretch at the start, for baselines.
    pub learning_ms: i64,
    /// Offset of the first attack slot from `start_ms`; never before `learning_ms`.
    pub attack_start_ms: i64,
    /// Length of each attack's slot; attacks run one after the other.
    pub slot_ms: i64,
    /// Mean benign request rate of the user population, requests per second.
    pub user_rps: u32,
    /// Users of the API; the first `nat_users` share one NAT address.
    pub users: usize,
    pub nat_users: usize,
    /// Interval between the partner's catalogue syncs.
    pub partner_every_ms: i64,
    /// Attacks to stage, in slot order (an attack listed twice is staged twice).
    pub attacks: Vec<Attack>,
}

impl Config {
    /// Benign traffic only: 30 minutes, 10 minutes of learning, 90-second slots.
    pub fn new(seed: u64) -> Self {
        Config {
            seed,
            start_ms: START_MS,
            duration_ms: 30 * 60_000,
            learning_ms: 10 * 60_000,
            attack_start_ms: 11 * 60_000,
            slot_ms: 90_000,
            user_rps: 5,
            users: 150,
            nat_users: 30,
            partner_every_ms: 5 * 60_000,
            attacks: Vec::new(),
        }
    }

    /// The window `[start, end)` of the `i`-th attack slot, in Unix ms.
    pub fn slot(&self, i: usize) -> (i64, i64) {
        let first = self.start_ms + self.attack_start_ms.max(self.learning_ms);
        let s = first + i as i64 * self.slot_ms;
        (s, s + self.slot_ms)
    }

    /// Where the traffic ends: the benign duration or the last slot's end, within the cap.
    pub fn end_ms(&self) -> i64 {
        let slots_end = self.slot(self.attacks.len()).0;
        let end = (self.start_ms + self.duration_ms).max(slots_end);
        end.min(self.start_ms + MAX_DURATION_MS)
    }
}

/// A generated scenario: records sorted by time, and the truth of every staged attack.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub records: Vec<LogRecord>,
    pub truth: Vec<Truth>,
}

/// Builds benign traffic and the configured attacks.
pub fn build(cfg: &Config) -> Scenario {
    let mut rng = Rng::new(cfg.seed ^ 0x7468_7265_6174);
    let mut records = benign::all(&mut rng, cfg);
    let mut truth = Vec::new();
    for (i, attack) in cfg.attacks.iter().enumerate() {
        let (start, end) = cfg.slot(i);
        if start >= cfg.end_ms() {
            break;
        }
        let mut staged = Vec::new();
        let mut t = stage(&mut rng, cfg, *attack, (start, end), &mut staged);
        t.requests = staged.len();
        t.start_ms = staged.iter().map(|r| r.ts_ms).min().unwrap_or(start);
        t.end_ms = staged.iter().map(|r| r.ts_ms).max().unwrap_or(start);
        debug_assert!(staged.iter().all(|r| r.attack == Some(*attack)));
        records.extend(staged);
        truth.push(t);
    }
    records.sort_by_key(|r| r.ts_ms);
    Scenario { records, truth }
}

/// Stages one attack inside `window`, appending its records; returns its truth (the
/// request count and times are filled in by [`build`]).
fn stage(
    rng: &mut Rng,
    cfg: &Config,
    attack: Attack,
    window: (i64, i64),
    out: &mut Vec<LogRecord>,
) -> Truth {
    use Attack::*;
    match attack {
        EndpointSpray => attacks::endpoint_spray(rng, window, out),
        ParameterEnumeration => attacks::parameter_enumeration(rng, window, out),
        DistributedParameterEnumeration => attacks::distributed_enumeration(rng, window, out),
        Injection => attacks::injection(rng, window, out),
        BruteForce => attacks::brute_force(rng, window, out),
        CredentialStuffing => attacks::credential_stuffing(rng, window, out),
        AuthBypass => attacks::auth_bypass(rng, window, out),
        MaliciousIp => attacks::malicious_ip(rng, window, out),
        SuspiciousUserAgent => attacks::suspicious_user_agent(rng, window, out),
        PopulationTrafficSpike => anomalies::population_spike(rng, cfg, window, out),
        ClientTrafficSpike => anomalies::client_spike(rng, window, out),
        LargeResponse => anomalies::large_response(rng, window, out),
        LargeRequestBody => anomalies::large_request_body(rng, window, out),
        LatencySpike => anomalies::latency_spike(rng, cfg, window, out),
        UnseenParameter => anomalies::unseen_parameter(rng, window, out),
        AnomalousParameterType => anomalies::anomalous_parameter_type(rng, window, out),
    }
}

/// The whole scenario as time-ordered nginx JSON lines (no trailing newlines), with the
/// ground truth.
pub fn nginx_scenario(cfg: &Config) -> (Vec<String>, Vec<Truth>) {
    let s = build(cfg);
    (s.records.iter().map(nginx_json).collect(), s.truth)
}

/// One record in Picket's nginx JSON `log_format` (nginx variable names as keys, values as
/// strings, as nginx writes them).
pub fn nginx_json(r: &LogRecord) -> String {
    let fields: [(&str, String); 12] = [
        (
            "msec",
            format!(
                "{}.{:03}",
                r.ts_ms.div_euclid(1000),
                r.ts_ms.rem_euclid(1000)
            ),
        ),
        ("remote_addr", r.client.to_string()),
        ("host", r.host.to_owned()),
        ("scheme", "https".to_owned()),
        ("request_method", r.method.to_owned()),
        ("request_uri", r.target.clone()),
        ("status", r.status.to_string()),
        ("body_bytes_sent", r.response_bytes.to_string()),
        ("request_length", r.request_bytes.to_string()),
        (
            "request_time",
            format!("{}.{:03}", r.latency_ms / 1000, r.latency_ms % 1000),
        ),
        ("http_user_agent", r.user_agent.to_owned()),
        (
            "http_authorization",
            r.authorization.clone().unwrap_or_default(),
        ),
    ];
    // In the log_format's order (serde_json's map would sort the keys).
    let mut line = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&serde_json::Value::from(*k).to_string());
        line.push(':');
        line.push_str(&serde_json::Value::from(v.as_str()).to_string());
    }
    line.push('}');
    line
}

/// Standard base64 (RFC 4648, padded), for Basic credentials.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// The attacks of the bundled demo sample, in slot order.
pub const DEMO_ATTACKS: [Attack; 7] = [
    Attack::EndpointSpray,
    Attack::Injection,
    Attack::BruteForce,
    Attack::ParameterEnumeration,
    Attack::SuspiciousUserAgent,
    Attack::MaliciousIp,
    Attack::LargeResponse,
];

/// Seed of the bundled demo sample.
pub const DEMO_SEED: u64 = 0xde30_2026;

/// The bundled demo sample (`tests/data/sample-access.json` and `sample-access-b.json`,
/// written by `picket-gen-sample` through [`demo_gateways`]):
/// 15 minutes of event time, benign only for the first 6 (a controller learning for 300 s
/// has its baselines before the first attack), then [`DEMO_ATTACKS`] in one-minute slots.
pub fn demo_config() -> Config {
    Config {
        duration_ms: 15 * 60_000,
        learning_ms: 6 * 60_000,
        attack_start_ms: 6 * 60_000,
        slot_ms: 60_000,
        user_rps: 4,
        users: 100,
        nat_users: 20,
        attacks: DEMO_ATTACKS.to_vec(),
        ..Config::new(DEMO_SEED)
    }
}

/// The bundled demo sample as two gateways see it: gateway B (`sample-access-b.json`)
/// carries the injection, sent by the endpoint sprayer of gateway A (`sample-access.json`),
/// so one attacker crosses two sensors; everything else passes gateway A. Returns the lines
/// of A, the lines of B and the truth with the injection's client rewritten.
pub fn demo_gateways(lines: &[String], truth: &[Truth]) -> (Vec<String>, Vec<String>, Vec<Truth>) {
    let client = |a: Attack| {
        truth
            .iter()
            .find(|t| t.attack == a)
            .and_then(|t| t.clients.first().copied())
    };
    let (Some(sprayer), Some(injector)) =
        (client(Attack::EndpointSpray), client(Attack::Injection))
    else {
        return (lines.to_vec(), Vec::new(), truth.to_vec());
    };
    let field = |ip: Ipv4Addr| format!("\"remote_addr\":\"{ip}\"");
    let (from_injector, to_sprayer) = (field(injector), field(sprayer));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for l in lines {
        if l.contains(&from_injector) {
            b.push(l.replace(&from_injector, &to_sprayer));
        } else {
            a.push(l.clone());
        }
    }
    let mut truth = truth.to_vec();
    for t in truth.iter_mut().filter(|t| t.attack == Attack::Injection) {
        t.clients = vec![sprayer];
    }
    (a, b, truth)
}

/// The ground truth as JSON (one object per attack), for people and for tests that check
/// alerts against it.
pub fn truth_json(truth: &[Truth]) -> serde_json::Value {
    let ms = picket_shared::time::format_rfc3339_ms;
    serde_json::Value::Array(
        truth
            .iter()
            .map(|t| {
                serde_json::json!({
                    "type": t.attack.type_id(), "host": t.host, "method": t.method,
                    "template": t.template,
                    "clients": t.clients.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    "principals": t.principals.len(),
                    "start": ms(t.start_ms), "end": ms(t.end_ms), "requests": t.requests,
                })
            })
            .collect(),
    )
}
