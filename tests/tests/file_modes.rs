//! Private file modes whatever the umask: data directories 0700, secrets, spool files and
//! checkpoints 0600; too-open modes found at start are narrowed (with a warning).

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// `sh -c 'umask 000; exec BIN ARGS…'`: the binary runs with a permissive umask.
fn with_open_umask(bin_path: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(bin_path)
        .args(args)
        .env("RUST_LOG", "warn");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_and_sensor_state_is_private_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    // The controller, first start under umask 000.
    let cdir = root.path().join("controller");
    let cmd = with_open_umask(
        &bin("picket-controller"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
            cdir.to_str().unwrap(),
        ],
    );
    let mut controller = ControllerProc::spawn(cmd, &cdir);
    assert_eq!(mode(&cdir), 0o700);
    assert_eq!(mode(&cdir.join("db")), 0o700);
    assert_eq!(mode(&cdir.join("admin.token")), 0o600);
    let (url, admin) = (controller.url(), controller.admin_token());
    let token = create_token(&url, &admin, "", picket_proto::v1::Role::Sensor).await;
    // Someone opened the token file and the directory up: the next start narrows them.
    let addr = controller.addr.clone();
    controller.proc.kill9();
    set_mode(&cdir, 0o755);
    set_mode(&cdir.join("admin.token"), 0o644);
    let controller = ControllerProc::start(&cdir, &addr);
    assert_eq!(mode(&cdir), 0o700);
    assert_eq!(mode(&cdir.join("admin.token")), 0o600);

    // A sensor whose data directory, key and positions were left open.
    let sdir = root.path().join("sensor");
    std::fs::create_dir(&sdir).unwrap();
    set_mode(&sdir, 0o777);
    std::fs::write(sdir.join("principal.key"), [7u8; 32]).unwrap();
    set_mode(&sdir.join("principal.key"), 0o644);
    std::fs::write(sdir.join("positions.json"), b"{}").unwrap();
    set_mode(&sdir.join("positions.json"), 0o666);
    let log = root.path().join("access.json");
    append(&log, &[]);
    let mut sensor = Proc::spawn(with_open_umask(
        &bin("picket-sensor"),
        &[
            "--controller",
            &controller.url(),
            "--token",
            &token,
            "--id",
            "modes",
            "--flush-interval-ms",
            "100",
            "--admin-listen",
            "off",
            "--nginx-log",
            log.to_str().unwrap(),
            "--data-dir",
            sdir.to_str().unwrap(),
        ],
    ));
    sensor.wait_line("picket-sensor ready");
    assert_eq!(mode(&sdir), 0o700);
    assert_eq!(mode(&sdir.join("principal.key")), 0o600);
    assert_eq!(mode(&sdir.join("positions.json")), 0o600);
    assert_eq!(mode(&sdir.join("spool")), 0o700);
    // Positions written under umask 000 are still 0600.
    std::fs::remove_file(sdir.join("positions.json")).unwrap();
    append(
        &log,
        &[json_line(
            1_795_219_200.0,
            "api.example",
            "GET",
            "/a",
            200,
            "81.2.69.4",
        )],
    );
    let positions = sdir.join("positions.json");
    eventually(
        std::time::Duration::from_secs(60),
        "positions saved after the ack",
        || {
            let p = positions.clone();
            async move { p.exists().then_some(()) }
        },
    )
    .await;
    assert_eq!(mode(&positions), 0o600);
    drop(sensor);
}
