//! Bearer-token authentication as domain logic: token minting and verification, and the
//! per-request [`AuthContext`] services read their tenant and role from. The tower layer that
//! applies it to every RPC is `grpc::auth_layer`; errors are [`Error`]s, mapped to gRPC codes
//! in one place.
//!
//! Token format: `pkt_<id>_<secret>` — `id` (16 hex) locates the record, `secret` (64 hex,
//! 256 random bits) is never stored: the record keeps the SHA-256 of the whole string.
//!
//! Lifecycle: a token may expire (`expires_ms`); a rotation gives it a new secret under the
//! same id and keeps accepting the replaced one until `previous_valid_until_ms` (the grace
//! period); a revocation ends it. [`check_record`] is the one rule for all three, used both
//! when a call arrives and when an open stream re-checks its credentials.

use crate::error::{Error, Result};
use crate::store::{Db, TokenRecord};
use picket_shared::{Role, TenantId};
use sha2::{Digest, Sha256};

/// Who is calling: attached to every authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub tenant: TenantId,
    pub role: Role,
    pub token_id: String,
    /// The bootstrap token: may create tenants and manage any tenant's tokens.
    pub installation_admin: bool,
    /// SHA-256 of the bearer string presented (what the store keeps anyway, never the
    /// secret): open streams re-check it after a revocation or rotation.
    pub presented_sha256: String,
    /// When these credentials stop working (expiry, or the end of a rotation's grace
    /// period), in ms since the epoch; 0: not by time.
    pub valid_until_ms: i64,
}

impl AuthContext {
    /// Fails with `PERMISSION_DENIED` unless the caller's role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<()> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(Error::denied(format!(
                "this call needs role {needed}, the token has role {}",
                self.role
            )))
        }
    }

    /// The tenant a request targets: its explicit `requested` tenant, else the caller's. Only
    /// the installation admin may target another tenant; `action` completes the refusal
    /// ("only the installation admin may {action}").
    pub fn target_tenant(&self, requested: &str, action: &str) -> Result<TenantId> {
        if requested.is_empty() || requested == self.tenant.as_str() {
            return Ok(self.tenant.clone());
        }
        if !self.installation_admin {
            return Err(Error::denied(format!(
                "only the installation admin may {action}"
            )));
        }
        Ok(TenantId::new(requested)?)
    }
}

/// Longest token lifetime `CreateToken` accepts, in seconds (3650 days).
pub const MAX_TOKEN_TTL_SECS: u64 = 3650 * 86_400;
/// How long a rotated-out secret keeps working unless the request says otherwise, in seconds.
pub const DEFAULT_ROTATION_GRACE_SECS: u64 = 86_400;
/// Longest grace period a rotation accepts, in seconds (30 days).
pub const MAX_ROTATION_GRACE_SECS: u64 = 30 * 86_400;

/// A freshly minted token: the record to store and the bearer string to show once.
pub struct Minted {
    pub record: TokenRecord,
    pub bearer: String,
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Creates a new token for `tenant` with `role`, expiring `ttl_secs` from now (0: never).
pub fn mint(
    tenant: TenantId,
    role: Role,
    description: String,
    installation_admin: bool,
    now_ms: i64,
    ttl_secs: u64,
) -> Result<Minted> {
    if ttl_secs > MAX_TOKEN_TTL_SECS {
        return Err(Error::invalid(format!(
            "ttl of {ttl_secs} s exceeds the limit of {MAX_TOKEN_TTL_SECS} s (3650 days)"
        )));
    }
    let id = random_hex(8)?;
    let bearer = format!("pkt_{id}_{}", random_hex(32)?);
    let expires_ms = match ttl_secs {
        0 => 0,
        // At most 3650 days in ms: far inside i64.
        s => now_ms.saturating_add(s as i64 * 1000),
    };
    let record = TokenRecord {
        id,
        tenant,
        role,
        description,
        created_ms: now_ms,
        revoked_ms: 0,
        installation_admin,
        secret_sha256: sha256_hex(&bearer),
        expires_ms,
        rotated_ms: 0,
        previous_sha256: String::new(),
        previous_valid_until_ms: 0,
    };
    Ok(Minted { record, bearer })
}

/// Gives `record` a new secret; the current one keeps working for `grace_secs` (a secret
/// still in an earlier grace period stops now: only one previous secret is kept).
pub fn rotate(mut record: TokenRecord, now_ms: i64, grace_secs: u64) -> Result<Minted> {
    if grace_secs > MAX_ROTATION_GRACE_SECS {
        return Err(Error::invalid(format!(
            "grace of {grace_secs} s exceeds the limit of {MAX_ROTATION_GRACE_SECS} s (30 days)"
        )));
    }
    if record.revoked_ms != 0 {
        return Err(Error::invalid(format!(
            "token {} is revoked; create a new one",
            record.id
        )));
    }
    let bearer = format!("pkt_{}_{}", record.id, random_hex(32)?);
    record.previous_sha256 = if grace_secs == 0 {
        String::new()
    } else {
        std::mem::take(&mut record.secret_sha256)
    };
    // At most 30 days in ms: far inside i64.
    record.previous_valid_until_ms = match grace_secs {
        0 => 0,
        s => now_ms.saturating_add(s as i64 * 1000),
    };
    record.secret_sha256 = sha256_hex(&bearer);
    record.rotated_ms = now_ms;
    Ok(Minted { record, bearer })
}

/// Constant-time comparison of two equal-length hex digests.
fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `presented_sha256` opens `record` at `now_ms`; on success, until when (0: not by
/// time). Messages say why a holder of the real secret is refused (revoked, expired, grace
/// over); a wrong secret learns nothing beyond "unknown or revoked token".
pub fn check_record(record: &TokenRecord, presented_sha256: &str, now_ms: i64) -> Result<i64> {
    let current = digest_eq(&record.secret_sha256, presented_sha256);
    let previous = !current
        && !record.previous_sha256.is_empty()
        && digest_eq(&record.previous_sha256, presented_sha256);
    if !current && !previous {
        return Err(Error::unauthenticated("unknown or revoked token"));
    }
    if record.revoked_ms != 0 {
        return Err(Error::unauthenticated(format!(
            "token {} was revoked",
            record.id
        )));
    }
    if record.expires_ms != 0 && now_ms >= record.expires_ms {
        return Err(Error::unauthenticated(format!(
            "token {} expired",
            record.id
        )));
    }
    if !previous {
        return Ok(record.expires_ms);
    }
    if now_ms >= record.previous_valid_until_ms {
        return Err(Error::unauthenticated(format!(
            "token {} was rotated and the old secret's grace period is over",
            record.id
        )));
    }
    Ok(match record.expires_ms {
        0 => record.previous_valid_until_ms,
        e => e.min(record.previous_valid_until_ms),
    })
}

/// Re-checks a caller's credentials against the stored record (for open streams).
pub fn recheck(db: &Db, ctx: &AuthContext, now_ms: i64) -> Result<i64> {
    let record = db
        .get_token(&ctx.token_id)
        .map_err(|e| Error::Unavailable(format!("token lookup failed: {e}")))?
        .ok_or_else(|| Error::unauthenticated("unknown or revoked token"))?;
    check_record(&record, &ctx.presented_sha256, now_ms)
}

/// Resolves an `authorization` header value to a caller at `now_ms`.
pub fn verify(db: &Db, header: Option<&str>, now_ms: i64) -> Result<AuthContext> {
    let header = header.ok_or_else(|| {
        Error::unauthenticated("missing authorization header (expected: Bearer <token>)")
    })?;
    let bearer = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| Error::unauthenticated("authorization header must be 'Bearer <token>'"))?
        .trim();
    let id = bearer
        .strip_prefix("pkt_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Error::unauthenticated("malformed token"))?;
    let record = db
        .get_token(id)
        .map_err(|e| Error::Unavailable(format!("token lookup failed: {e}")))?
        .ok_or_else(|| Error::unauthenticated("unknown or revoked token"))?;
    let presented_sha256 = sha256_hex(bearer);
    let valid_until_ms = check_record(&record, &presented_sha256, now_ms)?;
    Ok(AuthContext {
        tenant: record.tenant,
        role: record.role,
        token_id: record.id,
        installation_admin: record.installation_admin,
        presented_sha256,
        valid_until_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn verify_at(db: &Db, header: Option<&str>) -> Result<AuthContext> {
        verify(db, header, 10)
    }

    #[test]
    fn mint_verify_revoke() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("acme").unwrap();
        let m = mint(t.clone(), Role::Reader, "ci".into(), false, 5, 0).unwrap();
        assert!(
            !crate::store::records::encode(&m.record)
                .windows(64)
                .any(|w| w == &m.bearer.as_bytes()[21..])
        );
        db.put_token(&m.record).unwrap();
        let ctx = verify_at(&db, Some(&format!("Bearer {}", m.bearer))).unwrap();
        assert_eq!((ctx.tenant, ctx.role), (t, Role::Reader));
        // Change the last secret digit (to a different one, whatever it was).
        let last = if m.bearer.ends_with('0') { '1' } else { '0' };
        let wrong = format!("Bearer {}{last}", &m.bearer[..m.bearer.len() - 1]);
        assert_eq!(
            verify_at(&db, Some(&wrong)).unwrap_err().to_string(),
            "unknown or revoked token"
        );
        assert_eq!(
            tonic::Status::from(verify_at(&db, None).unwrap_err()).code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            tonic::Status::from(verify_at(&db, Some("Basic x")).unwrap_err()).code(),
            tonic::Code::Unauthenticated
        );
        let mut revoked = m.record.clone();
        revoked.revoked_ms = 9;
        db.put_token(&revoked).unwrap();
        let err = verify_at(&db, Some(&format!("Bearer {}", m.bearer))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("token {} was revoked", m.record.id)
        );
    }

    fn bearer(b: &str) -> String {
        format!("Bearer {b}")
    }

    #[test]
    fn expiry_refuses_at_the_deadline_and_ttl_is_capped() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("acme").unwrap();
        let m = mint(t, Role::Sensor, String::new(), false, 1_000, 30).unwrap();
        assert_eq!(m.record.expires_ms, 31_000);
        db.put_token(&m.record).unwrap();
        let ctx = verify(&db, Some(&bearer(&m.bearer)), 30_999).unwrap();
        assert_eq!(ctx.valid_until_ms, 31_000);
        let err = verify(&db, Some(&bearer(&m.bearer)), 31_000).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert_eq!(
            tonic::Status::from(err).code(),
            tonic::Code::Unauthenticated
        );
        let too_long = MAX_TOKEN_TTL_SECS + 1;
        let t = TenantId::new("acme").unwrap();
        assert!(mint(t, Role::Sensor, String::new(), false, 0, too_long).is_err());
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("acme").unwrap();
        let old = mint(t, Role::Reader, String::new(), false, 0, 0).unwrap();
        let new = rotate(old.record.clone(), 1_000, 60).unwrap();
        assert_eq!(new.record.id, old.record.id);
        assert_ne!(new.bearer, old.bearer);
        db.put_token(&new.record).unwrap();
        let by_old = verify(&db, Some(&bearer(&old.bearer)), 60_999).unwrap();
        assert_eq!(by_old.valid_until_ms, 61_000);
        assert_eq!(
            verify(&db, Some(&bearer(&new.bearer)), 61_000)
                .unwrap()
                .valid_until_ms,
            0
        );
        let err = verify(&db, Some(&bearer(&old.bearer)), 61_000).unwrap_err();
        assert!(err.to_string().contains("grace period is over"), "{err}");
        assert!(recheck(&db, &by_old, 61_000).is_err());
        // A second rotation drops the first secret at once; a zero grace drops the current.
        let third = rotate(new.record.clone(), 2_000, 0).unwrap();
        db.put_token(&third.record).unwrap();
        assert!(verify(&db, Some(&bearer(&old.bearer)), 2_001).is_err());
        assert!(verify(&db, Some(&bearer(&new.bearer)), 2_001).is_err());
        assert!(verify(&db, Some(&bearer(&third.bearer)), 2_001).is_ok());
        assert!(rotate(third.record, 0, MAX_ROTATION_GRACE_SECS + 1).is_err());
    }
}
