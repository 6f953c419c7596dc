//! Process plumbing shared by `picket-controller`, `picket-sensor` and the demo: how a binary
//! sets up logging, waits for a shutdown signal, reads the wall clock and learns its host
//! name, and how it is observed: the metrics registry (`metrics`, rendered in the Prometheus
//! text format) and the HTTP admin listener with `/metrics` and the probes (`admin`). Domain
//! logic lives elsewhere. OpenTelemetry export over OTLP ([`otel`]) exports the same registry.
//! [`tls`]: TLS listeners with certificates reloaded in place (the controller's gRPC port, the
//! sensor's ALS port); [`preface`]: the deadline for a new connection's HTTP/2 preface that
//! both of those listeners apply.

pub mod admin;
pub mod files;
pub mod metrics;
pub mod otel;
pub mod preface;
pub mod tls;

/// How log events are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the message and
    /// the event's structured fields) and the enclosing `span`s.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("log format must be text or json, found {other:?}")),
        }
    }
}

/// Logs to stderr through `tracing`, filtered by `RUST_LOG` (else `default_filter`), as text
/// (colours only on a terminal) or as JSON lines.
pub fn init_logging(default_filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM (SIGTERM is what systemd and Kubernetes send). When the
/// SIGTERM handler cannot be installed, Ctrl-C alone still works.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The wall clock in Unix milliseconds (0 before 1970, which no real clock reports).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The machine's host name (Linux), trimmed; empty when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_is_after_2020() {
        assert!(super::now_ms() > 1_577_836_800_000);
    }
}
