//! `picket.v1.Posture`: the caller's tenant's posture report and findings (role reader).

use super::blocking;
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::posture::report::{FindingFilter, report, select};
use crate::posture::{FindingRecord, FindingStatus, Kind, Severity};
use crate::state::State;
use picket_proto::v1 as pb;
use picket_proto::v1::posture_server::Posture;
use picket_shared::Role;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Default and largest number of top findings in a report.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 100;

pub struct PostureService {
    state: Arc<State>,
}

impl PostureService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

fn finding_pb(r: FindingRecord) -> pb::Finding {
    let f = r.finding;
    pb::Finding {
        id: f.id,
        kind: f.kind.as_str().into(),
        severity: f.severity.as_str().into(),
        api: f.host.clone(),
        host: f.host,
        method: f.method,
        endpoint: f.endpoint,
        evidence: f.evidence.into_iter().collect(),
        details: f.details,
        remediation: f.kind.remediation().into(),
        status: r.status.as_str().into(),
        first_seen_ms: r.first_seen_ms,
        last_seen_ms: r.last_seen_ms,
        resolved_ms: r.resolved_ms,
    }
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

/// The request's filter; unknown names are `INVALID_ARGUMENT` naming the accepted ones.
fn filter_of(r: &pb::ListFindingsRequest) -> Result<FindingFilter, Error> {
    let kind = non_empty(&r.kind)
        .map(|k| {
            Kind::parse(k).ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(format!("kind {k:?} is not one of {}", names.join(", ")))
            })
        })
        .transpose()?;
    let min_severity = non_empty(&r.min_severity)
        .map(|s| {
            Severity::parse(s).ok_or_else(|| {
                Error::invalid(format!(
                    "min_severity {s:?} is not one of informational, low, medium, high"
                ))
            })
        })
        .transpose()?;
    let status = match r.status.as_str() {
        "" | "open" => Some(FindingStatus::Open),
        "resolved" => Some(FindingStatus::Resolved),
        "all" => None,
        s => {
            return Err(Error::invalid(format!(
                "status {s:?} is not one of open, resolved, all"
            )));
        }
    };
    Ok(FindingFilter {
        api: non_empty(&r.api).map(|a| a.to_ascii_lowercase()),
        kind,
        min_severity,
        status,
    })
}

#[tonic::async_trait]
impl Posture for PostureService {
    async fn get_posture(
        &self,
        req: Request<pb::GetPostureRequest>,
    ) -> Result<Response<pb::PostureReport>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let r = req.into_inner();
        let top = match r.top as usize {
            0 => DEFAULT_TOP,
            n => n.min(MAX_TOP),
        };
        let api = non_empty(&r.api).map(|a| a.to_ascii_lowercase());
        let (db, cap) = (
            self.state.db.clone(),
            self.state.posture.max_findings_per_tenant,
        );
        let rep = blocking(move || {
            let records = db.findings(&ctx.tenant, cap.saturating_mul(2))?;
            let snapshot = db.posture_snapshot(&ctx.tenant)?.unwrap_or_default();
            if let Some(a) = &api
                && !snapshot.apis.contains_key(a)
                && !records.iter().any(|r| r.finding.host == *a)
            {
                return Err(Error::NotFound(format!("no API {a:?} in the posture")));
            }
            Ok(report(records, &snapshot, api.as_deref(), top))
        })
        .await?;
        Ok(Response::new(pb::PostureReport {
            score: rep.score,
            apis: rep
                .apis
                .into_iter()
                .map(|a| pb::ApiPosture {
                    api: a.api,
                    score: a.score,
                    state: a.state,
                    requests: a.requests,
                    open_findings: a.open_findings,
                })
                .collect(),
            by_severity: rep
                .by_severity
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect(),
            by_kind: rep
                .by_kind
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect(),
            top_findings: rep.top.into_iter().map(finding_pb).collect(),
            evaluated_ms: rep.evaluated_ms,
            resolved_findings: rep.resolved,
        }))
    }

    async fn list_findings(
        &self,
        req: Request<pb::ListFindingsRequest>,
    ) -> Result<Response<pb::ListFindingsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let r = req.into_inner();
        let filter = filter_of(&r)?;
        let page = r.page.unwrap_or_default();
        let size = self.state.page_size(page.page_size);
        // The token is the offset into the ordered selection (a page boundary may shift when
        // an evaluation lands between two pages).
        let offset: usize = match page.page_token.as_str() {
            "" => 0,
            t => t
                .parse()
                .map_err(|_| Error::invalid("page_token is not a cursor this server issued"))?,
        };
        let (db, cap) = (
            self.state.db.clone(),
            self.state.posture.max_findings_per_tenant,
        );
        let selected = blocking(move || {
            Ok(select(
                db.findings(&ctx.tenant, cap.saturating_mul(2))?,
                &filter,
            ))
        })
        .await?;
        let total = selected.len();
        let items: Vec<pb::Finding> = selected
            .into_iter()
            .skip(offset)
            .take(size)
            .map(finding_pb)
            .collect();
        let end = offset.saturating_add(items.len());
        Ok(Response::new(pb::ListFindingsResponse {
            findings: items,
            page: Some(pb::PageResponse {
                next_page_token: if end < total {
                    end.to_string()
                } else {
                    String::new()
                },
            }),
        }))
    }
}
