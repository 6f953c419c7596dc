//! `picketctl`: a CLI over the controller's RPCs. Human tables by default, `-o json` for
//! scripts (lists print as JSON arrays of objects).

pub mod alerts;
pub mod audit;
pub mod billing;
pub mod client;
pub mod commands;
pub mod incidents;
pub mod output;
pub mod posture;
pub mod specs;
pub mod tokens;
pub mod webhooks;

use clap::{Parser, Subcommand};
use output::Format;
use std::path::PathBuf;

/// Token file used when neither --token nor PICKET_TOKEN is given: the bootstrap admin token
/// of a controller started with default settings in the current directory.
pub const DEFAULT_TOKEN_FILE: &str = "picket-data/admin.token";

/// Command line of `picketctl`.
#[derive(Debug, Parser)]
#[command(
    name = "picketctl",
    version,
    about = "Query and administer a Picket controller"
)]
pub struct Cli {
    /// Controller URL.
    #[arg(
        long,
        global = true,
        env = "PICKET_CONTROLLER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub controller: String,
    /// Bearer token (default: the contents of ./picket-data/admin.token when present).
    #[arg(long, global = true, env = "PICKET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File whose first line is the token.
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value = "table")]
    pub output: Format,
    /// PEM CA that issued the controller's certificate (for `https://` controllers).
    #[arg(long, global = true, env = "PICKET_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, for a controller that requires one (with --tls-key).
    #[arg(long, global = true, env = "PICKET_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, global = true, env = "PICKET_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Per-call deadline, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout_secs: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// APIs (endpoints grouped by host).
    #[command(subcommand)]
    Apis(ApisCmd),
    /// Discovered endpoints.
    #[command(subcommand)]
    Endpoints(EndpointsCmd),
    /// Sensors of the tenant.
    #[command(subcommand)]
    Sensors(SensorsCmd),
    /// Notable events: individual flagged requests (injections, sensitive data in URLs,
    /// suspicious agents), redacted.
    #[command(subcommand)]
    Events(EventsCmd),
    /// Tenants (installation admin).
    #[command(subcommand)]
    Tenants(TenantsCmd),
    /// API tokens.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Metered API calls and billing.
    #[command(subcommand)]
    Usage(UsageCmd),
    /// Plans and entitlements.
    #[command(subcommand)]
    Plans(PlansCmd),
    /// Threat alerts: list, inspect, follow and triage.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Suppression rules: alerts they match are never raised.
    #[command(subcommand)]
    Suppressions(SuppressionsCmd),
    /// Incidents: alerts correlated by actor across endpoints and sensors.
    #[command(subcommand)]
    Incidents(incidents::IncidentsCmd),
    /// API specs (OpenAPI 2.0, 3.0, 3.1): import, list, show (operations, unused ones,
    /// problems), delete.
    #[command(subcommand)]
    Specs(SpecsCmd),
    /// Security posture: scores per API and tenant, with the most severe findings.
    #[command(subcommand)]
    Posture(posture::PostureCmd),
    /// Posture findings (unauthenticated, shadow, zombie, drift, … endpoints).
    #[command(subcommand)]
    Findings(posture::FindingsCmd),
    /// Webhook destinations: alert and incident changes POSTed as signed CloudEvents
    /// (admin).
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCmd),
    /// The audit log of administrative and operator actions (admin).
    #[command(subcommand)]
    Audit(AuditCmd),
}

/// `picketctl audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Actions, newest first: who (token id), when, on what, what changed.
    List {
        /// Tenant (default: the caller's; another needs the installation admin).
        #[arg(long)]
        tenant: Option<String>,
        /// Every tenant's actions (installation admin).
        #[arg(long, conflicts_with = "tenant")]
        all_tenants: bool,
        /// From this time: RFC 3339, Unix ms or a span back from now (`7d`).
        #[arg(long)]
        since: Option<String>,
        /// Before this time (same forms).
        #[arg(long)]
        until: Option<String>,
        /// An action (`token.revoke`) or a prefix ending in `.` (`token.`).
        #[arg(long)]
        action: Option<String>,
        /// Most entries shown (0: all).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpecsCmd {
    /// Imports an OpenAPI document as the spec of API NAME (replacing its previous one).
    Import {
        /// A document (sent with the spec files of its folder, for `$ref`s to them) or a folder
        /// holding one root document.
        path: PathBuf,
        /// The API name the spec is kept under.
        #[arg(long)]
        api: String,
        /// Host for servers the document names none of (relative server URLs, 2.0 without
        /// `host`).
        #[arg(long)]
        host: Option<String>,
    },
    /// The tenant's specs.
    List,
    /// One spec's operations (seen or unused) and import problems.
    Show { api: String },
    /// Deletes a spec.
    Delete { api: String },
}

/// `picketctl alerts …`.
#[derive(Debug, Subcommand)]
pub enum AlertsCmd {
    /// List alerts, newest first (by last seen).
    List(AlertFilterArgs),
    /// Show one alert.
    Get { id: String },
    /// Follow alert changes: one line per change (JSON lines with `-o json`).
    Watch {
        /// Resume after this cursor (the `cursor` of the last change received).
        #[arg(long)]
        after: Option<u64>,
        /// First send the alerts active now, then follow.
        #[arg(long)]
        snapshot: bool,
    },
    /// Acknowledge an alert (operator).
    Ack(StatusArgs),
    /// Resolve an alert (operator).
    Resolve(StatusArgs),
    /// Dismiss an alert as not a threat (operator).
    Dismiss(StatusArgs),
}

/// The alert and the note of a status change.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    pub id: String,
    /// Why (at most 1024 bytes).
    #[arg(long)]
    pub comment: Option<String>,
}

/// Filters of `alerts list`; absent means any.
#[derive(Debug, Default, clap::Args)]
pub struct AlertFilterArgs {
    /// Minimum severity: informational, low, medium or high.
    #[arg(long)]
    pub severity: Option<String>,
    /// active, acknowledged, resolved or dismissed.
    #[arg(long)]
    pub status: Option<String>,
    /// Alert type id, e.g. endpoint_spray.
    #[arg(long = "type")]
    pub alert_type: Option<String>,
    /// API host, exact.
    #[arg(long)]
    pub host: Option<String>,
    /// Endpoint as "METHOD /template" (or use --method and --template).
    #[arg(long, conflicts_with_all = ["method", "template"])]
    pub endpoint: Option<String>,
    /// HTTP method (with --template).
    #[arg(long)]
    pub method: Option<String>,
    /// Path template, exact (`/users/{id}`).
    #[arg(long)]
    pub template: Option<String>,
    /// Actor: client IP or hashed principal, exact.
    #[arg(long)]
    pub actor: Option<String>,
    /// Last seen at or after: RFC 3339, Unix ms, or a span back from now (`15m`, `2h`, `7d`).
    #[arg(long)]
    pub since: Option<String>,
    /// Last seen before: RFC 3339, Unix ms, or a span back from now.
    #[arg(long)]
    pub until: Option<String>,
    /// Stop after this many alerts; 0 lists all.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// `picketctl suppressions …`.
#[derive(Debug, Subcommand)]
pub enum SuppressionsCmd {
    /// Create a rule (operator); give at least one of the narrowing flags.
    Add(SuppressionArgs),
    /// List rules.
    List {
        /// Also list expired rules.
        #[arg(long)]
        all: bool,
    },
    /// Delete a rule by id (operator).
    Delete { id: String },
}

/// What a new suppression rule matches.
#[derive(Debug, Default, clap::Args)]
pub struct SuppressionArgs {
    /// An IP or CIDR, e.g. 10.0.0.0/8.
    #[arg(long)]
    pub cidr: Option<String>,
    /// Hashed principal (hex), as alerts show it.
    #[arg(long)]
    pub principal: Option<String>,
    /// API host, exact.
    #[arg(long)]
    pub host: Option<String>,
    /// Endpoint as "METHOD /template" or just "/template".
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Alert type id.
    #[arg(long = "type")]
    pub alert_type: Option<String>,
    /// When the rule stops suppressing: a span from now (`30d`, `12h`) or RFC 3339.
    #[arg(long)]
    pub expires: Option<String>,
    /// Why the rule exists.
    #[arg(long)]
    pub comment: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsageCmd {
    /// The current billing cycle.
    Show,
    /// Daily calls.
    History {
        /// Days back from today.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Only this API (host).
        #[arg(long)]
        host: Option<String>,
    },
    /// Budget-threshold notifications.
    Notifications,
}

#[derive(Debug, Subcommand)]
pub enum PlansCmd {
    /// The plan catalogue, marking the tenant's plan.
    List,
    /// Change plan and/or enforcement (admin); effective now, prorated.
    Set {
        /// Plan name, e.g. P2.
        plan: Option<String>,
        /// overage or cap.
        #[arg(long)]
        enforcement: Option<String>,
        /// Tenant (installation admin only; default: the caller's).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The cheapest plan for the trailing 30 days.
    Recommend,
}

#[derive(Debug, Subcommand)]
pub enum ApisCmd {
    /// List APIs with their onboarding state.
    List,
    /// Onboard APIs: only onboarded APIs are billed and analyzed (role operator).
    Onboard {
        /// Hosts of the APIs (an API not seen yet is onboarded ahead of its traffic).
        hosts: Vec<String>,
        /// Every API of the tenant.
        #[arg(long)]
        all: bool,
    },
    /// Offboard APIs: their traffic becomes unprotected (counted, not billed or analyzed).
    Offboard {
        hosts: Vec<String>,
        #[arg(long)]
        all: bool,
    },
    /// Show, or set (role admin), whether APIs seen for the first time are onboarded
    /// automatically (default on).
    AutoOnboard {
        #[arg(value_enum)]
        value: Option<posture::OnOff>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EndpointsCmd {
    /// List endpoints, optionally filtered.
    List {
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        method: Option<String>,
        /// Template prefix, e.g. /users.
        #[arg(long)]
        path_prefix: Option<String>,
        /// Stop after this many endpoints.
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
    },
    /// Show one endpoint (a concrete path finds its template).
    Get {
        #[arg(long)]
        host: String,
        #[arg(long)]
        method: String,
        #[arg(long)]
        path: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// List notable events, oldest first.
    List {
        /// Only events at or after this time: RFC 3339 (`2026-11-22T09:00:00Z`) or Unix ms.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        host: Option<String>,
        /// injection, sensitive_in_url or suspicious_agent.
        #[arg(long)]
        kind: Option<String>,
        /// Stop after this many events.
        #[arg(long, default_value_t = 1_000)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum SensorsCmd {
    /// List sensors with their counters.
    List,
    /// Delete a sensor that is not connected (admin): frees its place under
    /// inventory.max_sensors_per_tenant; its committed batches stay deduplicated.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TenantsCmd {
    /// Create a tenant.
    Create { name: String },
    /// List tenants.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; the secret is shown once.
    Create {
        /// Tenant (default: the caller's).
        #[arg(long)]
        tenant: Option<String>,
        /// sensor, reader, operator or admin.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime: a number with unit s, m, h or d (`30d`); at most 3650d. Default: no expiry.
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List tokens of a tenant, with expiry and last use.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a token by id; its open streams end within seconds. The installation-admin
    /// token can be revoked only by itself.
    Revoke { id: String },
    /// Give a token a new secret (shown once); the old secret keeps working for the grace
    /// period.
    Rotate {
        id: String,
        /// How long the old secret keeps working: a number with unit s, m, h or d; `0s` ends
        /// it at once; at most 30d.
        #[arg(long, default_value = "24h")]
        grace: String,
    },
}

/// Why a `picketctl` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "no token: pass --token, set PICKET_TOKEN, use --token-file, or run next to ./{DEFAULT_TOKEN_FILE}"
    )]
    NoToken,
    #[error("reading {0}: {1}")]
    TokenFile(PathBuf, std::io::Error),
    #[error("cannot reach the controller at {0}: {1}")]
    Connect(String, tonic::transport::Error),
    #[error("{}", client::status_text(.0, code_name(.0.code())))]
    Rpc(#[from] tonic::Status),
    #[error("{0}")]
    Usage(String),
    #[error(
        "the controller ended the alert stream{}",
        .0.map(|c| format!("; resume with --after {c}")).unwrap_or_default()
    )]
    StreamEnded(Option<u64>),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Unauthenticated => "unauthenticated",
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::NotFound => "not found",
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::DeadlineExceeded => "deadline exceeded",
        tonic::Code::OutOfRange => "out of range",
        tonic::Code::FailedPrecondition => "failed precondition",
        tonic::Code::ResourceExhausted => "resource exhausted",
        _ => "error",
    }
}

impl Cli {
    /// The bearer token from flag, env, token file or the default token file.
    pub fn resolve_token(&self) -> Result<String, CliError> {
        if let Some(t) = self.token.as_deref().filter(|t| !t.is_empty()) {
            return Ok(t.trim().to_owned());
        }
        let (path, explicit) = match &self.token_file {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(DEFAULT_TOKEN_FILE), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.lines().next().unwrap_or("").trim().to_owned()),
            Err(e) if explicit => Err(CliError::TokenFile(path, e)),
            Err(_) => Err(CliError::NoToken),
        }
    }
}
