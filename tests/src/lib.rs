//! Support for Picket's end-to-end tests: start the real `picket-controller` and
//! `picket-sensor` binaries on ephemeral ports, wait for their readiness lines, and talk to
//! them with real gRPC clients.
//!
//! The binaries are found next to the test executable's directory (`target/<profile>/`);
//! `cargo test --workspace` builds them before any test runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod traffic;

use picket_proto::v1 as pb;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a process may take to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Path of a workspace binary built by cargo.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test-binary> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the suite with `cargo test --workspace`, which builds the binaries",
        path.display()
    );
    path
}

/// A child process whose stdout lines are collected on a thread; killed on drop.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it.
    pub fn wait_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(_) => panic!("no line starting with {prefix:?} (saw {:?})", self.seen),
            }
        }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A controller process.
pub struct ControllerProc {
    pub proc: Proc,
    pub addr: String,
    pub data_dir: PathBuf,
}

impl ControllerProc {
    /// Starts a controller on `listen` (use `127.0.0.1:0` for an ephemeral port).
    pub fn start(data_dir: &Path, listen: &str) -> ControllerProc {
        let mut cmd = Command::new(bin("picket-controller"));
        cmd.args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "warn");
        let mut proc = Proc::spawn(cmd);
        let addr = proc.wait_line("picket-controller listening on ");
        ControllerProc {
            proc,
            addr,
            data_dir: data_dir.to_owned(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bootstrap installation-admin token.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin.token"))
            .unwrap()
            .trim()
            .to_owned()
    }
}

/// A sensor process.
pub struct SensorProc {
    pub proc: Proc,
    pub als_addr: Option<String>,
    pub mirror_addr: Option<String>,
}

impl SensorProc {
    /// Starts `picket-sensor` with `args` (plus `--controller`/`--token`) and waits for it.
    pub fn start(controller: &str, token: &str, args: &[&str]) -> SensorProc {
        let mut cmd = Command::new(bin("picket-sensor"));
        cmd.args([
            "--controller",
            controller,
            "--token",
            token,
            "--flush-interval-ms",
            "100",
        ])
        .args(args)
        .env("RUST_LOG", "warn");
        let mut proc = Proc::spawn(cmd);
        let als_addr = if args.contains(&"--als-listen") {
            Some(proc.wait_line("picket-sensor als listening on "))
        } else {
            None
        };
        let mirror_addr = if args.contains(&"--mirror-listen") {
            Some(proc.wait_line("picket-sensor mirror listening on "))
        } else {
            None
        };
        proc.wait_line("picket-sensor ready");
        SensorProc {
            proc,
            als_addr,
            mirror_addr,
        }
    }
}

pub use picket_controller::cli::commands::Authed;

/// Connects to `url`, authenticating with `token` when given.
pub async fn channel(url: &str, token: Option<&str>) -> Authed {
    picket_controller::cli::commands::connect_url(url, token, Duration::from_secs(30))
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

/// One nginx JSON log line with the variables of `deploy/nginx/picket.conf`.
pub fn json_line(
    ts_secs: f64,
    host: &str,
    method: &str,
    uri: &str,
    status: u16,
    ip: &str,
) -> String {
    format!(
        r#"{{"msec":"{ts_secs:.3}","remote_addr":"{ip}","host":"{host}","request_method":"{method}","request_uri":"{uri}","status":"{status}","body_bytes_sent":"120","request_length":"300","request_time":"0.004","http_user_agent":"test/1.0"}}"#
    )
}

/// Appends lines (each with a trailing newline) to a file, creating it if needed.
pub fn append(path: &Path, lines: &[String]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_all().unwrap();
}

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
        let dir = tempfile::tempdir().unwrap();
        let controller = ControllerProc::start(&dir.path().join("controller"), "127.0.0.1:0");
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

/// A hand-driven ingest stream: sends exactly the batches a test constructs (for replays).
pub struct RawSensor {
    tx: tokio::sync::mpsc::Sender<pb::SensorMessage>,
    inbound: tonic::Streaming<pb::ControllerMessage>,
    pub sensor_id: String,
    pub epoch: u64,
    pub welcome: pb::Welcome,
    /// Directives that arrived while waiting for something else, oldest first.
    directives: std::collections::VecDeque<pb::Directive>,
}

impl RawSensor {
    /// Opens a stream and waits for the welcome.
    pub async fn connect(url: &str, token: &str, sensor_id: &str, epoch: u64) -> RawSensor {
        let mut client = pb::ingest_client::IngestClient::new(channel(url, Some(token)).await);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let hello = pb::Hello {
            sensor_id: sensor_id.into(),
            stream_epoch: epoch,
            version: "raw".into(),
            ..Default::default()
        };
        tx.send(pb::SensorMessage {
            msg: Some(pb::sensor_message::Msg::Hello(hello)),
        })
        .await
        .unwrap();
        let mut inbound = client
            .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let welcome = loop {
            match inbound.message().await.unwrap().and_then(|m| m.msg) {
                Some(pb::controller_message::Msg::Welcome(w)) => break w,
                Some(_) => continue,
                None => panic!("stream ended before the welcome"),
            }
        };
        RawSensor {
            tx,
            inbound,
            sensor_id: sensor_id.into(),
            epoch,
            welcome,
            directives: Default::default(),
        }
    }

    /// A batch of `requests` calls to one endpoint.
    pub fn batch(&self, seq: u64, host: &str, requests: u64) -> pb::Batch {
        pb::Batch {
            sensor_id: self.sensor_id.clone(),
            stream_epoch: self.epoch,
            seq,
            endpoints: vec![pb::EndpointSummary {
                host: host.into(),
                method: "GET".into(),
                template: "/raw/{id}".into(),
                requests,
                statuses: vec![pb::StatusCount {
                    status: 200,
                    count: requests,
                }],
                first_seen_ms: 1,
                last_seen_ms: 2,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    async fn next(&mut self) -> pb::controller_message::Msg {
        let m = tokio::time::timeout(Duration::from_secs(30), self.inbound.message())
            .await
            .expect("no message from the controller within 30 s")
            .unwrap();
        m.and_then(|m| m.msg)
            .expect("the controller ended the stream")
    }

    /// Sends a batch and returns its ack (directives arriving meanwhile are kept).
    pub async fn send(&mut self, batch: pb::Batch) -> pb::Ack {
        self.tx
            .send(pb::SensorMessage {
                msg: Some(pb::sensor_message::Msg::Batch(batch)),
            })
            .await
            .unwrap();
        loop {
            match self.next().await {
                pb::controller_message::Msg::Ack(a) => return a,
                pb::controller_message::Msg::Directive(d) => self.directives.push_back(d),
                pb::controller_message::Msg::Welcome(_) => panic!("second welcome"),
            }
        }
    }

    /// The next directive (one that already arrived, or the next to arrive).
    pub async fn directive(&mut self) -> pb::Directive {
        if let Some(d) = self.directives.pop_front() {
            return d;
        }
        loop {
            if let pb::controller_message::Msg::Directive(d) = self.next().await {
                return d;
            }
        }
    }
}

pub async fn usage(url: &str, token: &str) -> pb::UsageReport {
    let mut c = pb::usage_client::UsageClient::new(channel(url, Some(token)).await);
    c.get_usage(pb::GetUsageRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Runs the real `picketctl` with `args` and returns its stdout (panics on failure).
pub fn picketctl(url: &str, token: &str, args: &[&str]) -> String {
    let out = Command::new(bin("picketctl"))
        .args(["--controller", url, "--token", token])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "picketctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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
        let cfg = picket_controller::ControllerConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: data_dir.to_owned(),
            ..Default::default()
        };
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
