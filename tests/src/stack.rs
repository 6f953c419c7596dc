//! A controller with its tokens (as a child process, or inside this process for benches and
//! the demo), and cheap handles to its query side.

use crate::*;
use picket_proto::v1 as pb;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A controller with a sensor token and a reader token for the default tenant.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub controller: ControllerProc,
    pub admin_token: String,
    pub sensor_token: String,
    pub reader_token: String,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(&[]).await
    }

    /// A stack whose controller gets extra flags.
    pub async fn start_with(extra: &[&str]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let controller =
            ControllerProc::start_with(&dir.path().join("controller"), "127.0.0.1:0", extra);
        let admin_token = controller.admin_token();
        let url = controller.url();
        let sensor_token = create_token(&url, &admin_token, "", pb::Role::Sensor).await;
        let reader_token = create_token(&url, &admin_token, "", pb::Role::Reader).await;
        Stack {
            dir,
            controller,
            admin_token,
            sensor_token,
            reader_token,
        }
    }

    pub fn url(&self) -> String {
        self.controller.url()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits until the tenant's inventory holds exactly `want` calls in total.
    pub async fn wait_total_calls(&self, want: u64) -> Vec<pb::Endpoint> {
        let (url, token) = (self.url(), self.reader_token.clone());
        eventually(
            Duration::from_secs(30),
            &format!("{want} calls in the inventory"),
            || {
                let (url, token) = (url.clone(), token.clone());
                async move {
                    let eps = all_endpoints(&url, &token).await;
                    (total_calls(&eps) == want).then_some(eps)
                }
            },
        )
        .await
    }

    /// What async closures need to query this stack: its URL and reader token.
    pub fn clone_handle(&self) -> Handle {
        Handle {
            url: self.url(),
            reader_token: self.reader_token.clone(),
        }
    }

    /// The sensor record as the controller reports it.
    pub async fn sensor(&self, id: &str) -> Option<pb::Sensor> {
        let mut c = fleet(&self.url(), &self.reader_token).await;
        let r = c
            .list_sensors(pb::ListSensorsRequest::default())
            .await
            .unwrap()
            .into_inner();
        r.sensors.into_iter().find(|s| s.sensor_id == id)
    }

    /// Waits until the sensor has parsed `parsed` lines and the controller committed
    /// `committed` requests from it, then checks the inventory total equals `committed`.
    pub async fn wait_exact(&self, id: &str, parsed: u64, committed: u64) {
        eventually(
            Duration::from_secs(30),
            &format!("sensor {id} parsed {parsed} and committed {committed}"),
            || async {
                let s = self.sensor(id).await?;
                let c = s.counters.clone().unwrap_or_default();
                (c.parsed == parsed && s.requests_committed == committed).then_some(())
            },
        )
        .await;
        let eps = all_endpoints(&self.url(), &self.reader_token).await;
        assert_eq!(total_calls(&eps), committed, "inventory total");
    }
}

/// Cheap, clonable access to a stack's query side.
#[derive(Debug, Clone)]
pub struct Handle {
    pub url: String,
    pub reader_token: String,
}

impl Handle {
    /// Requests the controller committed from a sensor, if it knows the sensor.
    pub async fn committed(&self, sensor_id: &str) -> Option<u64> {
        let mut c = fleet(&self.url, &self.reader_token).await;
        let r = c
            .list_sensors(pb::ListSensorsRequest::default())
            .await
            .ok()?
            .into_inner();
        r.sensors
            .into_iter()
            .find(|s| s.sensor_id == sensor_id)
            .map(|s| s.requests_committed)
    }
}

impl Stack {
    /// Starts a sensor with the stack's sensor token tailing the nginx JSON `log`, its state in
    /// `<id>-data` under the stack's directory (so a restart with the same id resumes).
    pub fn file_sensor(&self, id: &str, log: &Path) -> SensorProc {
        let data = self.path(&format!("{id}-data"));
        let (log, data) = (log.to_str().unwrap(), data.to_str().unwrap());
        SensorProc::start(
            &self.url(),
            &self.sensor_token,
            &["--nginx-log", log, "--id", id, "--data-dir", data],
        )
    }
}

/// A controller running inside this process (benchmarks and the demo), with its URL and the
/// bootstrap admin token.
pub struct InProcess {
    pub controller: picket_controller::Controller,
    pub url: String,
    pub admin_token: String,
}

impl InProcess {
    /// Starts a controller on an ephemeral loopback port with its data in `data_dir`.
    pub async fn start(data_dir: &Path) -> anyhow::Result<InProcess> {
        Self::start_with(data_dir, |_| {}).await
    }

    /// Like [`InProcess::start`], with the configuration adjusted by `configure` first.
    pub async fn start_with(
        data_dir: &Path,
        configure: impl FnOnce(&mut picket_controller::ControllerConfig),
    ) -> anyhow::Result<InProcess> {
        let mut cfg = picket_controller::ControllerConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: data_dir.to_owned(),
            // In-process controllers (benches, the demo) may run side by side: no admin port.
            telemetry: picket_controller::config::TelemetryConfig {
                admin_listen: picket_runtime::admin::AdminListen::Off,
                ..Default::default()
            },
            ..Default::default()
        };
        configure(&mut cfg);
        let controller = picket_controller::start(cfg).await?;
        let url = format!("http://{}", controller.local_addr);
        let admin_token = std::fs::read_to_string(data_dir.join("admin.token"))?
            .trim()
            .to_owned();
        Ok(InProcess {
            controller,
            url,
            admin_token,
        })
    }

    /// A new token of `role` for the default tenant.
    pub async fn token(&self, role: pb::Role) -> String {
        create_token(&self.url, &self.admin_token, "", role).await
    }
}
