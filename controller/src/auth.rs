//! Bearer-token authentication: token minting and verification, the tower layer that guards
//! every RPC, and the per-request [`AuthContext`] services read their tenant and role from.
//!
//! Token format: `pkt_<id>_<secret>` — `id` (16 hex) locates the record, `secret` (64 hex,
//! 256 random bits) is never stored: the record keeps the SHA-256 of the whole string.

use crate::store::{Db, TokenRecord};
use picket_shared::{Role, TenantId};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::Status;

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
    pub fn require(&self, needed: Role) -> Result<(), Status> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "this call needs role {needed}, the token has role {}",
                self.role
            )))
        }
    }
}

/// The caller of a request, as set by [`AuthLayer`].
pub fn caller<T>(req: &tonic::Request<T>) -> Result<AuthContext, Status> {
    req.extensions()
        .get::<AuthContext>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
}

/// A freshly minted token: the record to store and the bearer string to show once.
pub struct Minted {
    pub record: TokenRecord,
    pub bearer: String,
}

fn random_hex(bytes: usize) -> Result<String, Status> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Status::internal(format!("no randomness: {e}")))?;
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
) -> Result<Minted, Status> {
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
pub fn verify(db: &Db, header: Option<&str>) -> Result<AuthContext, Status> {
    let header = header.ok_or_else(|| {
        Status::unauthenticated("missing authorization header (expected: Bearer <token>)")
    })?;
    let bearer = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| Status::unauthenticated("authorization header must be 'Bearer <token>'"))?
        .trim();
    let id = bearer
        .strip_prefix("pkt_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Status::unauthenticated("malformed token"))?;
    let record = db
        .get_token(id)
        .map_err(|e| Status::unavailable(format!("token lookup failed: {e}")))?
        .ok_or_else(|| Status::unauthenticated("unknown or revoked token"))?;
    if !digest_eq(&record.secret_sha256, &sha256_hex(bearer)) || record.revoked_ms != 0 {
        return Err(Status::unauthenticated("unknown or revoked token"));
    }
    Ok(AuthContext {
        tenant: record.tenant,
        role: record.role,
        token_id: record.id,
        installation_admin: record.installation_admin,
    })
}

/// Paths that answer without a token: health probes must work for load balancers and
/// orchestrators that hold no credentials.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
}

/// Tower layer: authenticates every request except health checks.
#[derive(Clone)]
pub struct AuthLayer {
    db: Db,
}

impl AuthLayer {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            db: self.db.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    db: Db,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The ready service is the one that must be called; keep a fresh clone for next time.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if is_public(req.uri().path()) {
            return Box::pin(inner.call(req));
        }
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match verify(&self.db, header) {
            Ok(ctx) => {
                req.extensions_mut().insert(ctx);
                Box::pin(inner.call(req))
            }
            Err(status) => {
                tracing::debug!(path = req.uri().path(), %status, "rejected unauthenticated call");
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
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
            verify(&db, Some(&wrong)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            verify(&db, None).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            verify(&db, Some("Basic x")).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let mut revoked = m.record.clone();
        revoked.revoked_ms = 9;
        db.put_token(&revoked).unwrap();
        assert!(verify(&db, Some(&format!("Bearer {}", m.bearer))).is_err());
    }
}
