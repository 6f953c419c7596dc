//! Validated identifiers. Built once at the edge, trusted everywhere behind it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest tenant or sensor name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// An identifier did not have the expected form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{kind} must be 1 to {MAX_NAME_BYTES} bytes, found {found} bytes")]
    Length { kind: &'static str, found: usize },
    #[error("{kind} may hold only a-z, 0-9, '-', '_' and '.', found {found:?}")]
    Charset { kind: &'static str, found: char },
}

fn validate(kind: &'static str, raw: &str, allow_upper: bool) -> Result<(), IdError> {
    if raw.is_empty() || raw.len() > MAX_NAME_BYTES {
        return Err(IdError::Length {
            kind,
            found: raw.len(),
        });
    }
    for c in raw.chars() {
        let ok = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '-' | '_' | '.')
            || (allow_upper && c.is_ascii_uppercase());
        if !ok {
            return Err(IdError::Charset { kind, found: c });
        }
    }
    Ok(())
}

/// A tenant name: lower-case letters, digits, `-`, `_`, `.`; 1 to 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(String);

impl TenantId {
    /// The tenant created on first start and owned by the bootstrap token.
    pub const DEFAULT: &'static str = "default";

    /// Validates `raw` as a tenant name.
    pub fn new(raw: &str) -> Result<Self, IdError> {
        validate("tenant name", raw, false)?;
        Ok(Self(raw.to_owned()))
    }

    /// The tenant that exists from first start.
    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sensor's operator-chosen name; also allows upper case (host names often have it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SensorId(String);

impl SensorId {
    pub fn new(raw: &str) -> Result<Self, IdError> {
        validate("sensor id", raw, true)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, ok: bool) {
        assert_eq!(TenantId::new(raw).is_ok(), ok, "{raw:?}");
    }

    #[test]
    fn tenant_names() {
        check("acme", true);
        check("acme-prod_2.eu", true);
        check("", false);
        check("Acme", false);
        check("a b", false);
        check(&"a".repeat(65), false);
        check(&"a".repeat(64), true);
    }

    #[test]
    fn sensor_ids_allow_upper_case() {
        assert!(SensorId::new("Edge-1").is_ok());
        assert!(SensorId::new("edge/1").is_err());
    }
}
