//! `picketctl`'s command line: clear errors, non-zero exits.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn picketctl_without_token_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_picketctl"))
        .current_dir(dir.path())
        .env_remove("PICKET_TOKEN")
        .args(["--controller", "http://127.0.0.1:1", "endpoints", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no token"), "{err}");
}
