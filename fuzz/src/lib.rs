//! What the fuzz targets share: the sensor's identity resolver and line context, built once.

use picket_sensor::identity::{Identifier, PrincipalKey};
use picket_sensor::sources::nginx::LineContext;
use std::sync::OnceLock;

/// Host recorded when an input names none.
pub const DEFAULT_HOST: &str = "fuzz.example";
/// Stands in for "now" (2026-01-01T00:00:00Z), so runs are reproducible.
pub const NOW_MS: i64 = 1_767_225_600_000;

/// The sensor's identifier with a fixed key, trusting one private range as proxies.
pub fn ident() -> &'static Identifier {
    static IDENT: OnceLock<Identifier> = OnceLock::new();
    IDENT.get_or_init(|| {
        let trusted = vec!["10.0.0.0/8".parse().expect("a valid CIDR")];
        Identifier::new(PrincipalKey::from_bytes([7; 32]), trusted).with_injection_scanning(true)
    })
}

/// The context nginx lines are parsed in.
pub fn line_context() -> LineContext<'static> {
    LineContext {
        default_host: DEFAULT_HOST,
        now_ms: NOW_MS,
        ident: ident(),
    }
}

/// Splits `data` at its first byte: the selector and the rest.
pub fn split_selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((s, rest)) => (*s, rest),
        None => (0, data),
    }
}
