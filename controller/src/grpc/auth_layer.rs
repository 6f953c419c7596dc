//! The tower layer that authenticates every RPC (health checks exempt) with
//! [`crate::auth::verify`] and puts the caller's [`AuthContext`] on the request, and
//! [`caller`], which services use to read it back. It also applies the per-token query rate
//! limit (`crate::limits::RateLimiter`) to every call but the ingest stream, whose load the
//! plan, the batch limits and the stream caps bound instead.

use crate::auth::{AuthContext, verify};
use crate::error::Error;
use crate::limits::Quotas;
use crate::store::Db;
use crate::tokens::TokenLife;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;

/// The caller of a request, as set by [`AuthLayer`].
pub fn caller<T>(req: &tonic::Request<T>) -> Result<AuthContext, Error> {
    req.extensions()
        .get::<AuthContext>()
        .cloned()
        .ok_or_else(|| Error::unauthenticated("no authenticated caller"))
}

/// Paths that answer without a token: health probes must work for load balancers and
/// orchestrators that hold no credentials.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
}

/// Paths the query rate limit does not apply to: sensors' ingest streams.
fn is_ingest(path: &str) -> bool {
    path.starts_with("/picket.v1.Ingest/")
}

/// Tower layer: authenticates every request except health checks.
#[derive(Clone)]
pub struct AuthLayer {
    db: Db,
    tokens: Arc<TokenLife>,
    quotas: Arc<Quotas>,
}

impl AuthLayer {
    pub fn new(db: Db, tokens: Arc<TokenLife>, quotas: Arc<Quotas>) -> Self {
        Self { db, tokens, quotas }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            db: self.db.clone(),
            tokens: self.tokens.clone(),
            quotas: self.quotas.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    db: Db,
    tokens: Arc<TokenLife>,
    quotas: Arc<Quotas>,
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
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let now_ms = self.tokens.now_ms();
        let (db, tokens, quotas) = (self.db.clone(), self.tokens.clone(), self.quotas.clone());
        let limited = !is_ingest(req.uri().path());
        Box::pin(async move {
            // The token lookup reads sled: on the blocking pool, never on an async worker.
            let verified =
                tokio::task::spawn_blocking(move || verify(&db, header.as_deref(), now_ms))
                    .await
                    .unwrap_or_else(|e| Err(Error::Internal(format!("auth task failed: {e}"))));
            match verified {
                Ok(ctx) => {
                    // Memory only; written to the store at most once a minute per token.
                    tokens.touch(&ctx.token_id, now_ms);
                    if limited {
                        let now = std::time::Instant::now();
                        if let Err(wait) = quotas.rate.check(&ctx.token_id, &ctx.tenant, now) {
                            tracing::debug!(path = req.uri().path(), token = %ctx.token_id, tenant = %ctx.tenant, "rate limited a query call");
                            let status = super::limits::rate_limited(wait, quotas.rate.rps);
                            return Ok(status.into_http());
                        }
                    }
                    req.extensions_mut().insert(ctx);
                    inner.call(req).await
                }
                Err(e) => {
                    let status = Status::from(e);
                    tracing::debug!(path = req.uri().path(), %status, "rejected unauthenticated call");
                    Ok(status.into_http())
                }
            }
        })
    }
}
