//! `apis onboard|offboard|auto-onboard`, `posture show` and `findings list` over the
//! Inventory and Posture services.

use crate::client::{Authed, paged};
use crate::output::{Format, Listing, json, when};
use crate::{ApisCmd, CliError};
use clap::Subcommand;
use picket_proto::v1 as pb;
use serde_json::{Value, json as j};

#[derive(Debug, Subcommand)]
pub enum PostureCmd {
    /// The tenant's posture score, per-API scores and the most severe open findings.
    Show {
        /// One API (host) only.
        #[arg(long)]
        api: Option<String>,
        /// How many top findings to show (at most 100).
        #[arg(long, default_value_t = 10)]
        top: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum FindingsCmd {
    /// List posture findings, most severe first.
    List {
        /// Exact API (host).
        #[arg(long)]
        api: Option<String>,
        /// A finding kind (e.g. unauthenticated_endpoint, shadow_endpoint, spec_drift).
        #[arg(long)]
        kind: Option<String>,
        /// informational, low, medium or high.
        #[arg(long)]
        min_severity: Option<String>,
        /// open (default), resolved or all.
        #[arg(long, default_value = "open")]
        status: String,
        /// Stop after this many findings.
        #[arg(long, default_value_t = 1_000)]
        limit: usize,
    },
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// `apis onboard|offboard|auto-onboard` (`apis list` lives with the inventory commands).
pub async fn apis(svc: Authed, fmt: Format, cmd: &ApisCmd) -> Result<String, CliError> {
    let mut c = pb::inventory_client::InventoryClient::new(svc);
    let (hosts, all, onboard) = match cmd {
        ApisCmd::List => return Err(CliError::Usage("apis list is not handled here".into())),
        ApisCmd::Onboard { hosts, all } => (hosts, *all, true),
        ApisCmd::Offboard { hosts, all } => (hosts, *all, false),
        ApisCmd::AutoOnboard { value } => {
            let s = match value {
                None => c
                    .get_onboarding_settings(pb::GetOnboardingSettingsRequest {})
                    .await?
                    .into_inner(),
                Some(v) => c
                    .set_onboarding_settings(pb::OnboardingSettings {
                        auto_onboard: *v == OnOff::On,
                    })
                    .await?
                    .into_inner(),
            };
            return Ok(match fmt {
                Format::Json => json(&j!({"auto_onboard": s.auto_onboard})),
                Format::Table => format!(
                    "auto-onboard: {}\n",
                    if s.auto_onboard { "on" } else { "off" }
                ),
            });
        }
    };
    // Exactly one of: hosts named, or --all.
    if all != hosts.is_empty() {
        return Err(CliError::Usage(
            "name the APIs (hosts) or give --all".into(),
        ));
    }
    let r = c
        .set_api_onboarding(pb::SetApiOnboardingRequest {
            hosts: hosts.clone(),
            all,
            onboard,
        })
        .await?
        .into_inner();
    let state = if onboard { "onboarded" } else { "discovered" };
    Ok(match fmt {
        Format::Json => json(&j!({"changed": r.changed, "state": state})),
        Format::Table if r.changed.is_empty() => "no API changed\n".into(),
        Format::Table => r
            .changed
            .iter()
            .map(|h| format!("{h}: {state}\n"))
            .collect(),
    })
}

/// A finding's JSON object.
pub fn finding_json(f: &pb::Finding) -> Value {
    j!({
        "id": f.id, "kind": f.kind, "severity": f.severity, "api": f.api, "host": f.host,
        "method": f.method, "endpoint": f.endpoint, "evidence": f.evidence,
        "details": f.details, "remediation": f.remediation, "status": f.status,
        "first_seen": when(f.first_seen_ms), "last_seen": when(f.last_seen_ms),
        "resolved": when(f.resolved_ms),
    })
}

fn evidence_text(f: &pb::Finding) -> String {
    let mut parts: Vec<String> = f.evidence.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.sort();
    parts.extend(f.details.iter().cloned());
    parts.join(" ")
}

/// A findings table (shared by `findings list` and `posture show`).
pub fn findings_listing(findings: &[pb::Finding]) -> Listing {
    let mut l = Listing::new(&["SEVERITY", "KIND", "API", "ENDPOINT", "EVIDENCE", "ID"]);
    for f in findings {
        let endpoint = if f.endpoint.is_empty() {
            "-".to_owned()
        } else {
            format!("{} {}", f.method, f.endpoint)
        };
        l.push(
            vec![
                f.severity.clone(),
                f.kind.clone(),
                f.api.clone(),
                endpoint,
                evidence_text(f),
                f.id.clone(),
            ],
            finding_json(f),
        );
    }
    l
}

/// `posture show` and `findings list`.
pub async fn posture(svc: Authed, fmt: Format, cmd: &PostureCmd) -> Result<String, CliError> {
    let PostureCmd::Show { api, top } = cmd;
    let mut c = pb::posture_client::PostureClient::new(svc);
    let r = c
        .get_posture(pb::GetPostureRequest {
            api: api.clone().unwrap_or_default(),
            top: *top,
        })
        .await?
        .into_inner();
    Ok(render_report(&r, fmt))
}

/// A posture report as text or JSON (also used by `cargo demo`).
pub fn render_report(r: &pb::PostureReport, fmt: Format) -> String {
    let findings = findings_listing(&r.top_findings);
    if fmt == Format::Json {
        let apis: Vec<Value> = r
            .apis
            .iter()
            .map(|a| j!({"api": a.api, "score": a.score, "state": a.state, "requests": a.requests, "open_findings": a.open_findings}))
            .collect();
        return json(&j!({
            "score": r.score, "evaluated": when(r.evaluated_ms), "apis": apis,
            "by_severity": r.by_severity, "by_kind": r.by_kind,
            "resolved_findings": r.resolved_findings, "top_findings": findings.objects,
        }));
    }
    let mut out = format!(
        "posture score {}/100 (evaluated {})\n",
        r.score,
        when(r.evaluated_ms)
    );
    let mut sev: Vec<String> = ["high", "medium", "low", "informational"]
        .iter()
        .map(|s| format!("{s} {}", r.by_severity.get(*s).copied().unwrap_or(0)))
        .collect();
    sev.push(format!("resolved {}", r.resolved_findings));
    out.push_str(&format!("open findings: {}\n\n", sev.join(", ")));
    let mut apis = Listing::new(&["API", "SCORE", "STATE", "REQUESTS", "OPEN FINDINGS"]);
    for a in &r.apis {
        apis.push(
            vec![
                a.api.clone(),
                a.score.to_string(),
                if a.state.is_empty() {
                    "-".into()
                } else {
                    a.state.clone()
                },
                a.requests.to_string(),
                a.open_findings.to_string(),
            ],
            Value::Null,
        );
    }
    out.push_str(&apis.render(Format::Table));
    if !r.top_findings.is_empty() {
        out.push('\n');
        out.push_str(&findings.render(Format::Table));
    }
    out
}

/// `findings list`.
pub async fn findings(svc: Authed, fmt: Format, cmd: &FindingsCmd) -> Result<String, CliError> {
    let FindingsCmd::List {
        api,
        kind,
        min_severity,
        status,
        limit,
    } = cmd;
    let req = pb::ListFindingsRequest {
        page: None,
        api: api.clone().unwrap_or_default(),
        kind: kind.clone().unwrap_or_default(),
        min_severity: min_severity.clone().unwrap_or_default(),
        status: status.clone(),
    };
    let mut c = pb::posture_client::PostureClient::new(svc);
    let limit = (*limit).max(1);
    let mut items = paged(limit, async |page| {
        let r = c
            .list_findings(pb::ListFindingsRequest {
                page: Some(page),
                ..req.clone()
            })
            .await?
            .into_inner();
        Ok((r.findings, r.page.unwrap_or_default().next_page_token))
    })
    .await?;
    items.truncate(limit);
    Ok(findings_listing(&items).render(fmt))
}
