//! Controller configuration: TOML (unknown keys rejected), overridden by flags. Every key is
//! documented with its unit and default in `deploy/controller.example.toml`.

use crate::metering::plans::CatalogueError;
use crate::metering::{Catalogue, Enforcement, MeterPolicy, Plan};
use picket_runtime::LogFormat;
use picket_runtime::admin::AdminListen;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerConfig {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Where sled and the bootstrap token live.
    pub data_dir: PathBuf,
    pub limits: Limits,
    pub billing: BillingConfig,
    pub telemetry: TelemetryConfig,
    pub detection: DetectionConfig,
    pub incidents: IncidentsConfig,
    pub posture: crate::posture::PostureConfig,
    /// Webhook delivery (`[webhooks]`): plain-http policy, deadlines, backoff, event source.
    pub webhooks: crate::export::config::WebhooksConfig,
    /// The alert export file (`[export]`).
    pub export: crate::export::config::ExportConfig,
    pub tls: TlsConfig,
    /// Bounded growth (`[inventory]`): inventory caps and watermark pruning.
    pub inventory: InventoryConfig,
}

/// Bounded growth of the store (`[inventory]`). Beyond a cap, the summary of a new endpoint
/// folds into its host's overflow endpoint `* /{overflow}` (of a new host beyond the host cap:
/// into `overflow.picket`), still metered and analyzed; existing endpoints keep updating.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Most endpoints per tenant. Default 100000.
    pub max_endpoints_per_tenant: u64,
    /// Most endpoints per host (API). Default 5000.
    pub max_endpoints_per_host: u64,
    /// Most hosts (APIs) per tenant. Default 1000.
    pub max_hosts_per_tenant: u64,
    /// Most sensor ids per tenant; the hello of a new one beyond it is refused
    /// (`RESOURCE_EXHAUSTED`). Default 10000.
    pub max_sensors_per_tenant: u64,
    /// Most epochs (numbering runs, each with its watermark) kept per sensor id: the hello of
    /// a new epoch beyond it retires the sensor's oldest epochs that no stream has open and
    /// no batch or hello used for a day (their batches are then refused, never billed
    /// twice), or is refused (`RESOURCE_EXHAUSTED`) when not enough can go. Open streams of
    /// new epochs without a batch yet count. Default 256.
    pub max_epochs_per_sensor: u64,
    /// Hours a superseded epoch's watermark must not have moved before the hourly pruning
    /// retires it (its batches are then refused). Default 168 (7 days).
    pub watermark_idle_hours: u64,
}

/// Longest watermark idle time: 10 years, in hours.
pub const MAX_WATERMARK_IDLE_HOURS: u64 = 10 * 366 * 24;

impl Default for InventoryConfig {
    fn default() -> Self {
        let c = crate::store::bounds::InventoryCaps::default();
        Self {
            max_endpoints_per_tenant: c.max_endpoints_per_tenant,
            max_endpoints_per_host: c.max_endpoints_per_host,
            max_hosts_per_tenant: c.max_hosts_per_tenant,
            max_sensors_per_tenant: c.max_sensors_per_tenant,
            max_epochs_per_sensor: crate::store::growth::MAX_EPOCHS_PER_SENSOR,
            watermark_idle_hours: (crate::store::growth::WATERMARK_IDLE_MS / 3_600_000) as u64,
        }
    }
}

impl InventoryConfig {
    /// The caps ingest folds by.
    pub fn caps(&self) -> crate::store::bounds::InventoryCaps {
        crate::store::bounds::InventoryCaps {
            max_endpoints_per_tenant: self.max_endpoints_per_tenant,
            max_endpoints_per_host: self.max_endpoints_per_host,
            max_hosts_per_tenant: self.max_hosts_per_tenant,
            max_sensors_per_tenant: self.max_sensors_per_tenant,
        }
    }

    /// The watermark idle time, in milliseconds (validated bounds make it exact).
    pub fn watermark_idle_ms(&self) -> i64 {
        (self.watermark_idle_hours.min(MAX_WATERMARK_IDLE_HOURS) * 3_600_000) as i64
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            (
                "inventory.max_endpoints_per_tenant",
                self.max_endpoints_per_tenant,
            ),
            (
                "inventory.max_endpoints_per_host",
                self.max_endpoints_per_host,
            ),
            ("inventory.max_hosts_per_tenant", self.max_hosts_per_tenant),
            (
                "inventory.max_sensors_per_tenant",
                self.max_sensors_per_tenant,
            ),
            (
                "inventory.max_epochs_per_sensor",
                self.max_epochs_per_sensor,
            ),
            ("inventory.watermark_idle_hours", self.watermark_idle_hours),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { key });
            }
        }
        if self.watermark_idle_hours > MAX_WATERMARK_IDLE_HOURS {
            return Err(ConfigError::Inventory(format!(
                "inventory.watermark_idle_hours must be at most {MAX_WATERMARK_IDLE_HOURS} (10 years)"
            )));
        }
        Ok(())
    }
}

/// TLS for the gRPC listener (`[tls]`); all unset: plaintext. Files are PEM, re-read when
/// they change (checked every 2 s) without dropping established streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The listener's certificate chain. Default: none.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1). Default: none.
    pub key_file: Option<PathBuf>,
    /// CA certificates that issue client certificates; when set, every client must present
    /// one (mTLS). Default: none.
    pub client_ca_file: Option<PathBuf>,
    /// With mTLS: a sensor's ingest stream is refused (`PERMISSION_DENIED`) unless its client
    /// certificate names its sensor id as a DNS subject alternative name. Default: false.
    pub bind_sensor_id: bool,
}

impl TlsConfig {
    /// The files to serve TLS with, or `None` for plaintext.
    pub fn files(&self) -> Result<Option<picket_runtime::tls::TlsFiles>, ConfigError> {
        if self.bind_sensor_id && self.client_ca_file.is_none() {
            return Err(ConfigError::Tls(
                "tls.bind_sensor_id needs tls.client_ca_file".into(),
            ));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Ok(Some(picket_runtime::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca_file.clone(),
            })),
            (None, None) if self.client_ca_file.is_none() && !self.bind_sensor_id => Ok(None),
            _ => Err(ConfigError::Tls(
                "tls.cert_file and tls.key_file go together, and tls.client_ca_file needs both"
                    .into(),
            )),
        }
    }
}

/// Incident correlation (`[incidents]`): alerts sharing an actor within the window form one
/// incident; an incident closes once event time passes its last alert by the quiet period.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// An alert joins an open incident when its event-time range is within this many seconds
    /// of the incident's. Default 3600.
    pub window_secs: u64,
    /// An incident closes once event time passes its last alert by this many seconds.
    /// Default: `window_secs`.
    pub quiet_close_secs: Option<u64>,
}

/// Longest incident window or quiet period: 30 days, in seconds (the correlator's bound).
pub const MAX_INCIDENT_SECS: u64 = 30 * 24 * 3600;

impl Default for IncidentsConfig {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            quiet_close_secs: None,
        }
    }
}

impl IncidentsConfig {
    /// The correlator's settings (validated bounds make the conversions exact).
    pub fn correlator(&self) -> picket_detect::incident::IncidentConfig {
        let ms = |s: u64| (s.min(MAX_INCIDENT_SECS) * 1000) as i64;
        picket_detect::incident::IncidentConfig {
            window_ms: ms(self.window_secs),
            quiet_close_ms: ms(self.quiet_close_secs.unwrap_or(self.window_secs)),
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("incidents.window_secs", self.window_secs),
            (
                "incidents.quiet_close_secs",
                self.quiet_close_secs.unwrap_or(self.window_secs),
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { key });
            }
            if v > MAX_INCIDENT_SECS {
                return Err(ConfigError::Detection(format!(
                    "{key} must be at most {MAX_INCIDENT_SECS} (30 days), found {v}"
                )));
            }
        }
        Ok(())
    }
}

/// Threat detection (`[detection]`): the engine's settings, alert retention and the
/// threat-intelligence files.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    /// How long (event time, seconds) an endpoint's baseline learns before baseline detectors
    /// may fire on it.
    pub learning_period_secs: u64,
    /// How late (event time, seconds) data may arrive behind a sensor's newest event and still
    /// count in baselines and windows.
    pub lateness_secs: u64,
    /// An alert whose dedup key recurs within this many seconds (event time) of its last
    /// occurrence is updated instead of raised anew.
    pub dedup_window_secs: u64,
    /// Days an alert is kept after it was last seen; its change-log entries go with it.
    pub alert_retention_days: u32,
    /// Threat-intelligence list files, read at start and reloaded when they change.
    pub threat_intel: Vec<PathBuf>,
}

/// Longest duration a detection setting may name: 10 years, in seconds.
pub const MAX_DETECTION_SECS: u64 = 10 * 366 * 24 * 3600;
/// Most threat-intelligence files.
pub const MAX_THREAT_INTEL_FILES: usize = 64;

impl Default for DetectionConfig {
    fn default() -> Self {
        let d = picket_detect::DetectConfig::default();
        Self {
            learning_period_secs: (d.learning_period_ms / 1000) as u64,
            lateness_secs: (d.lateness_ms / 1000) as u64,
            dedup_window_secs: (d.dedup_window_ms / 1000) as u64,
            alert_retention_days: 90,
            threat_intel: Vec::new(),
        }
    }
}

impl DetectionConfig {
    /// The engine's settings (validated bounds make the conversions exact).
    pub fn engine(&self) -> picket_detect::DetectConfig {
        let ms = |s: u64| (s.min(MAX_DETECTION_SECS) * 1000) as i64;
        picket_detect::DetectConfig {
            learning_period_ms: ms(self.learning_period_secs),
            lateness_ms: ms(self.lateness_secs),
            dedup_window_ms: ms(self.dedup_window_secs),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("detection.learning_period_secs", self.learning_period_secs),
            ("detection.lateness_secs", self.lateness_secs),
            ("detection.dedup_window_secs", self.dedup_window_secs),
            (
                "detection.alert_retention_days",
                u64::from(self.alert_retention_days) * 86_400,
            ),
        ] {
            if v > MAX_DETECTION_SECS {
                return Err(ConfigError::Detection(format!(
                    "{key} is more than 10 years"
                )));
            }
        }
        if self.dedup_window_secs == 0 {
            return Err(ConfigError::Zero {
                key: "detection.dedup_window_secs",
            });
        }
        if self.alert_retention_days == 0 {
            return Err(ConfigError::Zero {
                key: "detection.alert_retention_days",
            });
        }
        if self.threat_intel.len() > MAX_THREAT_INTEL_FILES {
            return Err(ConfigError::Detection(format!(
                "detection.threat_intel names {} files, the limit is {MAX_THREAT_INTEL_FILES}",
                self.threat_intel.len()
            )));
        }
        Ok(())
    }
}

/// How the controller is observed: the admin listener (`/metrics`, `/healthz`, `/readyz`)
/// and the log format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Address of the HTTP admin listener, or "off". Loopback by default; a bind failure
    /// stops the start.
    pub admin_listen: AdminListen,
    /// Log format on stderr: "text" or "json" (one object per line).
    pub log_format: LogFormat,
    /// OTLP/gRPC collector to export traces and metrics to, e.g. "http://otel-collector:4317";
    /// unset: no OpenTelemetry export (no exporter, no cost).
    pub otlp_endpoint: Option<String>,
    /// OTLP export tuning (`[telemetry.otlp]`): deadlines, span queue, intervals.
    pub otlp: picket_runtime::otel::OtlpConfig,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            admin_listen: AdminListen::On(picket_runtime::admin::CONTROLLER_DEFAULT),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            otlp: Default::default(),
        }
    }
}

/// Plans and metering.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Plan of tenants that never chose one; must name a plan of the catalogue.
    pub default_plan: String,
    /// Enforcement of tenants that never chose one: "overage" or "cap".
    pub default_enforcement: Enforcement,
    /// Budget thresholds in percent of the entitlement; each raises one notification per cycle.
    pub budget_thresholds_pct: Vec<u32>,
    /// Billing cycles of usage history kept, the current one included.
    pub history_months: u32,
    /// The plan catalogue; when given it replaces the defaults (P1–P5) entirely.
    pub plans: Option<Vec<Plan>>,
}

impl Default for BillingConfig {
    fn default() -> Self {
        let p = MeterPolicy::default();
        Self {
            default_plan: p.default_plan,
            default_enforcement: p.default_enforcement,
            budget_thresholds_pct: p.thresholds_pct,
            history_months: p.history_cycles,
            plans: None,
        }
    }
}

impl BillingConfig {
    /// Validates the section and builds the metering policy.
    pub fn policy(&self) -> Result<MeterPolicy, ConfigError> {
        let catalogue = match &self.plans {
            Some(plans) => Catalogue::new(plans.clone()).map_err(ConfigError::Catalogue)?,
            None => Catalogue::defaults(),
        };
        if catalogue.get(&self.default_plan).is_none() {
            return Err(ConfigError::Billing(format!(
                "billing.default_plan {:?} is not in the catalogue",
                self.default_plan
            )));
        }
        let mut thresholds = self.budget_thresholds_pct.clone();
        thresholds.sort_unstable();
        thresholds.dedup();
        if thresholds.iter().any(|t| *t == 0 || *t > 1000) {
            return Err(ConfigError::Billing(
                "billing.budget_thresholds_pct must be between 1 and 1000".into(),
            ));
        }
        if !(1..=120).contains(&self.history_months) {
            return Err(ConfigError::Billing(format!(
                "billing.history_months must be 1 to 120, found {}",
                self.history_months
            )));
        }
        Ok(MeterPolicy {
            catalogue,
            default_plan: self.default_plan.clone(),
            default_enforcement: self.default_enforcement,
            thresholds_pct: thresholds,
            history_cycles: self.history_months,
        })
    }
}

/// Limits on everything a client can make the controller do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most endpoint summaries in one batch.
    pub max_batch_endpoints: usize,
    /// Concurrent requests (streams) per client connection.
    pub max_concurrent_streams_per_connection: usize,
    /// Deadline of unary RPCs, in milliseconds.
    pub request_timeout_ms: u64,
    /// How long a new ingest stream may take to say hello, in milliseconds.
    pub hello_timeout_ms: u64,
    /// Largest page a list RPC returns.
    pub max_page_size: u32,
    /// Most records a list RPC examines before returning a partial page with a cursor.
    pub max_scan_per_request: usize,
    /// Days notable events are kept (by event time) before the hourly pruning deletes them.
    pub notable_retention_days: u32,
    /// Capacity of the store's page cache (sled), in MiB: the controller's largest single
    /// memory use besides the detection state.
    pub store_cache_mib: u64,
    /// Query calls (every RPC but the ingest stream) each token may make per second on
    /// average (`crate::limits`). Default 100.
    pub query_rps: u32,
    /// Query calls a token may make at once after being quiet (its bucket size). Default 200.
    pub query_burst: u32,
    /// Open streams (ingest and `WatchAlerts` together) per tenant: every connected sensor
    /// holds one. Default 4096.
    pub max_streams_per_tenant: u32,
    /// Open streams of all tenants together. Default 16384.
    pub max_streams_total: u32,
    /// An ingest stream with no message from its sensor for this long is ended
    /// (`UNAVAILABLE`; the sensor reconnects), in seconds; 0: never. Default 900.
    pub stream_idle_timeout_secs: u64,
    /// A stream whose client reads nothing while its send queue is full for this long is
    /// ended, in seconds; 0: never. Default 60.
    pub stream_stall_timeout_secs: u64,
    /// Every stream ends after this long (`UNAVAILABLE`; sensors reconnect, watchers resume
    /// from their cursor), in seconds; 0: never. Default 86400 (24 h).
    pub stream_max_lifetime_secs: u64,
    /// HTTP/2 PING interval on idle connections, in seconds; 0: none. Default 30.
    pub http2_keepalive_interval_secs: u64,
    /// A connection whose peer does not answer a PING within this is closed, in seconds.
    /// Default 10.
    pub http2_keepalive_timeout_secs: u64,
    /// TCP keepalive on accepted connections, in seconds; 0: off. Default 60.
    pub tcp_keepalive_secs: u64,
    /// Connections open at once on the gRPC listener; one more is closed right after accept
    /// (`grpc::connections`). Default 16384.
    pub max_connections: u32,
    /// A connection whose client has not sent its HTTP/2 preface this long after accept (or
    /// after the TLS handshake) is closed, in seconds; 0: never. Default 10.
    pub preface_timeout_secs: u64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("./picket-data"),
            limits: Limits::default(),
            billing: BillingConfig::default(),
            telemetry: TelemetryConfig::default(),
            detection: DetectionConfig::default(),
            incidents: IncidentsConfig::default(),
            posture: crate::posture::PostureConfig::default(),
            webhooks: Default::default(),
            export: Default::default(),
            tls: TlsConfig::default(),
            inventory: InventoryConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024 * 1024,
            max_batch_endpoints: 50_000,
            max_concurrent_streams_per_connection: 256,
            request_timeout_ms: 30_000,
            hello_timeout_ms: 10_000,
            max_page_size: 1_000,
            max_scan_per_request: 100_000,
            notable_retention_days: 30,
            store_cache_mib: 256,
            query_rps: 100,
            query_burst: 200,
            max_streams_per_tenant: 4096,
            max_streams_total: 16_384,
            stream_idle_timeout_secs: 900,
            stream_stall_timeout_secs: 60,
            stream_max_lifetime_secs: 86_400,
            http2_keepalive_interval_secs: 30,
            http2_keepalive_timeout_secs: 10,
            tcp_keepalive_secs: 60,
            max_connections: 16_384,
            preface_timeout_secs: 10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("parsing {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("{key} must be greater than 0")]
    Zero { key: &'static str },
    #[error("billing.plans: {0}")]
    Catalogue(CatalogueError),
    #[error("{0}")]
    Billing(String),
    #[error("{0}")]
    Detection(String),
    #[error("{0}")]
    Export(String),
    #[error(transparent)]
    Telemetry(#[from] picket_runtime::otel::OtelError),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Inventory(String),
    #[error("{0}")]
    Limits(String),
}

impl ControllerConfig {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.tls.files()?;
        let l = &self.limits;
        for (key, v) in [
            ("limits.max_message_bytes", l.max_message_bytes as u64),
            ("limits.max_batch_endpoints", l.max_batch_endpoints as u64),
            (
                "limits.max_concurrent_streams_per_connection",
                l.max_concurrent_streams_per_connection as u64,
            ),
            ("limits.request_timeout_ms", l.request_timeout_ms),
            ("limits.hello_timeout_ms", l.hello_timeout_ms),
            ("limits.max_page_size", u64::from(l.max_page_size)),
            ("limits.max_scan_per_request", l.max_scan_per_request as u64),
            (
                "limits.notable_retention_days",
                u64::from(l.notable_retention_days),
            ),
            ("limits.store_cache_mib", l.store_cache_mib),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { key });
            }
        }
        validate_quotas(l).map_err(ConfigError::Limits)?;
        self.billing.policy()?;
        if let Some(url) = &self.telemetry.otlp_endpoint {
            picket_runtime::otel::validate_endpoint(url)?;
        }
        self.telemetry.otlp.validate()?;
        self.detection.validate()?;
        self.incidents.validate()?;
        self.posture.validate().map_err(ConfigError::Detection)?;
        self.webhooks.validate().map_err(ConfigError::Export)?;
        self.export.validate().map_err(ConfigError::Export)?;
        self.inventory.validate()?;
        Ok(())
    }
}

/// Checks the `[limits]` keys of the rate limit, stream caps and stream timeouts.
fn validate_quotas(l: &Limits) -> Result<(), String> {
    for (key, v) in [
        ("limits.query_rps", u64::from(l.query_rps)),
        ("limits.query_burst", u64::from(l.query_burst)),
        (
            "limits.max_streams_per_tenant",
            u64::from(l.max_streams_per_tenant),
        ),
        ("limits.max_streams_total", u64::from(l.max_streams_total)),
        ("limits.max_connections", u64::from(l.max_connections)),
    ] {
        if v == 0 {
            return Err(format!("{key} must be greater than 0"));
        }
    }
    if l.http2_keepalive_interval_secs > 0 && l.http2_keepalive_timeout_secs == 0 {
        return Err(
            "limits.http2_keepalive_timeout_secs must be greater than 0 while \
             limits.http2_keepalive_interval_secs is set"
                .into(),
        );
    }
    if l.max_streams_per_tenant > l.max_streams_total {
        return Err(format!(
            "limits.max_streams_per_tenant ({}) exceeds limits.max_streams_total ({})",
            l.max_streams_per_tenant, l.max_streams_total
        ));
    }
    for (key, v) in [
        (
            "limits.stream_idle_timeout_secs",
            l.stream_idle_timeout_secs,
        ),
        (
            "limits.stream_stall_timeout_secs",
            l.stream_stall_timeout_secs,
        ),
        (
            "limits.stream_max_lifetime_secs",
            l.stream_max_lifetime_secs,
        ),
        (
            "limits.http2_keepalive_interval_secs",
            l.http2_keepalive_interval_secs,
        ),
        (
            "limits.http2_keepalive_timeout_secs",
            l.http2_keepalive_timeout_secs,
        ),
        ("limits.tcp_keepalive_secs", l.tcp_keepalive_secs),
        ("limits.preface_timeout_secs", l.preface_timeout_secs),
    ] {
        if v > MAX_LIMIT_SECS {
            return Err(format!(
                "{key} must be at most {MAX_LIMIT_SECS} (30 days), found {v}"
            ));
        }
    }
    Ok(())
}

/// Longest timeout a `[limits]` key in seconds may name: 30 days.
pub const MAX_LIMIT_SECS: u64 = 30 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_settings_default_validate_and_convert() {
        let d = ControllerConfig::default();
        assert_eq!(d.incidents.correlator().window_ms, 3_600_000);
        assert_eq!(d.incidents.correlator().quiet_close_ms, 3_600_000);
        let c: ControllerConfig = toml::from_str("[incidents]\nwindow_secs = 600").unwrap();
        assert_eq!(
            c.incidents.correlator().quiet_close_ms,
            600_000,
            "quiet close follows the window"
        );
        let c: ControllerConfig =
            toml::from_str("[incidents]\nwindow_secs = 600\nquiet_close_secs = 60").unwrap();
        assert_eq!(c.incidents.correlator().quiet_close_ms, 60_000);
        c.validate().unwrap();
        c.incidents.correlator().validate().unwrap();
        assert!(toml::from_str::<ControllerConfig>("[incidents]\nwindow = 1").is_err());
        for bad in [
            "window_secs = 0",
            "quiet_close_secs = 0",
            "window_secs = 2592001",
        ] {
            let c: ControllerConfig = toml::from_str(&format!("[incidents]\n{bad}")).unwrap();
            assert!(c.validate().is_err(), "{bad} is rejected");
        }
    }

    #[test]
    fn inventory_section_parses_and_is_validated() {
        let c: ControllerConfig = toml::from_str(
            "[inventory]\nmax_endpoints_per_tenant = 10\nmax_endpoints_per_host = 3\nmax_hosts_per_tenant = 2\nwatermark_idle_hours = 1",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(
            (
                c.inventory.caps().max_endpoints_per_host,
                c.inventory.watermark_idle_ms()
            ),
            (3, 3_600_000)
        );
        assert!(toml::from_str::<ControllerConfig>("[inventory]\nmax_endpoints = 1").is_err());
        for bad in [
            "max_endpoints_per_tenant = 0",
            "max_endpoints_per_host = 0",
            "max_hosts_per_tenant = 0",
            "max_sensors_per_tenant = 0",
            "watermark_idle_hours = 0",
            "watermark_idle_hours = 87841",
        ] {
            let c: ControllerConfig = toml::from_str(&format!("[inventory]\n{bad}")).unwrap();
            assert!(c.validate().is_err(), "{bad} is rejected");
        }
    }

    #[test]
    fn defaults_parse_and_unknown_keys_fail() {
        let c: ControllerConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\n[limits]\nmax_page_size = 50\n").unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.limits.max_page_size, 50);
        assert_eq!(c.limits.max_batch_endpoints, 50_000);
        assert!(c.validate().is_ok());
        assert!(toml::from_str::<ControllerConfig>("lisen = \"x\"").is_err());
        assert!(toml::from_str::<ControllerConfig>("[limits]\nmax_pages = 1").is_err());
        let t: ControllerConfig =
            toml::from_str("[telemetry]\nadmin_listen = \"off\"\nlog_format = \"json\"").unwrap();
        assert_eq!(t.telemetry.admin_listen, AdminListen::Off);
        assert_eq!(t.telemetry.log_format, LogFormat::Json);
        assert!(toml::from_str::<ControllerConfig>("[telemetry]\nadmin_listen = \"x\"").is_err());
        let zero: ControllerConfig = toml::from_str("[limits]\nmax_page_size = 0").unwrap();
        assert!(zero.validate().is_err());
        let d: ControllerConfig = toml::from_str(
            "[detection]\nlearning_period_secs = 60\nthreat_intel = [\"/x/tor.txt\"]",
        )
        .unwrap();
        assert_eq!(d.detection.engine().learning_period_ms, 60_000);
        assert_eq!(d.detection.alert_retention_days, 90);
        assert_eq!(d.detection.threat_intel.len(), 1);
        assert!(toml::from_str::<ControllerConfig>("[detection]\nlearning = 1").is_err());
        let bad: ControllerConfig =
            toml::from_str("[detection]\nalert_retention_days = 0").unwrap();
        assert!(bad.validate().is_err());
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// The documented example must parse and state the real defaults.
    #[test]
    fn deploy_example_matches_the_defaults() {
        let cfg: ControllerConfig =
            toml::from_str(include_str!("../../deploy/controller.example.toml")).unwrap();
        let d = ControllerConfig::default();
        assert_eq!((cfg.listen, &cfg.data_dir), (d.listen, &d.data_dir));
        let (l, dl) = (&cfg.limits, &d.limits);
        assert_eq!(l.max_message_bytes, dl.max_message_bytes);
        assert_eq!(l.max_batch_endpoints, dl.max_batch_endpoints);
        assert_eq!(
            l.max_concurrent_streams_per_connection,
            dl.max_concurrent_streams_per_connection
        );
        assert_eq!(l.request_timeout_ms, dl.request_timeout_ms);
        assert_eq!(l.hello_timeout_ms, dl.hello_timeout_ms);
        assert_eq!(l.max_page_size, dl.max_page_size);
        assert_eq!(l.max_scan_per_request, dl.max_scan_per_request);
        assert_eq!(l.notable_retention_days, dl.notable_retention_days);
        assert_eq!(
            (
                l.query_rps,
                l.query_burst,
                l.max_streams_per_tenant,
                l.max_streams_total
            ),
            (
                dl.query_rps,
                dl.query_burst,
                dl.max_streams_per_tenant,
                dl.max_streams_total
            )
        );
        let timeouts = |l: &Limits| {
            [
                l.stream_idle_timeout_secs,
                l.stream_stall_timeout_secs,
                l.stream_max_lifetime_secs,
                l.http2_keepalive_interval_secs,
                l.http2_keepalive_timeout_secs,
                l.tcp_keepalive_secs,
                l.preface_timeout_secs,
                u64::from(l.max_connections),
            ]
        };
        assert_eq!(timeouts(l), timeouts(dl));
        assert_eq!(cfg.posture, d.posture);
        let (b, db) = (&cfg.billing, &d.billing);
        assert_eq!(
            (&b.default_plan, b.default_enforcement),
            (&db.default_plan, db.default_enforcement)
        );
        assert_eq!(
            (&b.budget_thresholds_pct, b.history_months),
            (&db.budget_thresholds_pct, db.history_months)
        );
        let (t, dt) = (&cfg.telemetry, &d.telemetry);
        assert_eq!(
            (t.admin_listen, t.log_format),
            (dt.admin_listen, dt.log_format)
        );
        assert_eq!(cfg.detection, d.detection);
        assert_eq!(cfg.incidents, d.incidents);
        assert_eq!(cfg.webhooks, d.webhooks);
        assert_eq!(cfg.export, d.export);
        assert_eq!(cfg.inventory, d.inventory);
        // The example spells out the default catalogue.
        assert_eq!(b.policy().unwrap().catalogue, Catalogue::defaults());
    }

    #[test]
    fn billing_section_is_validated() {
        let bad_plan: ControllerConfig =
            toml::from_str("[billing]\ndefault_plan = \"P9\"").unwrap();
        assert!(bad_plan.validate().is_err());
        let custom: ControllerConfig = toml::from_str(
            "[billing]\ndefault_plan = \"small\"\ndefault_enforcement = \"cap\"\n[[billing.plans]]\nname = \"small\"\nincluded_calls = 10\nmonthly_fee_micros = 5\noverage_micros_per_call = 1\n",
        )
        .unwrap();
        let p = custom.billing.policy().unwrap();
        assert_eq!(
            (p.catalogue.plans().len(), p.default_enforcement),
            (1, Enforcement::Cap)
        );
        assert!(
            toml::from_str::<ControllerConfig>(
                "[billing]\nplans = [{ name = \"x\", included = 1 }]"
            )
            .is_err()
        );
    }

    #[test]
    fn validation_refuses_zero_caps_and_absurd_timeouts() {
        let ok = Limits::default();
        validate_quotas(&ok).unwrap();
        let bad = [
            Limits {
                query_rps: 0,
                ..Limits::default()
            },
            Limits {
                max_streams_total: 0,
                ..Limits::default()
            },
            Limits {
                max_streams_per_tenant: 5000,
                max_streams_total: 10,
                ..Limits::default()
            },
            Limits {
                stream_idle_timeout_secs: MAX_LIMIT_SECS + 1,
                ..Limits::default()
            },
        ];
        for l in bad {
            assert!(validate_quotas(&l).is_err(), "{l:?}");
        }
    }
}
