//! The sensor binary's command line: configuration errors are clear and fatal at start.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_picket-sensor"))
        .env_remove("PICKET_TOKEN")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_source_and_token_are_reported() {
    let (ok, err) = run(&["--token", "x"]);
    assert!(!ok);
    assert!(err.contains("no traffic source"), "{err}");
    let (ok, err) = run(&["--nginx-log", "/tmp/none.json"]);
    assert!(!ok);
    assert!(err.contains("no token"), "{err}");
}

#[test]
fn unknown_config_keys_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, "flush_interval = 5\n").unwrap();
    let (ok, err) = run(&["--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("flush_interval"), "{err}");
}
