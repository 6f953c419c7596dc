//! The real binaries as child processes: found in `target/<profile>/`, started on ephemeral
//! ports, ready once they print their readiness lines, killed on drop.

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
    /// Where its admin listener (`/metrics`, `/healthz`, `/readyz`) is bound.
    pub admin_addr: String,
    pub data_dir: PathBuf,
}

impl ControllerProc {
    /// Starts a controller on `listen` (use `127.0.0.1:0` for an ephemeral port).
    pub fn start(data_dir: &Path, listen: &str) -> ControllerProc {
        Self::start_with(data_dir, listen, &[])
    }

    /// Like [`ControllerProc::start`], with extra flags (`--learning-period-secs 600`, …).
    pub fn start_with(data_dir: &Path, listen: &str, extra: &[&str]) -> ControllerProc {
        let mut cmd = Command::new(bin("picket-controller"));
        cmd.args(extra);
        cmd.args([
            "--listen",
            listen,
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("RUST_LOG", "warn");
        Self::spawn(cmd, data_dir)
    }

    /// Starts a prepared `picket-controller` command (it must bind its admin listener) and
    /// waits for both readiness lines.
    pub fn spawn(cmd: Command, data_dir: &Path) -> ControllerProc {
        let mut proc = Proc::spawn(cmd);
        let addr = proc.wait_line("picket-controller listening on ");
        let admin_addr = proc.wait_line("picket-controller admin listening on ");
        ControllerProc {
            proc,
            addr,
            admin_addr,
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
    /// Where its admin listener is bound (none with `--admin-listen off`).
    pub admin_addr: Option<String>,
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
        if !args.contains(&"--admin-listen") {
            cmd.args(["--admin-listen", "127.0.0.1:0"]);
        }
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
        let admin_off = args
            .windows(2)
            .any(|w| w[0] == "--admin-listen" && w[1] == "off");
        let admin_addr = if admin_off {
            None
        } else {
            Some(proc.wait_line("picket-sensor admin listening on "))
        };
        proc.wait_line("picket-sensor ready");
        SensorProc {
            proc,
            als_addr,
            mirror_addr,
            admin_addr,
        }
    }
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

/// A plain HTTP/1.1 GET of `path` on `addr` (the admin listeners): status code and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    (status, body.to_owned())
}
