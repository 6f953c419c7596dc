//! Process plumbing shared by `picket-controller`, `picket-sensor` and the demo: how a binary
//! sets up logging, waits for a shutdown signal, reads the wall clock and learns its host
//! name, and how it exports traces and metrics over OTLP ([`otel`]). Domain logic lives
//! elsewhere; this crate is where the next operational features (the admin listener with
//! `/metrics` and probes) get their room too.

pub mod otel;

/// Logs to stderr through `tracing`, filtered by `RUST_LOG` (else `default_filter`), with
/// colours only on a terminal.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
