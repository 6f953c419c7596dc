//! Bearer-token authentication as domain logic: token minting and verification, and the
//! per-request [`AuthContext`] services read their tenant and role from. The tower layer that
//! applies it to every RPC is `grpc::auth_layer`; errors are [`Error`]s, mapped to gRPC codes
//! in one place.
//!
//! Token format: `pkt_<id>_<secret>` — `id` (16 hex) locates the record, `secret` (64 hex,
//! 256 random bits) is never stored: the record keeps the SHA-256 of the whole string.

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

/// Creates a new token for `tenant` with `role`.
pub fn mint(
    tenant: TenantId,
    role: Role,
    description: String,
    installation_admin: bool,
    now_ms: i64,
) -> Result<Minted> {
    let id = random_hex(8)?;
    let bearer = format!("pkt_{id}_{}", random_hex(32)?);
    let record = TokenRecord {
        id,
        tenant,
        role,
        description,
        created_ms: now_ms,
        revoked_ms: 0,
        installation_admin,
        secret_sha256: sha256_hex(&bearer),
    };
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

/// Resolves an `authorization` header value to a caller.
pub fn verify(db: &Db, header: Option<&str>) -> Result<AuthContext> {
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
    if !digest_eq(&record.secret_sha256, &sha256_hex(bearer)) || record.revoked_ms != 0 {
        return Err(Error::unauthenticated("unknown or revoked token"));
    }
    Ok(AuthContext {
        tenant: record.tenant,
        role: record.role,
        token_id: record.id,
        installation_admin: record.installation_admin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    #[test]
    fn mint_verify_revoke() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("acme").unwrap();
        let m = mint(t.clone(), Role::Reader, "ci".into(), false, 5).unwrap();
        assert!(
            !crate::store::records::encode(&m.record)
                .windows(64)
                .any(|w| w == &m.bearer.as_bytes()[21..])
        );
        db.put_token(&m.record).unwrap();
        let ctx = verify(&db, Some(&format!("Bearer {}", m.bearer))).unwrap();
        assert_eq!((ctx.tenant, ctx.role), (t, Role::Reader));
        // Change the last secret digit (to a different one, whatever it was).
        let last = if m.bearer.ends_with('0') { '1' } else { '0' };
        let wrong = format!("Bearer {}{last}", &m.bearer[..m.bearer.len() - 1]);
        assert_eq!(
            verify(&db, Some(&wrong)).unwrap_err().to_string(),
            "unknown or revoked token"
        );
        assert_eq!(
            tonic::Status::from(verify(&db, None).unwrap_err()).code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            tonic::Status::from(verify(&db, Some("Basic x")).unwrap_err()).code(),
            tonic::Code::Unauthenticated
        );
        let mut revoked = m.record.clone();
        revoked.revoked_ms = 9;
        db.put_token(&revoked).unwrap();
        assert!(verify(&db, Some(&format!("Bearer {}", m.bearer))).is_err());
    }
}
