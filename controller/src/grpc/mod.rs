//! The gRPC edge of the controller: the only modules that know tonic and `picket.v1` types.

pub mod admin;
pub mod alerts;
pub mod alerts_watch;
pub mod alerts_wire;
pub mod audit;
pub mod auth_layer;
pub mod connections;
pub mod convert;
pub mod fleet;
pub mod incidents;
pub mod ingest;
pub mod inventory;
pub mod onboarding;
pub mod posture;

pub mod rpc_metrics;
pub mod specs;
pub mod trace_layer;
pub mod usage;
pub mod webhooks;
// Statuses of refused and limit-ended calls (`crate::limits`).
pub mod limits;

use crate::error::Error;
use tonic::Status;

/// The store cursor a list request's `page_token` names (hex of the last key returned);
/// `None` for the first page.
pub fn page_cursor(token: &str) -> Result<Option<Vec<u8>>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    hex::decode(token)
        .map(Some)
        .map_err(|_| Error::invalid("page_token is not a cursor this server issued"))
}

/// Runs blocking store work off the async executor and maps its error.
pub async fn blocking<T, F>(f: F) -> Result<T, Status>
where
    F: FnOnce() -> crate::error::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Status::from),
        Err(e) => Err(Error::Internal(format!("store task failed: {e}")).into()),
    }
}

#[cfg(test)]
mod alerts_tests;
