//! The tower layer that counts every gRPC call by method and status code
//! (`picket_controller_rpcs_total`). The method label comes from a fixed list (anything else
//! is `other`), so a client sending made-up paths cannot grow the series; the code is read
//! from the response headers (trailers-only responses: errors, refusals) or from the trailers
//! at the end of the body, so streams are counted when they end.

use picket_runtime::metrics::CounterVec;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The methods the controller serves, as `package.Service/Method` (the request path without
/// its leading `/`). A test keeps this list in step with `proto/picket/v1/*.proto`.
pub const METHODS: &[&str] = &[
    "picket.v1.Admin/CreateTenant",
    "picket.v1.Admin/ListTenants",
    "picket.v1.Admin/CreateToken",
    "picket.v1.Admin/ListTokens",
    "picket.v1.Admin/RevokeToken",
    "picket.v1.Admin/RotateToken",
    "picket.v1.Admin/ListAudit",
    "picket.v1.Alerts/ListAlerts",
    "picket.v1.Alerts/GetAlert",
    "picket.v1.Alerts/UpdateAlertStatus",
    "picket.v1.Alerts/WatchAlerts",
    "picket.v1.Alerts/CreateSuppression",
    "picket.v1.Alerts/ListSuppressions",
    "picket.v1.Alerts/DeleteSuppression",
    "picket.v1.Alerts/ListIncidents",
    "picket.v1.Alerts/GetIncident",
    "picket.v1.Alerts/UpdateIncidentStatus",
    "picket.v1.Fleet/ListSensors",
    "picket.v1.Fleet/DeleteSensor",
    "picket.v1.Ingest/Stream",
    "picket.v1.Inventory/ListApis",
    "picket.v1.Inventory/ListEndpoints",
    "picket.v1.Inventory/GetEndpoint",
    "picket.v1.Inventory/ListNotables",
    "picket.v1.Inventory/SetApiOnboarding",
    "picket.v1.Inventory/GetOnboardingSettings",
    "picket.v1.Inventory/SetOnboardingSettings",
    "picket.v1.Posture/GetPosture",
    "picket.v1.Posture/ListFindings",
    "picket.v1.Specs/ImportSpec",
    "picket.v1.Specs/ListSpecs",
    "picket.v1.Specs/GetSpec",
    "picket.v1.Specs/DeleteSpec",
    "picket.v1.Usage/ListPlans",
    "picket.v1.Usage/GetPlan",
    "picket.v1.Usage/SetPlan",
    "picket.v1.Usage/GetUsage",
    "picket.v1.Usage/GetUsageHistory",
    "picket.v1.Usage/RecommendPlan",
    "picket.v1.Usage/ListNotifications",
    "picket.v1.Webhooks/AddWebhook",
    "picket.v1.Webhooks/ListWebhooks",
    "picket.v1.Webhooks/DeleteWebhook",
    "picket.v1.Webhooks/TestWebhook",
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// gRPC status code names by number (`tonic::Code`'s variants).
const CODES: [&str; 17] = [
    "OK",
    "Cancelled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The method label of a request path.
fn method_label(path: &str) -> &'static str {
    let p = path.strip_prefix('/').unwrap_or(path);
    METHODS.iter().copied().find(|m| *m == p).unwrap_or("other")
}

/// The code name of a `grpc-status` value (`Unknown` for anything unexpected).
fn code_label(v: Option<&http::HeaderValue>) -> &'static str {
    v.and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<usize>().ok())
        .and_then(|n| CODES.get(n).copied())
        .unwrap_or("Unknown")
}

/// Tower layer: counts each call when it ends.
#[derive(Clone)]
pub struct RpcMetricsLayer {
    counter: CounterVec,
}

impl RpcMetricsLayer {
    /// `counter` must have the label keys `[Method, Code]`.
    pub fn new(counter: CounterVec) -> Self {
        Self { counter }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            counter: self.counter.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    counter: CounterVec,
}

type BoxFuture<T, E> = Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
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

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let pending = Pending {
            counter: self.counter.clone(),
            method: method_label(req.uri().path()),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            if let Some(status) = resp.headers().get("grpc-status") {
                // Trailers-only response: the call ended here.
                pending.finish(code_label(Some(status)));
                return Ok(resp);
            }
            let (parts, body) = resp.into_parts();
            let body = CountingBody {
                inner: body,
                pending: Some(pending),
            };
            Ok(http::Response::from_parts(
                parts,
                tonic::body::Body::new(body),
            ))
        })
    }
}

/// A call whose code is not known yet.
struct Pending {
    counter: CounterVec,
    method: &'static str,
}

impl Pending {
    fn finish(self, code: &'static str) {
        self.counter.inc(&[self.method, code]);
    }
}

/// The response body, watched for the trailers that carry the status.
struct CountingBody {
    inner: tonic::body::Body,
    pending: Option<Pending>,
}

impl http_body::Body for CountingBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let code = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame
                .trailers_ref()
                .map(|t| code_label(t.get("grpc-status"))),
            Poll::Ready(Some(Err(s))) => CODES.get(s.code() as usize).copied(),
            // A body that ends without trailers ended cleanly from the server's side.
            Poll::Ready(None) => Some("OK"),
            Poll::Pending => None,
        };
        if let Some(code) = code
            && let Some(p) = self.pending.take()
        {
            p.finish(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CountingBody {
    fn drop(&mut self) {
        // The client went away before the call ended (or the server dropped it).
        if let Some(p) = self.pending.take() {
            p.finish("Cancelled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_match_the_protos() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/picket/v1");
        let mut from_protos = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut service = "";
            for line in text.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("service ") {
                    service = rest.split_whitespace().next().unwrap();
                } else if let Some(rest) = line.strip_prefix("rpc ") {
                    let name = rest.split('(').next().unwrap().trim();
                    from_protos.push(format!("picket.v1.{service}/{name}"));
                }
            }
        }
        let mut listed: Vec<String> = METHODS
            .iter()
            .filter(|m| m.starts_with("picket.v1."))
            .map(|m| (*m).to_owned())
            .collect();
        from_protos.sort();
        listed.sort();
        assert_eq!(listed, from_protos);
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(
            method_label("/picket.v1.Fleet/ListSensors"),
            "picket.v1.Fleet/ListSensors"
        );
        assert_eq!(method_label("/picket.v1.Fleet/Anything"), "other");
        assert_eq!(method_label("/x"), "other");
        let v = |s: &'static str| http::HeaderValue::from_static(s);
        assert_eq!(code_label(Some(&v("16"))), "Unauthenticated");
        assert_eq!(code_label(Some(&v("0"))), "OK");
        assert_eq!(code_label(Some(&v("99"))), "Unknown");
        assert_eq!(code_label(None), "Unknown");
    }
}
