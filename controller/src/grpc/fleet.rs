//! `picket.v1.Fleet`: the caller's sensors.

use super::{blocking, convert};
use crate::grpc::auth_layer::caller;
use crate::state::State;
use picket_proto::v1 as pb;
use picket_proto::v1::fleet_server::Fleet;
use picket_shared::Role;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct FleetService {
    state: Arc<State>,
}

impl FleetService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Fleet for FleetService {
    async fn list_sensors(
        &self,
        req: Request<pb::ListSensorsRequest>,
    ) -> Result<Response<pb::ListSensorsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let page = req.into_inner().page.unwrap_or_default();
        let size = self.state.page_size(page.page_size);
        let db = self.state.db.clone();
        let tenant = ctx.tenant.clone();
        let all = blocking(move || Ok(db.list_sensors(&tenant)?)).await?;
        let start = all
            .iter()
            .position(|s| s.sensor_id > page.page_token)
            .unwrap_or(all.len());
        let start = if page.page_token.is_empty() { 0 } else { start };
        let items: Vec<_> = all.into_iter().skip(start).take(size + 1).collect();
        let more = items.len() > size;
        let sensors: Vec<pb::Sensor> = items
            .into_iter()
            .take(size)
            .map(|s| {
                let connected = self.state.is_connected(&ctx.tenant, &s.sensor_id);
                convert::sensor_to_pb(s, connected)
            })
            .collect();
        let next = if more {
            sensors
                .last()
                .map(|s| s.sensor_id.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListSensorsResponse {
            sensors,
            page: Some(pb::PageResponse {
                next_page_token: next,
            }),
        }))
    }
}
