//! `picketctl audit list`: administrative and operator actions, newest first.

use crate::alerts::filter::{now_ms, parse_past};
use crate::client::{Authed, paged};
use crate::output::{Format, Listing, when};
use crate::{AuditCmd, CliError};
use picket_proto::v1 as pb;
use serde_json::json as j;

fn entry_object(e: &pb::AuditEntry) -> serde_json::Value {
    j!({"time": when(e.time_ms), "time_ms": e.time_ms, "tenant": e.tenant,
        "actor_token_id": e.actor_token_id, "action": e.action, "target": e.target,
        "detail": e.detail})
}

pub async fn run(svc: Authed, fmt: Format, cmd: &AuditCmd) -> Result<String, CliError> {
    let AuditCmd::List {
        tenant,
        all_tenants,
        since,
        until,
        action,
        limit,
    } = cmd;
    let now = now_ms();
    let since_ms = since
        .as_deref()
        .map(|s| parse_past("--since", s, now))
        .transpose()?;
    let until_ms = until
        .as_deref()
        .map(|s| parse_past("--until", s, now))
        .transpose()?;
    let base = pb::ListAuditRequest {
        tenant: tenant.clone().unwrap_or_default(),
        all_tenants: *all_tenants,
        since_ms: since_ms.unwrap_or(0),
        until_ms: until_ms.unwrap_or(0),
        action: action.clone().unwrap_or_default(),
        page: None,
    };
    let client = pb::admin_client::AdminClient::new(svc);
    let limit = if *limit == 0 { usize::MAX } else { *limit };
    let entries = paged(limit, async |page| {
        let r = client
            .clone()
            .list_audit(pb::ListAuditRequest {
                page: Some(page),
                ..base.clone()
            })
            .await?
            .into_inner();
        Ok((r.entries, r.page.unwrap_or_default().next_page_token))
    })
    .await?;
    let mut l = Listing::new(&["TIME", "TENANT", "ACTOR", "ACTION", "TARGET", "DETAIL"]);
    for e in &entries {
        l.push(
            vec![
                when(e.time_ms),
                e.tenant.clone(),
                e.actor_token_id.clone(),
                e.action.clone(),
                e.target.clone(),
                e.detail.clone(),
            ],
            entry_object(e),
        );
    }
    Ok(l.render(fmt))
}
