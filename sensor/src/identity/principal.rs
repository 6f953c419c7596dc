//! The *principal*: a keyed HMAC of a request's credential (API key, Basic user name, JWT
//! `sub`, bearer token) and the scheme it used. The key is generated per installation, stored
//! with mode 0600 in the data directory and never leaves the sensor, so principals can be
//! compared across requests but never reversed.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum AuthScheme {
    #[default]
    None,
    Basic,
    Bearer,
    Jwt,
    ApiKey,
    Cookie,
    Other,
}

impl AuthScheme {
    /// Every scheme, in declaration order (`ALL[s as usize] == s`).
    pub const ALL: [AuthScheme; 7] = [
        AuthScheme::None,
        AuthScheme::Basic,
        AuthScheme::Bearer,
        AuthScheme::Jwt,
        AuthScheme::ApiKey,
        AuthScheme::Cookie,
        AuthScheme::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::None => "none",
            AuthScheme::Basic => "basic",
            AuthScheme::Bearer => "bearer",
            AuthScheme::Jwt => "jwt",
            AuthScheme::ApiKey => "api_key",
            AuthScheme::Cookie => "cookie",
            AuthScheme::Other => "other",
        }
    }
}

/// A principal: the first 16 bytes of HMAC-SHA256(key, scheme ‖ 0 ‖ identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(pub [u8; 16]);

impl Principal {
    pub fn to_hex(self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        // Digits into a fixed buffer, then one allocation (every actor summary with a
        // principal makes one of these at seal).
        let mut buf = [0u8; 32];
        for (pair, b) in buf.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 15)];
        }
        // Hex digits are ASCII, so this never falls back to the empty string.
        let out = String::from_utf8(buf.to_vec()).unwrap_or_default();
        debug_assert_eq!(out, hex::encode(self.0));
        out
    }
}

/// The installation's HMAC key.
#[derive(Clone)]
pub struct PrincipalKey(pub(super) [u8; 32]);

impl std::fmt::Debug for PrincipalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrincipalKey(..)")
    }
}

/// File under the data directory holding the key.
pub const KEY_FILE: &str = "principal.key";

impl PrincipalKey {
    /// Loads `<data_dir>/principal.key`, creating it (32 random bytes, mode 0600) if absent.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<PrincipalKey> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join(KEY_FILE);
        // Checked when loaded: a key readable by others is narrowed to 0600, with a warning.
        picket_runtime::files::private_file(&path, picket_runtime::files::Kind::Secret)?;
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} must hold 32 bytes", path.display()),
                    )
                })?;
                Ok(PrincipalKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                Ok(PrincipalKey(key))
            }
            Err(e) => Err(e),
        }
    }

    /// A key from known bytes (tests and benchmarks).
    pub fn from_bytes(bytes: [u8; 32]) -> PrincipalKey {
        PrincipalKey(bytes)
    }

    #[cfg(test)]
    pub(crate) fn fixed(b: u8) -> PrincipalKey {
        PrincipalKey([b; 32])
    }

    pub(crate) fn principal(&self, scheme: AuthScheme, identity: &[u8]) -> Principal {
        // HMAC accepts keys of any length; 32 bytes never fails.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return Principal([0; 16]);
        };
        mac.update(scheme.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(identity);
        let out = mac.finalize().into_bytes();
        let mut p = [0u8; 16];
        p.copy_from_slice(&out[..16]);
        Principal(p)
    }

    /// Scheme and principal of a request's credentials (`Authorization`, then `X-Api-Key`).
    pub fn identify(
        &self,
        authorization: Option<&str>,
        api_key: Option<&str>,
        cookie: bool,
    ) -> (AuthScheme, Option<Principal>) {
        if let Some(auth) = authorization
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "-")
        {
            let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("basic") {
                let user = basic_user(rest);
                return (
                    AuthScheme::Basic,
                    Some(self.principal(
                        AuthScheme::Basic,
                        user.as_deref().unwrap_or(rest.as_bytes()),
                    )),
                );
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                return match jwt_sub(rest) {
                    Some(sub) => (
                        AuthScheme::Jwt,
                        Some(self.principal(AuthScheme::Jwt, sub.as_bytes())),
                    ),
                    None => (
                        AuthScheme::Bearer,
                        Some(self.principal(AuthScheme::Bearer, rest.as_bytes())),
                    ),
                };
            }
            return (
                AuthScheme::Other,
                Some(self.principal(AuthScheme::Other, auth.as_bytes())),
            );
        }
        if let Some(key) = api_key
            .map(str::trim)
            .filter(|k| !k.is_empty() && *k != "-")
        {
            return (
                AuthScheme::ApiKey,
                Some(self.principal(AuthScheme::ApiKey, key.as_bytes())),
            );
        }
        if cookie {
            return (AuthScheme::Cookie, None);
        }
        (AuthScheme::None, None)
    }
}

/// The user name of a Basic credential (`base64(user:password)`).
fn basic_user(b64: &str) -> Option<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let user_end = raw.iter().position(|b| *b == b':').unwrap_or(raw.len());
    Some(raw[..user_end].to_vec())
}

/// The `sub` claim of a JWT, decoded but not verified.
pub fn jwt_sub(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > 16 * 1024 {
        return None;
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    match v.get("sub")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
