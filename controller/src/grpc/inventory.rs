//! `picket.v1.Inventory`: APIs and endpoints of the caller's tenant; endpoints carry their
//! status against the tenant's API specs (`crate::specs`).

use super::{blocking, convert, page_cursor};
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::inventory::{EndpointFilter, list_apis, list_endpoints};
use crate::specs::TenantSpecs;
use crate::state::State;
use crate::store::{EndpointRecord, NotableRecord};
use picket_proto::v1 as pb;
use picket_proto::v1::inventory_server::Inventory;
use picket_shared::template::template_path;
use picket_shared::{EndpointKey, NotableKind, Role};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct InventoryService {
    state: Arc<State>,
}

impl InventoryService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

fn non_empty(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn set_api_onboarding(
        &self,
        req: Request<pb::SetApiOnboardingRequest>,
    ) -> Result<Response<pb::SetApiOnboardingResponse>, Status> {
        super::onboarding::set_api_onboarding(&self.state, req).await
    }

    async fn get_onboarding_settings(
        &self,
        req: Request<pb::GetOnboardingSettingsRequest>,
    ) -> Result<Response<pb::OnboardingSettings>, Status> {
        super::onboarding::get_settings(&self.state, req).await
    }

    async fn set_onboarding_settings(
        &self,
        req: Request<pb::OnboardingSettings>,
    ) -> Result<Response<pb::OnboardingSettings>, Status> {
        super::onboarding::set_settings(&self.state, req).await
    }

    async fn list_notables(
        &self,
        req: Request<pb::ListNotablesRequest>,
    ) -> Result<Response<pb::ListNotablesResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let r = req.into_inner();
        let page = r.page.unwrap_or_default();
        let size = self.state.page_size(page.page_size);
        let kind = match r.kind.as_str() {
            "" => None,
            k => Some(NotableKind::parse(k).ok_or_else(|| {
                Error::invalid(format!(
                    "kind {k:?} is not one of injection, sensitive_in_url, suspicious_agent"
                ))
            })?),
        };
        let after = page_cursor(&page.page_token)?;
        let host = non_empty(r.host.to_ascii_lowercase());
        let (db, max_scan) = (
            self.state.db.clone(),
            self.state.limits.max_scan_per_request,
        );
        let (items, next) = blocking(move || {
            let keep = |n: &NotableRecord| {
                host.as_ref().is_none_or(|h| *h == n.event.endpoint.host)
                    && kind.is_none_or(|k| n.event.kinds.contains(&k))
            };
            db.notables(
                &ctx.tenant,
                r.since_ms,
                after.as_deref(),
                size,
                max_scan,
                &keep,
            )
            .map_err(Error::from)
        })
        .await?;
        Ok(Response::new(pb::ListNotablesResponse {
            notables: items
                .iter()
                .map(|n| pb::Notable {
                    event: Some(picket_proto::encode::notable(&n.event)),
                    sensor_id: n.sensor_id.clone(),
                })
                .collect(),
            page: Some(pb::PageResponse {
                next_page_token: next.map(hex::encode).unwrap_or_default(),
            }),
        }))
    }

    async fn list_apis(
        &self,
        req: Request<pb::ListApisRequest>,
    ) -> Result<Response<pb::ListApisResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let page = req.into_inner().page.unwrap_or_default();
        let size = self.state.page_size(page.page_size);
        let (db, max_scan) = (
            self.state.db.clone(),
            self.state.limits.max_scan_per_request,
        );
        let (result, records) = blocking(move || {
            let page = list_apis(&db, &ctx.tenant, size, Some(&page.page_token), max_scan)?;
            let mut records = Vec::with_capacity(page.items.len());
            for api in &page.items {
                records.push(db.api_record(&ctx.tenant, &api.host)?);
            }
            Ok((page, records))
        })
        .await?;
        Ok(Response::new(pb::ListApisResponse {
            apis: result
                .items
                .into_iter()
                .zip(records)
                .map(|(api, rec)| pb::Api {
                    state: rec
                        .as_ref()
                        .map(|r| r.state.as_str())
                        .unwrap_or_default()
                        .into(),
                    state_changed_ms: rec.map_or(0, |r| r.changed_ms),
                    ..convert::api_to_pb(api)
                })
                .collect(),
            page: Some(pb::PageResponse {
                next_page_token: result.next_cursor.unwrap_or_default(),
            }),
        }))
    }

    async fn list_endpoints(
        &self,
        req: Request<pb::ListEndpointsRequest>,
    ) -> Result<Response<pb::ListEndpointsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let r = req.into_inner();
        let page = r.page.unwrap_or_default();
        let size = self.state.page_size(page.page_size);
        let filter = EndpointFilter {
            host: non_empty(r.host.to_ascii_lowercase()),
            method: non_empty(r.method.to_ascii_uppercase()),
            path_prefix: non_empty(r.path_prefix),
            seen_since_ms: r.seen_since_ms,
        };
        let (st, max_scan) = (self.state.clone(), self.state.limits.max_scan_per_request);
        let (result, specs) = blocking(move || {
            let page = list_endpoints(
                &st.db,
                &ctx.tenant,
                &filter,
                size,
                Some(&page.page_token),
                max_scan,
            )?;
            Ok((page, st.specs.tenant(&st.db, &ctx.tenant)?))
        })
        .await?;
        Ok(Response::new(pb::ListEndpointsResponse {
            endpoints: result
                .items
                .into_iter()
                .map(|(k, r)| with_status(&specs, k, r))
                .collect(),
            page: Some(pb::PageResponse {
                next_page_token: result.next_cursor.unwrap_or_default(),
            }),
        }))
    }

    async fn get_endpoint(
        &self,
        req: Request<pb::GetEndpointRequest>,
    ) -> Result<Response<pb::Endpoint>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let r = req.into_inner();
        if r.host.is_empty() || r.method.is_empty() || r.path.is_empty() {
            return Err(Error::invalid("host, method and path are required").into());
        }
        let key = EndpointKey {
            host: r.host.to_ascii_lowercase(),
            method: r.method.to_ascii_uppercase(),
            template: r.path,
        };
        let st = self.state.clone();
        let (found, specs) = blocking(move || {
            let (db, specs) = (&st.db, st.specs.tenant(&st.db, &ctx.tenant)?);
            if let Some(rec) = db.get_endpoint(&ctx.tenant, &key)? {
                return Ok(((key, rec), specs));
            }
            // A concrete path ("/users/42") finds its template ("/users/{id}").
            let templated = EndpointKey {
                template: template_path(&key.template),
                ..key.clone()
            };
            match db.get_endpoint(&ctx.tenant, &templated)? {
                Some(rec) => Ok(((templated, rec), specs)),
                None => Err(Error::NotFound(format!(
                    "no endpoint {} {} {}",
                    key.method, key.host, key.template
                ))),
            }
        })
        .await?;
        Ok(Response::new(with_status(&specs, found.0, found.1)))
    }
}

/// An endpoint on the wire with its spec status.
fn with_status(specs: &TenantSpecs, key: EndpointKey, rec: EndpointRecord) -> pb::Endpoint {
    let status = super::specs::status_pb(specs, &key, &rec.summary);
    pb::Endpoint {
        spec_status: status,
        ..convert::endpoint_to_pb(key, rec)
    }
}
