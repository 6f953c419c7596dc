//! The Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` per family, one line
//! per series, histograms as `_bucket{le="…"}` (cumulative, ending with `+Inf`), `_sum` and
//! `_count`. Label values escape `\`, `"` and line feeds; help text escapes `\` and line feeds.

use super::{MetricFamily, MetricKind, Sample, Value};
use std::fmt::Write;

/// The content type of [`text`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders families (as [`super::Registry::snapshot`] returns them).
pub fn text(families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(4096);
    for f in families {
        let kind = match f.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {kind}", f.name);
        for s in &f.samples {
            sample(&mut out, f.name, s);
        }
    }
    out
}

fn sample(out: &mut String, name: &str, s: &Sample) {
    match &s.value {
        Value::Counter(v) => {
            let _ = writeln!(out, "{name}{} {v}", labels(s, None));
        }
        Value::Gauge(v) => {
            let _ = writeln!(out, "{name}{} {v}", labels(s, None));
        }
        Value::Histogram(h) => {
            for (bound, n) in h.bounds.iter().zip(&h.cumulative) {
                let le = float(*bound);
                let _ = writeln!(out, "{name}_bucket{} {n}", labels(s, Some(&le)));
            }
            let _ = writeln!(out, "{name}_bucket{} {}", labels(s, Some("+Inf")), h.count);
            let _ = writeln!(out, "{name}_sum{} {}", labels(s, None), float(h.sum));
            let _ = writeln!(out, "{name}_count{} {}", labels(s, None), h.count);
        }
    }
}

/// `{k="v",…}` (with `le` last when given), or nothing for no labels.
fn labels(s: &Sample, le: Option<&str>) -> String {
    if s.labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = s
        .labels
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", k.as_str(), escape_label(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

/// A float as Prometheus reads it (`+Inf`, `-Inf`, `NaN`; Rust's `Display` never uses an
/// exponent, which the format allows but does not need).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}
