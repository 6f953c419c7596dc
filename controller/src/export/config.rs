//! The alert exports' configuration: `[webhooks]` and `[export]` of the controller's TOML
//! (documented with units and defaults in `deploy/controller.example.toml`).

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Webhook delivery (`[webhooks]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Accept plain `http://` destinations on non-loopback hosts. Default false (https only;
    /// plain http to loopback is always accepted).
    pub allow_plain_http: bool,
    /// Connect deadline of one delivery attempt (TCP and TLS), in milliseconds. Default 5000.
    pub connect_timeout_ms: u64,
    /// Total deadline of one attempt (connect, send, read the answer), in milliseconds.
    /// Default 10000.
    pub request_timeout_ms: u64,
    /// Longest delay between two attempts of a failing delivery, in milliseconds (delays
    /// start at 1 s and double up to it, with jitter). Default 300000 (5 minutes).
    pub max_backoff_ms: u64,
    /// The controller's name in the events' `source` (`picket://<name>/tenants/<tenant>`).
    /// Default: the host name.
    pub source_name: Option<String>,
}

/// Longest deadline or backoff accepted, in milliseconds: one hour.
pub const MAX_EXPORT_MS: u64 = 3_600_000;

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_plain_http: false,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            max_backoff_ms: 300_000,
            source_name: None,
        }
    }
}

impl WebhooksConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("webhooks.connect_timeout_ms", self.connect_timeout_ms),
            ("webhooks.request_timeout_ms", self.request_timeout_ms),
            ("webhooks.max_backoff_ms", self.max_backoff_ms),
        ] {
            if v == 0 || v > MAX_EXPORT_MS {
                return Err(format!("{key} must be 1 to {MAX_EXPORT_MS}, found {v}"));
            }
        }
        if self.request_timeout_ms < self.connect_timeout_ms {
            return Err(format!(
                "webhooks.request_timeout_ms ({}) must be at least webhooks.connect_timeout_ms ({})",
                self.request_timeout_ms, self.connect_timeout_ms
            ));
        }
        if let Some(name) = &self.source_name {
            let ok = !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !ok {
                return Err(format!(
                    "webhooks.source_name {name:?} must be 1 to 253 letters, digits, '-', '.' or '_'"
                ));
            }
        }
        Ok(())
    }

    /// The name events carry in their `source`.
    pub fn source(&self) -> String {
        self.source_name
            .clone()
            .unwrap_or_else(picket_runtime::hostname)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }
}

/// The JSON-lines file sink (`[export]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// File that receives every tenant's alert and incident changes as CloudEvents, one JSON
    /// object per line (created with mode 0600; reopened when renamed or removed). Default
    /// unset: no file.
    pub alerts_file: Option<PathBuf>,
}

impl ExportConfig {
    pub fn validate(&self) -> Result<(), String> {
        match &self.alerts_file {
            Some(p) if p.as_os_str().is_empty() || p.file_name().is_none() => Err(format!(
                "export.alerts_file {} does not name a file",
                p.display()
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_settings_are_validated() {
        WebhooksConfig::default().validate().unwrap();
        let bad = [
            WebhooksConfig {
                connect_timeout_ms: 0,
                ..Default::default()
            },
            WebhooksConfig {
                request_timeout_ms: 1_000,
                ..Default::default()
            },
            WebhooksConfig {
                max_backoff_ms: MAX_EXPORT_MS + 1,
                ..Default::default()
            },
            WebhooksConfig {
                source_name: Some("a/b".into()),
                ..Default::default()
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        let named = WebhooksConfig {
            source_name: Some("ctl-eu.1".into()),
            ..Default::default()
        };
        assert_eq!(named.source(), "ctl-eu.1");
        assert!(ExportConfig::default().validate().is_ok());
        let dir = ExportConfig {
            alerts_file: Some(PathBuf::from("/")),
        };
        assert!(dir.validate().is_err());
    }
}
