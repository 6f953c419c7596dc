//! Sensor configuration: a TOML file (unknown keys rejected), overridden by flags and env.
//! Every key is documented in `deploy/sensor.example.toml`.

use crate::sources::nginx::LogFormat;
use picket_runtime::admin::AdminListen;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The whole sensor configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorConfig {
    /// Controller URL.
    pub controller: String,
    /// Bearer token with role `sensor`.
    pub token: Option<String>,
    /// File holding the token (first line), as an alternative to `token`.
    pub token_file: Option<PathBuf>,
    /// PEM CA that issued the controller's certificate (`https://` controllers). Files are
    /// read on every connection attempt, so renewed ones take effect on reconnect.
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate for a controller that requires one (with `tls_key_file`).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Stable sensor name, unique within the tenant; defaults to the host name.
    pub id: Option<String>,
    /// Where positions live.
    pub data_dir: PathBuf,
    /// How often the batch under construction is sealed and sent, in milliseconds.
    pub flush_interval_ms: u64,
    /// Width of the event-time windows summaries are cut into, in milliseconds.
    pub window_ms: u32,
    /// Distinct endpoints in one batch before it is sealed early.
    pub max_batch_endpoints: usize,
    /// Approximate bytes the batch under construction may hold in memory before it is sealed
    /// early (endpoints, clients, principals, object references).
    pub max_batch_bytes: usize,
    /// Distinct client addresses tracked per endpoint per batch.
    pub max_clients_per_endpoint: usize,
    /// Threads of the async runtime (gRPC, Envoy ALS and mirror listeners, aggregation); file
    /// sources parse on threads of their own. Raise it for a sensor receiving ALS from many
    /// busy proxies; each thread costs memory.
    pub worker_threads: usize,
    /// Judge every request's path, query, selected headers and body for injections (SQL,
    /// NoSQL, command, traversal, XSS, template, LDAP); hits are counted per endpoint by rule.
    pub classify_injections: bool,
    /// Proxies (addresses or CIDRs) whose `X-Forwarded-For` is believed: when a request comes
    /// from one, the client is the first address to their left that is not a trusted proxy.
    pub trusted_proxies: Vec<String>,
    /// Distinct values at one path position (under one prefix) before the sensor may turn it
    /// into a parameter (when the values rarely repeat or look like names).
    pub template_promote_after_distinct: usize,
    /// Path positions the template learner tracks at once (bounded memory).
    pub template_max_positions: usize,
    /// Distinct clients (addresses, or principals without one) that must each have brought a
    /// new value at a position before the sensor may turn it into a parameter: a client
    /// spraying or enumerating paths is one vote however many it sends. Lower it only for
    /// APIs with very few clients.
    pub template_min_clients: usize,
    /// Unacknowledged batches kept while the controller is away; the oldest is dropped beyond.
    pub max_pending_batches: usize,
    /// Batches sent but not yet acknowledged.
    pub max_in_flight_batches: usize,
    /// Bytes the on-disk spool of unacknowledged batches may hold; the oldest is dropped
    /// (and counted) beyond.
    pub spool_max_bytes: u64,
    /// Chunks queued between sources and the aggregator.
    pub max_queued_chunks: usize,
    /// Largest message sent to the controller, in bytes.
    pub max_message_bytes: usize,
    /// Timeout of a connection attempt, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Smallest and largest reconnect delay, in milliseconds (jittered).
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// On shutdown, how long to wait for unacknowledged batches, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Tailed access-log files.
    #[serde(rename = "file")]
    pub files: Vec<FileSourceConfig>,
    /// Envoy gRPC Access Log Service listener.
    pub als: Option<AlsConfig>,
    /// HTTP mirror listener (nginx `mirror`, Envoy request mirroring).
    pub mirror: Option<MirrorConfig>,
    /// How the sensor is observed: admin listener and log format.
    pub telemetry: TelemetryConfig,
    /// A recorded file to replay once (`picket-sensor replay`); not a config-file key.
    #[serde(skip)]
    pub replay: Option<ReplaySpec>,
}

/// A file for `picket-sensor replay`.
#[derive(Debug, Clone)]
pub struct ReplaySpec {
    pub path: PathBuf,
    pub format: crate::sources::replay::ReplayFormat,
    pub default_host: String,
}

impl Default for SensorConfig {
    fn default() -> Self {
        Self {
            controller: "http://127.0.0.1:50051".into(),
            token: None,
            token_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            id: None,
            data_dir: PathBuf::from("./picket-sensor-data"),
            flush_interval_ms: 1_000,
            window_ms: 1_000,
            max_batch_endpoints: 5_000,
            max_batch_bytes: 2 * 1024 * 1024,
            max_clients_per_endpoint: 4_096,
            worker_threads: 1,
            classify_injections: true,
            trusted_proxies: Vec::new(),
            template_promote_after_distinct: 16,
            template_max_positions: 20_000,
            template_min_clients: 8,
            max_pending_batches: 4_096,
            max_in_flight_batches: 32,
            spool_max_bytes: 512 * 1024 * 1024,
            max_queued_chunks: 8,
            max_message_bytes: 16 * 1024 * 1024,
            connect_timeout_ms: 5_000,
            backoff_min_ms: 100,
            backoff_max_ms: 30_000,
            shutdown_grace_ms: 5_000,
            files: Vec::new(),
            als: None,
            mirror: None,
            telemetry: TelemetryConfig::default(),
            replay: None,
        }
    }
}

/// The admin listener (`/metrics`, `/healthz`, `/readyz`) and the log format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Address of the HTTP admin listener, or "off". Loopback by default; a bind failure
    /// stops the start. Not started by `replay` and `classify`.
    pub admin_listen: AdminListen,
    /// Log format on stderr: "text" or "json" (one object per line).
    pub log_format: picket_runtime::LogFormat,
    /// OTLP/gRPC collector to export traces and metrics to, e.g. "http://otel-collector:4317";
    /// unset: no OpenTelemetry export (no exporter, no cost).
    pub otlp_endpoint: Option<String>,
    /// OTLP export tuning (`[telemetry.otlp]`): deadlines, span queue, intervals.
    pub otlp: picket_runtime::otel::OtlpConfig,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            admin_listen: AdminListen::On(picket_runtime::admin::SENSOR_DEFAULT),
            log_format: picket_runtime::LogFormat::Text,
            otlp_endpoint: None,
            otlp: Default::default(),
        }
    }
}

/// One tailed access-log file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    pub path: PathBuf,
    /// `json` (nginx variable names as keys) or `combined`.
    pub format: LogFormat,
    /// Host recorded when a line has none.
    #[serde(default = "default_host")]
    pub default_host: String,
    /// Longest accepted line, in bytes.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How often the file is polled, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// Quiet time before a renamed-away file is closed, in milliseconds.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
}

/// The HTTP mirror listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// `"ADDR:PORT"`, or a bare port (`9002` or `"9002"`) for loopback. Default
    /// `127.0.0.1:9002`; any other interface is an explicit choice.
    #[serde(
        default = "default_mirror_listen",
        deserialize_with = "deserialize_listen"
    )]
    pub listen: SocketAddr,
    /// Host recorded when a request has no `Host` header.
    #[serde(default = "default_host")]
    pub default_host: String,
    /// Request-body bytes read per request, in bytes; the rest is discarded.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Peers (addresses or CIDRs) allowed to connect; others are closed at once and counted.
    /// Unset: loopback only (`127.0.0.0/8`, `::1`).
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Peers (addresses or CIDRs) whose `X-Real-IP` / `X-Forwarded-For` name the client.
    /// Unset: loopback only (a local gateway mirroring to the sensor).
    #[serde(default)]
    pub trusted_proxies: Option<Vec<String>>,
    /// Believe `X-Real-IP` from trusted proxies (before `X-Forwarded-For`). Off by default:
    /// many gateways pass a client's own `X-Real-IP` through unchanged; turn it on only when
    /// the gateway overwrites it (nginx `proxy_set_header X-Real-IP $remote_addr`).
    #[serde(default)]
    pub real_ip_header: bool,
    /// Most connections open at once; more are closed at once and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a request's line and headers may take to arrive, in milliseconds.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Time a request's whole body may take to arrive, in milliseconds.
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Time a kept-alive connection may wait for its next request, in milliseconds.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
}

fn default_max_body_bytes() -> usize {
    64 * 1024
}
fn default_mirror_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9002))
}
fn default_als_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9001))
}
fn default_max_connections() -> usize {
    1024
}
fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_preface_timeout_ms() -> u64 {
    10_000
}
fn default_body_timeout_ms() -> u64 {
    30_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_als_idle_timeout_ms() -> u64 {
    300_000
}
fn default_keepalive_interval_ms() -> u64 {
    30_000
}
fn default_keepalive_timeout_ms() -> u64 {
    10_000
}

/// Most connections a listener's `max_connections` may allow.
pub const MAX_LISTENER_CONNECTIONS: usize = 65_536;
/// Longest listener timeout accepted, in milliseconds (one day).
pub const MAX_LISTENER_TIMEOUT_MS: u64 = 86_400_000;

/// A listen address: `ADDR:PORT`, or a bare port meaning `127.0.0.1:PORT` (loopback unless an
/// interface is named).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!("{s:?} is not a listen address (ADDR:PORT, [IPv6]:PORT, or a port for loopback)")
    })
}

fn deserialize_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Listen {
        Port(u16),
        Text(String),
    }
    match Listen::deserialize(d)? {
        Listen::Port(p) => Ok(SocketAddr::from(([127, 0, 0, 1], p))),
        Listen::Text(t) => parse_listen(&t).map_err(serde::de::Error::custom),
    }
}

impl MirrorConfig {
    pub fn new(listen: SocketAddr, default_host: String) -> Self {
        Self {
            listen,
            default_host,
            max_body_bytes: default_max_body_bytes(),
            allow: None,
            trusted_proxies: None,
            real_ip_header: false,
            max_connections: default_max_connections(),
            header_timeout_ms: default_header_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
        }
    }
}

/// The Envoy ALS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlsConfig {
    /// `"ADDR:PORT"`, or a bare port (`9001` or `"9001"`) for loopback. Default
    /// `127.0.0.1:9001`; any other interface is an explicit choice.
    #[serde(
        default = "default_als_listen",
        deserialize_with = "deserialize_listen"
    )]
    pub listen: SocketAddr,
    /// Serve TLS with this PEM certificate chain (with `tls_key_file`); reloaded when it
    /// changes. Default: plaintext.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The certificate's PEM private key.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA(s): when set (with TLS), Envoy must present a client certificate they issued.
    #[serde(default)]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Host recorded when an entry has no authority.
    #[serde(default = "default_host")]
    pub default_host: String,
    /// Peers (addresses or CIDRs) allowed to connect; others are closed at once and counted.
    /// Unset: loopback only (`127.0.0.0/8`, `::1`).
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Most connections open at once; more are closed at once and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection whose HTTP/2 preface has not arrived this long after accept (after the
    /// TLS handshake, with TLS) is closed and counted, in milliseconds.
    #[serde(default = "default_preface_timeout_ms")]
    pub preface_timeout_ms: u64,
    /// A stream with no message for this long is ended (Envoy opens a new one when it next
    /// logs), in milliseconds.
    #[serde(default = "default_als_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// HTTP/2 keepalive pings to Envoy this often, in milliseconds.
    #[serde(default = "default_keepalive_interval_ms")]
    pub keepalive_interval_ms: u64,
    /// A connection whose keepalive ping is not answered within this long is closed, in
    /// milliseconds.
    #[serde(default = "default_keepalive_timeout_ms")]
    pub keepalive_timeout_ms: u64,
}

impl AlsConfig {
    pub fn new(listen: SocketAddr, default_host: String) -> Self {
        Self {
            listen,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            default_host,
            allow: None,
            max_connections: default_max_connections(),
            preface_timeout_ms: default_preface_timeout_ms(),
            idle_timeout_ms: default_als_idle_timeout_ms(),
            keepalive_interval_ms: default_keepalive_interval_ms(),
            keepalive_timeout_ms: default_keepalive_timeout_ms(),
        }
    }
}

/// A listener's allowlist or trusted proxies, parsed (loopback when unset).
pub fn listener_cidrs(
    key: &'static str,
    list: Option<&Vec<String>>,
) -> Result<Vec<crate::identity::Cidr>, ConfigError> {
    let list = list
        .cloned()
        .unwrap_or_else(crate::sources::guard::loopback);
    crate::sources::guard::parse_cidrs(key, &list).map_err(|(key, found)| ConfigError::Invalid {
        key,
        expected: "IP addresses or CIDRs",
        found,
    })
}

/// Checks a listener's connection cap and timeouts.
fn check_listener(
    cap_key: &'static str,
    max_connections: usize,
    timeouts: &[(&'static str, u64)],
) -> Result<(), ConfigError> {
    if max_connections == 0 || max_connections > MAX_LISTENER_CONNECTIONS {
        return Err(ConfigError::Invalid {
            key: cap_key,
            expected: "between 1 and 65536",
            found: max_connections.to_string(),
        });
    }
    for (key, v) in timeouts {
        if *v == 0 || *v > MAX_LISTENER_TIMEOUT_MS {
            return Err(ConfigError::Invalid {
                key,
                expected: "between 1 and 86400000 (one day)",
                found: v.to_string(),
            });
        }
    }
    Ok(())
}

/// The machine's host name, made a valid sensor id.
fn default_id() -> String {
    let id: String = picket_runtime::hostname()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(picket_shared::ids::MAX_NAME_BYTES)
        .collect();
    if id.is_empty() { "sensor".into() } else { id }
}

fn default_host() -> String {
    "default".into()
}
fn default_max_line_bytes() -> usize {
    64 * 1024
}
fn default_poll_ms() -> u64 {
    100
}
fn default_rotate_wait_ms() -> u64 {
    1_000
}

impl FileSourceConfig {
    pub fn new(path: PathBuf, format: LogFormat) -> Self {
        Self {
            path,
            format,
            default_host: default_host(),
            max_line_bytes: default_max_line_bytes(),
            poll_interval_ms: default_poll_ms(),
            rotate_wait_ms: default_rotate_wait_ms(),
        }
    }
}

/// A configuration value is missing or out of range.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("parsing {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("{key} must be {expected}, found {found}")]
    Invalid {
        key: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("no token: pass --token, set PICKET_TOKEN, or set token_file")]
    NoToken,
    #[error(transparent)]
    Telemetry(#[from] picket_runtime::otel::OtelError),
    #[error(
        "no traffic source: configure --nginx-log, --als-listen, --mirror-listen, [[file]], [als] or [mirror]"
    )]
    NoSource,
}

impl SensorConfig {
    /// Reads a TOML file; unknown keys are errors.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e))
    }

    /// The token, from `token` or `token_file`.
    pub fn resolve_token(&self) -> Result<String, ConfigError> {
        if let Some(t) = self.token.as_deref().filter(|t| !t.is_empty()) {
            return Ok(t.trim().to_owned());
        }
        if let Some(f) = &self.token_file {
            let text = std::fs::read_to_string(f).map_err(|e| ConfigError::Read(f.clone(), e))?;
            return Ok(text.lines().next().unwrap_or("").trim().to_owned());
        }
        Err(ConfigError::NoToken)
    }

    /// The sensor id: `id`, else the host name made a valid id.
    pub fn sensor_id(&self) -> String {
        self.id.clone().unwrap_or_else(default_id)
    }

    /// The trusted proxies, parsed.
    pub fn trusted_proxy_cidrs(&self) -> Result<Vec<crate::identity::Cidr>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|c| {
                c.parse().map_err(|e: String| ConfigError::Invalid {
                    key: "trusted_proxies",
                    expected: "IP addresses or CIDRs",
                    found: e,
                })
            })
            .collect()
    }

    /// Checks ranges once, at load.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key: &'static str, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    key,
                    expected: "greater than 0",
                    found: v.to_string(),
                })
            } else {
                Ok(())
            }
        };
        positive("flush_interval_ms", self.flush_interval_ms)?;
        positive("window_ms", u64::from(self.window_ms))?;
        positive("max_batch_endpoints", self.max_batch_endpoints as u64)?;
        positive("max_batch_bytes", self.max_batch_bytes as u64)?;
        positive("max_pending_batches", self.max_pending_batches as u64)?;
        positive("max_in_flight_batches", self.max_in_flight_batches as u64)?;
        positive("max_queued_chunks", self.max_queued_chunks as u64)?;
        positive("worker_threads", self.worker_threads as u64)?;
        positive("spool_max_bytes", self.spool_max_bytes)?;
        self.trusted_proxy_cidrs()?;
        if let Some(url) = &self.telemetry.otlp_endpoint {
            picket_runtime::otel::validate_endpoint(url)?;
        }
        self.telemetry.otlp.validate()?;
        if self.template_promote_after_distinct < 2 {
            return Err(ConfigError::Invalid {
                key: "template_promote_after_distinct",
                expected: "at least 2",
                found: self.template_promote_after_distinct.to_string(),
            });
        }
        positive("template_max_positions", self.template_max_positions as u64)?;
        positive("template_min_clients", self.template_min_clients as u64)?;
        positive("backoff_min_ms", self.backoff_min_ms)?;
        if self.backoff_max_ms < self.backoff_min_ms {
            return Err(ConfigError::Invalid {
                key: "backoff_max_ms",
                expected: "at least backoff_min_ms",
                found: self.backoff_max_ms.to_string(),
            });
        }
        for f in &self.files {
            if f.max_line_bytes < 256 {
                return Err(ConfigError::Invalid {
                    key: "file.max_line_bytes",
                    expected: "at least 256",
                    found: f.max_line_bytes.to_string(),
                });
            }
            positive("file.poll_interval_ms", f.poll_interval_ms)?;
        }
        if let Some(m) = &self.mirror {
            listener_cidrs("mirror.allow", m.allow.as_ref())?;
            listener_cidrs("mirror.trusted_proxies", m.trusted_proxies.as_ref())?;
            check_listener(
                "mirror.max_connections",
                m.max_connections,
                &[
                    ("mirror.header_timeout_ms", m.header_timeout_ms),
                    ("mirror.body_timeout_ms", m.body_timeout_ms),
                    ("mirror.idle_timeout_ms", m.idle_timeout_ms),
                ],
            )?;
        }
        if let Some(a) = &self.als {
            listener_cidrs("als.allow", a.allow.as_ref())?;
            check_listener(
                "als.max_connections",
                a.max_connections,
                &[
                    ("als.preface_timeout_ms", a.preface_timeout_ms),
                    ("als.idle_timeout_ms", a.idle_timeout_ms),
                    ("als.keepalive_interval_ms", a.keepalive_interval_ms),
                    ("als.keepalive_timeout_ms", a.keepalive_timeout_ms),
                ],
            )?;
            if a.tls_client_ca_file.is_some() && a.tls_cert_file.is_none() {
                return Err(ConfigError::Invalid {
                    key: "als.tls_client_ca_file",
                    expected: "set together with als.tls_cert_file and als.tls_key_file",
                    found: "no certificate".into(),
                });
            }
        }
        if self.files.is_empty()
            && self.als.is_none()
            && self.mirror.is_none()
            && self.replay.is_none()
        {
            return Err(ConfigError::NoSource);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let ok: SensorConfig = toml::from_str(
            "controller = \"http://c:1\"\n[[file]]\npath = \"/x\"\nformat = \"json\"\n[als]\nlisten = \"127.0.0.1:9001\"\n",
        )
        .unwrap();
        assert_eq!(ok.files.len(), 1);
        assert_eq!(ok.files[0].max_line_bytes, 65_536);
        assert!(ok.validate().is_ok());
        assert!(toml::from_str::<SensorConfig>("controler = \"x\"").is_err());
        assert!(toml::from_str::<SensorConfig>("[[file]]\npath=\"/x\"\nformat=\"xml\"").is_err());
        let none = SensorConfig::default();
        assert!(matches!(none.validate(), Err(ConfigError::NoSource)));
    }

    #[test]
    fn listeners_default_to_loopback_and_check_their_keys() {
        let cfg: SensorConfig = toml::from_str("[als]\n[mirror]\nlisten = 9100\n").unwrap();
        cfg.validate().unwrap();
        let (als, mirror) = (cfg.als.unwrap(), cfg.mirror.unwrap());
        assert_eq!(als.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(mirror.listen, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(
            (
                mirror.max_connections,
                mirror.header_timeout_ms,
                mirror.body_timeout_ms,
                mirror.idle_timeout_ms
            ),
            (1024, 10_000, 30_000, 60_000)
        );
        let lo = listener_cidrs("mirror.allow", None).unwrap();
        assert!(lo.iter().any(|c| c.contains("127.0.0.1".parse().unwrap())));
        assert!(!lo.iter().any(|c| c.contains("10.0.0.1".parse().unwrap())));
        assert_eq!(
            parse_listen("9002").unwrap(),
            "127.0.0.1:9002".parse().unwrap()
        );
        assert_eq!(
            parse_listen("0.0.0.0:9002").unwrap(),
            "0.0.0.0:9002".parse().unwrap()
        );
        assert_eq!(
            parse_listen("[::1]:9002").unwrap(),
            "[::1]:9002".parse().unwrap()
        );
        assert!(parse_listen("nowhere").is_err());
        let bad = |toml_text: &str| {
            let cfg: SensorConfig = toml::from_str(toml_text).unwrap();
            cfg.validate().unwrap_err().to_string()
        };
        assert!(bad("[mirror]\nallow = [\"10.0.0.0/40\"]").contains("mirror.allow"));
        assert!(bad("[mirror]\ntrusted_proxies = [\"x\"]").contains("mirror.trusted_proxies"));
        assert!(bad("[als]\nallow = [\"ten\"]").contains("als.allow"));
        assert!(bad("[mirror]\nmax_connections = 0").contains("mirror.max_connections"));
        assert!(bad("[mirror]\nbody_timeout_ms = 0").contains("mirror.body_timeout_ms"));
        // A huge timeout would overflow the deadline arithmetic on every connection.
        assert!(
            bad("[mirror]\nidle_timeout_ms = 18446744073709551615")
                .contains("mirror.idle_timeout_ms")
        );
        assert!(bad("[als]\nidle_timeout_ms = 86400001").contains("als.idle_timeout_ms"));
        assert!(bad("[als]\nidle_timeout_ms = 0").contains("als.idle_timeout_ms"));
        assert!(bad("[als]\ntls_client_ca_file = \"/ca.pem\"").contains("als.tls_client_ca_file"));
        assert!(toml::from_str::<SensorConfig>("[mirror]\nlisten = \"here\"").is_err());
        assert!(toml::from_str::<SensorConfig>("[als]\nallowed = []").is_err());
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// The documented example must parse and name every default correctly.
    #[test]
    fn deploy_example_matches_the_defaults() {
        let text = include_str!("../../deploy/sensor.example.toml");
        let cfg: SensorConfig = toml::from_str(text).unwrap();
        cfg.validate().unwrap();
        let d = SensorConfig::default();
        assert_eq!(cfg.controller, d.controller);
        assert_eq!(cfg.data_dir, d.data_dir);
        assert_eq!(cfg.flush_interval_ms, d.flush_interval_ms);
        assert_eq!(cfg.window_ms, d.window_ms);
        assert_eq!(cfg.max_batch_endpoints, d.max_batch_endpoints);
        assert_eq!(cfg.max_batch_bytes, d.max_batch_bytes);
        assert_eq!(cfg.max_clients_per_endpoint, d.max_clients_per_endpoint);
        assert_eq!(cfg.classify_injections, d.classify_injections);
        assert_eq!(cfg.trusted_proxies, d.trusted_proxies);
        assert_eq!(
            cfg.template_promote_after_distinct,
            d.template_promote_after_distinct
        );
        assert_eq!(cfg.template_max_positions, d.template_max_positions);
        assert_eq!(cfg.template_min_clients, d.template_min_clients);
        let m = cfg.mirror.as_ref().unwrap();
        let dm = MirrorConfig::new(m.listen, "default".into());
        assert_eq!(
            (m.max_body_bytes, &m.default_host),
            (dm.max_body_bytes, &dm.default_host)
        );
        assert_eq!(
            (
                m.max_connections,
                m.header_timeout_ms,
                m.body_timeout_ms,
                m.idle_timeout_ms,
                &m.allow,
                &m.trusted_proxies,
                m.real_ip_header
            ),
            (
                dm.max_connections,
                dm.header_timeout_ms,
                dm.body_timeout_ms,
                dm.idle_timeout_ms,
                &dm.allow,
                &dm.trusted_proxies,
                dm.real_ip_header
            )
        );
        let a = cfg.als.as_ref().unwrap();
        let da = AlsConfig::new(a.listen, "default".into());
        assert!(
            a.listen.ip().is_loopback(),
            "the example binds ALS to loopback"
        );
        assert_eq!(
            (
                a.max_connections,
                a.idle_timeout_ms,
                a.keepalive_interval_ms,
                a.keepalive_timeout_ms,
                &a.allow,
                &a.tls_client_ca_file
            ),
            (
                da.max_connections,
                da.idle_timeout_ms,
                da.keepalive_interval_ms,
                da.keepalive_timeout_ms,
                &da.allow,
                &da.tls_client_ca_file
            )
        );
        assert_eq!(cfg.max_pending_batches, d.max_pending_batches);
        assert_eq!(cfg.max_in_flight_batches, d.max_in_flight_batches);
        assert_eq!(cfg.spool_max_bytes, d.spool_max_bytes);
        assert_eq!(cfg.max_queued_chunks, d.max_queued_chunks);
        assert_eq!(cfg.worker_threads, d.worker_threads);
        assert_eq!(cfg.max_message_bytes, d.max_message_bytes);
        assert_eq!(cfg.connect_timeout_ms, d.connect_timeout_ms);
        assert_eq!(
            (cfg.backoff_min_ms, cfg.backoff_max_ms),
            (d.backoff_min_ms, d.backoff_max_ms)
        );
        assert_eq!(cfg.shutdown_grace_ms, d.shutdown_grace_ms);
        let (t, dt) = (&cfg.telemetry, &d.telemetry);
        assert_eq!(
            (t.admin_listen, t.log_format),
            (dt.admin_listen, dt.log_format)
        );
        let f = &cfg.files[0];
        let df = FileSourceConfig::new(f.path.clone(), f.format);
        assert_eq!(
            (
                f.max_line_bytes,
                f.poll_interval_ms,
                f.rotate_wait_ms,
                &f.default_host
            ),
            (
                df.max_line_bytes,
                df.poll_interval_ms,
                df.rotate_wait_ms,
                &df.default_host
            )
        );
    }
}
