//! The tower layer that gives every authenticated RPC an OpenTelemetry span (method, tenant,
//! gRPC status code) when telemetry is on, and is a plain pass-through otherwise. The span
//! lasts until the response body ends, so a stream's span covers the whole stream; the status
//! comes from the response headers (errors are trailers-only) or from the trailers.

use crate::auth::AuthContext;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use picket_runtime::otel::{self, opentelemetry};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Tower layer: one span per RPC.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = TraceService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;
type Response = http::Response<tonic::body::Body>;

impl<S, B> tower::Service<http::Request<B>> for TraceService<S>
where
    S: tower::Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    // Boxed either way (like the auth layer's): one allocation per RPC, not per message.
    type Future = BoxFuture<Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(tracer) = otel::tracer() else {
            return Box::pin(self.inner.call(req));
        };
        let path = req.uri().path();
        let mut attrs = vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.method", path.to_owned()),
        ];
        if let Some(ctx) = req.extensions().get::<AuthContext>() {
            attrs.push(KeyValue::new("picket.tenant", ctx.tenant.to_string()));
        }
        let span = tracer
            .span_builder(path.trim_start_matches('/').to_owned())
            .with_kind(SpanKind::Server)
            .with_attributes(attrs)
            .start(tracer);
        let call = self.inner.call(req);
        Box::pin(async move {
            let mut span = span;
            match call.await {
                Ok(resp) => {
                    if let Some(code) = grpc_status(resp.headers()) {
                        finish(&mut span, Some(code));
                        return Ok(resp);
                    }
                    Ok(resp.map(|body| {
                        tonic::body::Body::new(TracedBody {
                            inner: body,
                            span: Some(span),
                            code: None,
                        })
                    }))
                }
                Err(e) => {
                    span.set_status(Status::error("service error"));
                    span.end();
                    Err(e)
                }
            }
        })
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i64> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Ends a span with its gRPC status code (`None`: the stream ended without one, e.g. the
/// client went away).
fn finish(span: &mut otel::Span, code: Option<i64>) {
    match code {
        Some(code) => {
            span.set_attribute(KeyValue::new("rpc.grpc.status_code", code));
            if code != 0 {
                span.set_status(Status::error(format!("grpc status {code}")));
            }
        }
        None => span.set_status(Status::error("ended without a status")),
    }
    span.end();
}

/// A response body that ends its RPC's span when the body ends (or is dropped).
struct TracedBody<B> {
    inner: B,
    span: Option<otel::Span>,
    code: Option<i64>,
}

impl<B: Body + Unpin> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
        {
            self.code = grpc_status(trailers);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TracedBody<B> {
    fn drop(&mut self) {
        if let Some(mut span) = self.span.take() {
            finish(&mut span, self.code);
        }
    }
}
