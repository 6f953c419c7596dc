//! `picket.v1.Fleet`: the caller's sensors (list; delete, for a tenant admin).

use super::{blocking, convert};
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::state::State;
use picket_proto::v1 as pb;
use picket_proto::v1::fleet_server::Fleet;
use picket_shared::{Role, SensorId};
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

    async fn delete_sensor(
        &self,
        req: Request<pb::DeleteSensorRequest>,
    ) -> Result<Response<pb::DeleteSensorResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Admin)?;
        let id = req.into_inner().sensor_id;
        let sensor = SensorId::new(&id).map_err(|e| Error::invalid(e.to_string()))?;
        if self.state.is_connected(&ctx.tenant, sensor.as_str()) {
            return Err(Status::failed_precondition(format!(
                "sensor {sensor} is connected: stop it (or revoke its token) first"
            )));
        }
        let db = self.state.db.clone();
        let (tenant, s) = (ctx.tenant.clone(), sensor.clone());
        let left = blocking(move || Ok(db.delete_sensor(&tenant, &s)?))
            .await?
            .ok_or_else(|| Error::NotFound(format!("sensor {sensor}")))?;
        super::audit::audited(
            &self.state,
            &ctx,
            None,
            "sensor.delete",
            sensor.as_str(),
            format!("sensors left: {left}"),
        )
        .await;
        Ok(Response::new(pb::DeleteSensorResponse { sensors: left }))
    }
}
