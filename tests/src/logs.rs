//! nginx JSON access-log lines and files, as the tests feed them to sensors.

use std::path::Path;

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
