//! The controller binary's command line: clear errors, non-zero exits.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn controller_rejects_unknown_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nlisten_port = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_picket-controller"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen_port"), "{err}");
}
