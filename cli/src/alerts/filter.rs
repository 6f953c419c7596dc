//! From flags to requests: severity and status names, endpoints written `METHOD /template`,
//! times given as RFC 3339, Unix ms or a span from now (`15m`, `2h`, `7d`), and the
//! `ListAlertsRequest` and `Suppression` they build.

use crate::{AlertFilterArgs, CliError, SuppressionArgs};
use picket_proto::v1 as pb;
use picket_shared::time::parse_rfc3339_ms;

/// Longest span accepted (`--since 3650d`): ten years, in seconds, so that the arithmetic
/// on milliseconds can never overflow.
const MAX_SPAN_SECS: u64 = 10 * 366 * 86_400;

/// Longest comment the controller keeps, in bytes (see `UpdateAlertStatusRequest`).
pub const MAX_COMMENT_BYTES: usize = 1024;

/// The wire severity named `name` (lower case, as the JSON output writes it).
pub fn parse_severity(name: &str) -> Result<pb::Severity, CliError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "informational" | "info" => pb::Severity::Informational,
        "low" => pb::Severity::Low,
        "medium" => pb::Severity::Medium,
        "high" => pb::Severity::High,
        _ => {
            return Err(CliError::Usage(format!(
                "severity must be informational, low, medium or high, found {name:?}"
            )));
        }
    })
}

/// The wire status named `name`.
pub fn parse_status(name: &str) -> Result<pb::AlertStatus, CliError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "active" => pb::AlertStatus::Active,
        "acknowledged" | "ack" => pb::AlertStatus::Acknowledged,
        "resolved" => pb::AlertStatus::Resolved,
        "dismissed" => pb::AlertStatus::Dismissed,
        _ => {
            return Err(CliError::Usage(format!(
                "status must be active, acknowledged, resolved or dismissed, found {name:?}"
            )));
        }
    })
}

/// `"GET /users/{id}"` → (`GET`, `/users/{id}`); a bare `"/users/{id}"` has no method.
pub fn parse_endpoint(s: &str) -> Result<(String, String), CliError> {
    let s = s.trim();
    let (method, template) = match s.split_once(char::is_whitespace) {
        Some((m, t)) => (m.to_ascii_uppercase(), t.trim().to_owned()),
        None => (String::new(), s.to_owned()),
    };
    if !template.starts_with('/') || method.chars().any(|c| !c.is_ascii_alphabetic()) {
        return Err(CliError::Usage(format!(
            "endpoint must look like \"GET /users/{{id}}\" or \"/users/{{id}}\", found {s:?}"
        )));
    }
    Ok((method, template))
}

/// A span such as `90s`, `15m`, `2h`, `7d` or `2w`, in milliseconds; `None` when `s` is not one.
pub fn parse_span_ms(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let secs_per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    let n: u64 = s[..s.len() - 1].parse().ok()?;
    let secs = n.checked_mul(secs_per).filter(|s| *s <= MAX_SPAN_SECS)?;
    // At most ten years of milliseconds: far below i64::MAX.
    Some(secs as i64 * 1000)
}

/// A point in time for `--since`/`--until`: RFC 3339, Unix ms, or a span back from `now_ms`.
pub fn parse_past(flag: &str, s: &str, now_ms: i64) -> Result<i64, CliError> {
    parse_span_ms(s)
        .map(|span| now_ms - span)
        .or_else(|| s.parse::<i64>().ok().filter(|ms| *ms >= 0))
        .or_else(|| parse_rfc3339_ms(s))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{flag} must be RFC 3339, Unix ms or a span like 15m, 2h, 7d; found {s:?}"
            ))
        })
}

/// An expiry for `--expires`: a span forward from `now_ms`, or RFC 3339.
pub fn parse_expiry(s: &str, now_ms: i64) -> Result<i64, CliError> {
    parse_span_ms(s)
        .map(|span| now_ms + span)
        .or_else(|| parse_rfc3339_ms(s))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--expires must be a span like 30d, 12h or an RFC 3339 time, found {s:?}"
            ))
        })
}

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The request `alerts list` sends (without its page).
pub fn list_request(f: &AlertFilterArgs, now_ms: i64) -> Result<pb::ListAlertsRequest, CliError> {
    let (method, template) = match &f.endpoint {
        Some(e) => parse_endpoint(e)?,
        None => (
            f.method.clone().unwrap_or_default().to_ascii_uppercase(),
            f.template.clone().unwrap_or_default(),
        ),
    };
    let time = |flag: &str, v: &Option<String>| {
        v.as_deref().map_or(Ok(0), |s| parse_past(flag, s, now_ms))
    };
    let req = pb::ListAlertsRequest {
        page: None,
        min_severity: f
            .severity
            .as_deref()
            .map_or(Ok(pb::Severity::Unspecified), parse_severity)? as i32,
        status: f
            .status
            .as_deref()
            .map_or(Ok(pb::AlertStatus::Unspecified), parse_status)? as i32,
        r#type: f.alert_type.clone().unwrap_or_default(),
        host: f.host.clone().unwrap_or_default(),
        template,
        method,
        actor: f.actor.clone().unwrap_or_default(),
        since_ms: time("--since", &f.since)?,
        until_ms: time("--until", &f.until)?,
    };
    if req.until_ms != 0 && req.since_ms >= req.until_ms {
        return Err(CliError::Usage(format!(
            "--since must be before --until (found {} ≥ {})",
            req.since_ms, req.until_ms
        )));
    }
    Ok(req)
}

/// The rule `suppressions add` creates.
pub fn suppression(a: &SuppressionArgs, now_ms: i64) -> Result<pb::Suppression, CliError> {
    let (method, template) = match &a.endpoint {
        Some(e) => parse_endpoint(e)?,
        None => (String::new(), String::new()),
    };
    let rule = pb::Suppression {
        cidr: a.cidr.clone().unwrap_or_default(),
        principal: a.principal.clone().unwrap_or_default(),
        host: a.host.clone().unwrap_or_default(),
        method,
        template,
        r#type: a.alert_type.clone().unwrap_or_default(),
        expires_ms: a
            .expires
            .as_deref()
            .map_or(Ok(0), |s| parse_expiry(s, now_ms))?,
        comment: comment(a.comment.as_deref())?,
        ..Default::default()
    };
    if [
        &rule.cidr,
        &rule.principal,
        &rule.host,
        &rule.template,
        &rule.r#type,
    ]
    .iter()
    .all(|v| v.is_empty())
    {
        return Err(CliError::Usage(
            "a rule needs at least one of --cidr, --principal, --host, --endpoint, --type".into(),
        ));
    }
    Ok(rule)
}

/// A comment within the controller's bound.
pub fn comment(c: Option<&str>) -> Result<String, CliError> {
    let c = c.unwrap_or_default();
    if c.len() > MAX_COMMENT_BYTES {
        return Err(CliError::Usage(format!(
            "--comment holds at most {MAX_COMMENT_BYTES} bytes, found {}",
            c.len()
        )));
    }
    Ok(c.to_owned())
}
