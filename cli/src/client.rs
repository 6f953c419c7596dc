//! gRPC client helpers: an authenticated channel to a controller. Used by `picketctl`, the
//! demo and the end-to-end tests.

use crate::CliError;
use picket_proto::v1 as pb;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel that adds the bearer token to every call.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Interceptor adding `authorization: Bearer <token>` (or nothing, for anonymous calls).
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    /// Builds the header value; fails when the token holds characters a header cannot carry.
    pub fn new(token: Option<&str>) -> Result<Self, CliError> {
        token
            .map(|t| format!("Bearer {t}").parse())
            .transpose()
            .map(Bearer)
            .map_err(|_| {
                CliError::Usage("the token holds characters not allowed in a header".into())
            })
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// TLS settings of a client: the CA to trust for the controller and, for mTLS, the client's
/// certificate and key (PEM files). All unset: the channel's URL decides (`http://`).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
}

impl ClientTls {
    /// tonic's client TLS settings, or `None` when nothing is set.
    pub fn config(&self) -> Result<Option<tonic::transport::ClientTlsConfig>, CliError> {
        let pem = picket_runtime::tls::client_pem(
            self.ca.as_deref(),
            self.cert.as_deref(),
            self.key.as_deref(),
        )
        .map_err(|e| CliError::Usage(format!("TLS: {e}")))?;
        Ok(pem.map(|pem| {
            let mut c = tonic::transport::ClientTlsConfig::new();
            if let Some(ca) = pem.ca {
                c = c.ca_certificate(tonic::transport::Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = pem.identity {
                c = c.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            c
        }))
    }
}

/// Connects to `url` with a per-call deadline, authenticating with `token` when given.
pub async fn connect_url(
    url: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Authed, CliError> {
    connect_tls(url, token, timeout, &ClientTls::default()).await
}

/// Like [`connect_url`], over TLS (`https://` URLs) with `tls`.
pub async fn connect_tls(
    url: &str,
    token: Option<&str>,
    timeout: Duration,
    tls: &ClientTls,
) -> Result<Authed, CliError> {
    let bearer = Bearer::new(token)?;
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| CliError::Connect(url.to_owned(), e))?;
    if let Some(t) = tls.config()? {
        endpoint = endpoint
            .tls_config(t)
            .map_err(|e| CliError::Connect(url.to_owned(), e))?;
    }
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| CliError::Connect(url.to_owned(), e))?;
    Ok(InterceptedService::new(channel, bearer))
}

/// Largest page the CLI asks for (the controller clamps to its own `max_page_size`).
const PAGE_SIZE_MAX: usize = 1000;

/// Fetches pages until `limit` items or the last page; `fetch` answers one page request with
/// its items and the next page token.
pub async fn paged<T>(
    limit: usize,
    mut fetch: impl AsyncFnMut(pb::PageRequest) -> Result<(Vec<T>, String), CliError>,
) -> Result<Vec<T>, CliError> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = pb::PageRequest {
            page_size: (limit - out.len()).min(PAGE_SIZE_MAX) as u32,
            page_token,
        };
        let (items, next) = fetch(page).await?;
        out.extend(items);
        if next.is_empty() || out.len() >= limit {
            return Ok(out);
        }
        page_token = next;
    }
}

/// How a refused call reads: `"<code>: <message>"`, and for a rate-limited call (its
/// `retry-after` metadata) `"rate limited, retry in N s: <message>"`.
pub fn status_text(s: &tonic::Status, code: &str) -> String {
    let retry = s
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match retry {
        Some(secs) if s.code() == tonic::Code::ResourceExhausted => {
            format!("rate limited, retry in {secs} s: {}", s.message())
        }
        _ => format!("{code}: {}", s.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limited_call_says_when_to_retry_and_others_keep_their_code() {
        let mut s = tonic::Status::resource_exhausted("over limits.query_rps");
        s.metadata_mut().insert("retry-after", "3".parse().unwrap());
        assert_eq!(
            status_text(&s, "resource exhausted"),
            "rate limited, retry in 3 s: over limits.query_rps"
        );
        let cap = tonic::Status::resource_exhausted("stream refused");
        assert_eq!(
            status_text(&cap, "resource exhausted"),
            "resource exhausted: stream refused"
        );
        let mut garbage = tonic::Status::resource_exhausted("x");
        garbage
            .metadata_mut()
            .insert("retry-after", "soon".parse().unwrap());
        assert_eq!(
            status_text(&garbage, "resource exhausted"),
            "resource exhausted: x"
        );
    }
}
