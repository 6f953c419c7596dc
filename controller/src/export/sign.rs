//! Delivery signatures: HMAC-SHA256 over `"<unix seconds>.<body>"`, keyed with the
//! destination's secret as shown at `add` (its UTF-8 bytes), sent as
//! `Picket-Signature: t=<unix seconds>,v1=<lower-case hex>`. Receivers recompute it over the
//! raw body, compare in constant time and reject timestamps older than
//! [`MAX_SIGNATURE_AGE_SECS`] (a replayed request).

use crate::error::{Error, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "picket-signature";
/// How old a signature receivers should accept, in seconds (what [`verify`] uses).
pub const MAX_SIGNATURE_AGE_SECS: i64 = 300;
/// Bytes of a generated secret (shown as twice as many hex characters).
pub const SECRET_BYTES: usize = 32;
/// Shortest and longest secret a caller may supply, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
pub const MAX_SECRET_BYTES: usize = 256;

fn mac(secret: &str, unix: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(unix.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value signing `body` at `unix` seconds.
pub fn sign(secret: &str, unix: i64, body: &[u8]) -> String {
    let tag = mac(secret, unix, body).finalize().into_bytes();
    format!("t={unix},v1={}", hex::encode(tag))
}

/// Whether `header` is a valid signature of `body` with `secret`, made at most
/// [`MAX_SIGNATURE_AGE_SECS`] before `now_unix` (and not more than that in the future).
pub fn verify(secret: &str, header: &str, body: &[u8], now_unix: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now_unix - t).abs() > MAX_SIGNATURE_AGE_SECS {
        return false;
    }
    sigs.iter()
        .any(|s| mac(secret, t, body).verify_slice(s).is_ok())
}

/// A new random secret: [`SECRET_BYTES`] bytes as lower-case hex.
pub fn generate_secret() -> Result<String> {
    let mut buf = [0u8; SECRET_BYTES];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Checks a caller-supplied secret.
pub fn check_secret(secret: &str) -> Result<()> {
    let n = secret.len();
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&n) {
        return Err(Error::invalid(format!(
            "secret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, found {n}"
        )));
    }
    if secret.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "secret must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector_and_verifies() {
        // Independent value: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let h = sign("secret", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            h,
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
        assert!(verify("secret", &h, br#"{"a":1}"#, 1_700_000_000));
        assert!(verify("secret", &h, br#"{"a":1}"#, 1_700_000_299));
        assert!(
            !verify("secret", &h, br#"{"a":1}"#, 1_700_000_301),
            "too old"
        );
        assert!(!verify("secret", &h, br#"{"a":2}"#, 1_700_000_000), "body");
        assert!(!verify("secreT", &h, br#"{"a":1}"#, 1_700_000_000), "key");
        let moved = h.replace("t=1700000000", "t=1700000001");
        assert!(
            !verify("secret", &moved, br#"{"a":1}"#, 1_700_000_000),
            "time is signed"
        );
        assert!(!verify("secret", "v1=00", b"", 0));
        assert!(!verify("secret", "", b"", 0));
    }

    #[test]
    fn secrets_are_random_and_checked() {
        let (a, b) = (generate_secret().unwrap(), generate_secret().unwrap());
        assert_eq!(a.len(), 2 * SECRET_BYTES);
        assert_ne!(a, b);
        check_secret(&a).unwrap();
        assert!(check_secret("short").is_err());
        assert!(check_secret(&"x".repeat(MAX_SECRET_BYTES + 1)).is_err());
        assert!(check_secret("has a space in it ok?").is_err());
    }
}
