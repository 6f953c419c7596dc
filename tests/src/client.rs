//! gRPC client helpers for tests: authenticated channels, tokens, inventory reads, polling.

use picket_proto::v1 as pb;
use std::time::{Duration, Instant};

pub use picket_cli::client::Authed;

/// Connects to `url`, authenticating with `token` when given.
pub async fn channel(url: &str, token: Option<&str>) -> Authed {
    picket_cli::client::connect_url(url, token, Duration::from_secs(30))
        .await
        .unwrap()
}

pub async fn inventory(url: &str, token: &str) -> pb::inventory_client::InventoryClient<Authed> {
    pb::inventory_client::InventoryClient::new(channel(url, Some(token)).await)
}

pub async fn admin(url: &str, token: &str) -> pb::admin_client::AdminClient<Authed> {
    pb::admin_client::AdminClient::new(channel(url, Some(token)).await)
}

pub async fn fleet(url: &str, token: &str) -> pb::fleet_client::FleetClient<Authed> {
    pb::fleet_client::FleetClient::new(channel(url, Some(token)).await)
}

/// Creates a token and returns its secret.
pub async fn create_token(url: &str, admin_token: &str, tenant: &str, role: pb::Role) -> String {
    let mut c = admin(url, admin_token).await;
    c.create_token(pb::CreateTokenRequest {
        tenant: tenant.into(),
        role: role as i32,
        description: "test".into(),
        ttl_secs: 0,
    })
    .await
    .unwrap()
    .into_inner()
    .secret
}

/// Every endpoint of the token's tenant.
pub async fn all_endpoints(url: &str, token: &str) -> Vec<pb::Endpoint> {
    let mut c = inventory(url, token).await;
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let r = c
            .list_endpoints(pb::ListEndpointsRequest {
                page: Some(pb::PageRequest {
                    page_size: 1000,
                    page_token,
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(r.endpoints);
        page_token = r.page.unwrap_or_default().next_page_token;
        if page_token.is_empty() {
            return out;
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Total calls per (method, template) in a listing.
pub fn calls_by_endpoint(eps: &[pb::Endpoint]) -> std::collections::BTreeMap<String, u64> {
    eps.iter()
        .map(|e| (format!("{} {} {}", e.host, e.method, e.path), e.calls))
        .collect()
}

/// Sum of calls in a listing.
pub fn total_calls(eps: &[pb::Endpoint]) -> u64 {
    eps.iter().map(|e| e.calls).sum()
}
