//! Executes `picketctl` commands against a controller and renders their results.

use crate::client::{Authed, ClientTls, connect_tls, paged};
use crate::output::{Format, Listing, json, when};
use crate::{ApisCmd, Cli, CliError, Command, EndpointsCmd, EventsCmd, SensorsCmd, TenantsCmd};
use picket_proto::v1 as pb;
use serde_json::json as j;
use std::time::Duration;

async fn connect(cli: &Cli) -> Result<Authed, CliError> {
    let token = cli.resolve_token()?;
    let tls = ClientTls {
        ca: cli.tls_ca.clone(),
        cert: cli.tls_cert.clone(),
        key: cli.tls_key.clone(),
    };
    connect_tls(
        &cli.controller,
        Some(&token),
        Duration::from_secs(cli.timeout_secs),
        &tls,
    )
    .await
}

/// Runs the command and returns what to print.
pub async fn execute(cli: &Cli) -> Result<String, CliError> {
    let svc = connect(cli).await?;
    let fmt = cli.output;
    match &cli.command {
        Command::Apis(ApisCmd::List) => list_apis(svc, fmt).await,
        Command::Apis(cmd) => crate::posture::apis(svc, fmt, cmd).await,
        Command::Endpoints(EndpointsCmd::List {
            host,
            method,
            path_prefix,
            limit,
        }) => {
            let req = pb::ListEndpointsRequest {
                host: host.clone().unwrap_or_default(),
                method: method.clone().unwrap_or_default(),
                path_prefix: path_prefix.clone().unwrap_or_default(),
                ..Default::default()
            };
            list_endpoints(svc, fmt, req, *limit).await
        }
        Command::Endpoints(EndpointsCmd::Get { host, method, path }) => {
            let mut c = pb::inventory_client::InventoryClient::new(svc);
            let e = c
                .get_endpoint(pb::GetEndpointRequest {
                    host: host.clone(),
                    method: method.clone(),
                    path: path.clone(),
                })
                .await?
                .into_inner();
            let mut l = endpoint_listing();
            push_endpoint(&mut l, &e);
            Ok(match fmt {
                Format::Json => json(&l.objects[0]),
                Format::Table => l.render(fmt),
            })
        }
        Command::Sensors(SensorsCmd::List) => list_sensors(svc, fmt).await,
        Command::Sensors(SensorsCmd::Delete { id }) => {
            let r = pb::fleet_client::FleetClient::new(svc)
                .delete_sensor(pb::DeleteSensorRequest {
                    sensor_id: id.clone(),
                })
                .await?
                .into_inner();
            Ok(match fmt {
                Format::Json => json(&j!({"deleted": id, "sensors": r.sensors})),
                Format::Table => format!("deleted sensor {id} ({} sensors left)\n", r.sensors),
            })
        }
        Command::Events(EventsCmd::List {
            since,
            host,
            kind,
            limit,
        }) => {
            let since_ms = match since.as_deref() {
                None => 0,
                Some(s) => s
                    .parse::<i64>()
                    .ok()
                    .or_else(|| picket_shared::time::parse_rfc3339_ms(s))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "--since {s:?} is neither RFC 3339 nor Unix milliseconds"
                        ))
                    })?,
            };
            let req = pb::ListNotablesRequest {
                since_ms,
                host: host.clone().unwrap_or_default(),
                kind: kind.clone().unwrap_or_default(),
                page: None,
            };
            list_notables(svc, fmt, req, *limit).await
        }
        Command::Tenants(cmd) => tenants(svc, fmt, cmd).await,
        Command::Tokens(cmd) => crate::tokens::run(svc, fmt, cmd).await,
        Command::Usage(cmd) => crate::billing::usage(svc, fmt, cmd).await,
        Command::Plans(cmd) => crate::billing::plans(svc, fmt, cmd).await,
        Command::Alerts(cmd) => crate::alerts::alerts(svc, fmt, cmd, &mut std::io::stdout()).await,
        Command::Suppressions(cmd) => crate::alerts::suppressions(svc, fmt, cmd).await,
        Command::Specs(cmd) => crate::specs::specs(svc, fmt, cmd).await,
        Command::Audit(cmd) => crate::audit::run(svc, fmt, cmd).await,
        Command::Incidents(cmd) => crate::incidents::incidents(svc, fmt, cmd).await,
        Command::Posture(cmd) => crate::posture::posture(svc, fmt, cmd).await,
        Command::Findings(cmd) => crate::posture::findings(svc, fmt, cmd).await,
        Command::Webhooks(cmd) => crate::webhooks::webhooks(svc, fmt, cmd).await,
    }
}

async fn list_apis(svc: Authed, fmt: Format) -> Result<String, CliError> {
    let mut c = pb::inventory_client::InventoryClient::new(svc);
    let mut l = Listing::new(&[
        "HOST",
        "STATE",
        "ENDPOINTS",
        "CALLS",
        "METHODS",
        "FIRST SEEN",
        "LAST SEEN",
        "SENSORS",
    ]);
    let mut token = String::new();
    loop {
        let page = pb::PageRequest {
            page_size: 1000,
            page_token: token.clone(),
        };
        let r = c
            .list_apis(pb::ListApisRequest { page: Some(page) })
            .await?
            .into_inner();
        for a in r.apis {
            l.push(
                vec![
                    a.host.clone(),
                    if a.state.is_empty() { "-".into() } else { a.state.clone() },
                    a.endpoints.to_string(),
                    a.calls.to_string(),
                    a.methods.join(","),
                    when(a.first_seen_ms),
                    when(a.last_seen_ms),
                    a.sensors.join(","),
                ],
                j!({"host": a.host, "state": a.state, "state_changed": when(a.state_changed_ms), "endpoints": a.endpoints, "calls": a.calls, "methods": a.methods,
                    "first_seen": when(a.first_seen_ms), "last_seen": when(a.last_seen_ms), "sensors": a.sensors}),
            );
        }
        token = r.page.unwrap_or_default().next_page_token;
        if token.is_empty() {
            return Ok(l.render(fmt));
        }
    }
}

fn endpoint_listing() -> Listing {
    Listing::new(&[
        "HOST",
        "METHOD",
        "PATH",
        "CALLS",
        "STATUS",
        "P95 MS",
        "FIRST SEEN",
        "LAST SEEN",
        "SENSORS",
        "SPEC",
    ])
}

/// The spec status of an endpoint: `documented`, `zombie`, `drift`, `shadow`, or `-` when
/// the tenant has no specs.
pub fn spec_class(e: &pb::Endpoint) -> &'static str {
    match e.spec_status.as_ref().map(|s| s.class()) {
        None | Some(pb::SpecClass::Unspecified) => "-",
        Some(pb::SpecClass::Documented) => "documented",
        Some(pb::SpecClass::Shadow) => "shadow",
        Some(pb::SpecClass::Zombie) => "zombie",
        Some(pb::SpecClass::Drift) => "drift",
    }
}

fn push_endpoint(l: &mut Listing, e: &pb::Endpoint) {
    let statuses: Vec<String> = e
        .statuses
        .iter()
        .map(|s| format!("{}:{}", s.status, s.count))
        .collect();
    let status_obj: serde_json::Map<String, serde_json::Value> = e
        .statuses
        .iter()
        .map(|s| (s.status.to_string(), j!(s.count)))
        .collect();
    let avg_latency_ms = if e.calls > 0 {
        e.latency_us_sum as f64 / e.calls as f64 / 1000.0
    } else {
        0.0
    };
    l.push(
        vec![
            e.host.clone(),
            e.method.clone(),
            e.path.clone(),
            e.calls.to_string(),
            statuses.join(" "),
            format!("{:.1}", e.latency_p95_us as f64 / 1000.0),
            when(e.first_seen_ms),
            when(e.last_seen_ms),
            e.sensors.join(","),
            match e.spec_status.as_ref() {
                Some(s) if !s.api.is_empty() => format!("{} ({})", spec_class(e), s.api),
                _ => spec_class(e).to_owned(),
            },
        ],
        j!({"host": e.host, "method": e.method, "path": e.path, "calls": e.calls,
            "spec_status": e.spec_status.as_ref().map(|s| j!({"class": spec_class(e), "api": s.api,
                "operation_id": s.operation_id, "template": s.template,
                "undocumented_params": s.undocumented_params,
                "undocumented_statuses": s.undocumented_statuses,
                "undocumented_content_types": s.undocumented_content_types})),
            "first_seen": when(e.first_seen_ms), "last_seen": when(e.last_seen_ms),
            "first_seen_ms": e.first_seen_ms, "last_seen_ms": e.last_seen_ms,
            "statuses": status_obj, "sensors": e.sensors,
            "auth_present": e.auth_present, "auth_schemes": e.auth_schemes, "sensitive": e.sensitive, "suspicious_agents": e.suspicious_agents, "injections": e.injections, "request_content_types": e.request_content_types,
            "params": e.params.iter().map(|p| j!({"location": p.location, "name": p.name, "count": p.count, "shapes": p.shapes})).collect::<Vec<_>>(), "public_client_requests": e.public_client_requests,
            "avg_latency_ms": avg_latency_ms, "max_latency_ms": e.latency_us_max as f64 / 1000.0,
            "p50_latency_ms": e.latency_p50_us as f64 / 1000.0, "p95_latency_ms": e.latency_p95_us as f64 / 1000.0,
            "p99_latency_ms": e.latency_p99_us as f64 / 1000.0, "p95_response_bytes": e.response_bytes_p95,
            "response_bytes": e.response_bytes_sum, "request_bytes": e.request_bytes_sum}),
    );
}

async fn list_endpoints(
    svc: Authed,
    fmt: Format,
    req: pb::ListEndpointsRequest,
    limit: usize,
) -> Result<String, CliError> {
    let mut c = pb::inventory_client::InventoryClient::new(svc);
    let endpoints = paged(limit, async |page| {
        let r = c
            .list_endpoints(pb::ListEndpointsRequest {
                page: Some(page),
                ..req.clone()
            })
            .await?
            .into_inner();
        Ok((r.endpoints, r.page.unwrap_or_default().next_page_token))
    })
    .await?;
    let mut l = endpoint_listing();
    for e in &endpoints {
        push_endpoint(&mut l, e);
    }
    Ok(l.render(fmt))
}

async fn list_notables(
    svc: Authed,
    fmt: Format,
    req: pb::ListNotablesRequest,
    limit: usize,
) -> Result<String, CliError> {
    let mut c = pb::inventory_client::InventoryClient::new(svc);
    let notables = paged(limit, async |page| {
        let r = c
            .list_notables(pb::ListNotablesRequest {
                page: Some(page),
                ..req.clone()
            })
            .await?
            .into_inner();
        Ok((r.notables, r.page.unwrap_or_default().next_page_token))
    })
    .await?;
    let mut l = Listing::new(&[
        "TIME", "KINDS", "HOST", "METHOD", "TEMPLATE", "STATUS", "CLIENT", "LABELS", "SENSOR",
    ]);
    for n in notables {
        let e = n.event.unwrap_or_default();
        l.push(
            vec![
                when(e.ts_ms),
                e.kinds.join(","),
                e.host.clone(),
                e.method.clone(),
                e.template.clone(),
                e.status.to_string(),
                e.client_ip.clone(),
                e.labels.join(","),
                n.sensor_id.clone(),
            ],
            j!({"time": when(e.ts_ms), "ts_ms": e.ts_ms, "kinds": e.kinds, "host": e.host,
                "method": e.method, "template": e.template, "status": e.status,
                "client_ip": e.client_ip, "principal": e.principal, "labels": e.labels,
                "sensor_id": n.sensor_id}),
        );
    }
    Ok(l.render(fmt))
}

async fn list_sensors(svc: Authed, fmt: Format) -> Result<String, CliError> {
    let mut c = pb::fleet_client::FleetClient::new(svc);
    let mut l = Listing::new(&[
        "SENSOR",
        "VERSION",
        "CONNECTED",
        "LAST SEEN",
        "RECEIVED",
        "PARSED",
        "REJECTED",
        "SPOOLED",
        "ACKED",
        "DROPPED",
        "SET ASIDE",
        "COMMITTED",
        "BAD FIELDS",
        "SOURCES",
    ]);
    let mut token = String::new();
    loop {
        let page = pb::PageRequest {
            page_size: 1000,
            page_token: token.clone(),
        };
        let r = c
            .list_sensors(pb::ListSensorsRequest { page: Some(page) })
            .await?
            .into_inner();
        for s in r.sensors {
            let c = s.counters.clone().unwrap_or_default();
            l.push(
                vec![
                    s.sensor_id.clone(),
                    s.version.clone(),
                    if s.connected { "yes" } else { "no" }.into(),
                    when(s.last_seen_ms),
                    c.received.to_string(),
                    c.parsed.to_string(),
                    c.rejected.to_string(),
                    c.batches_spooled.to_string(),
                    c.batches_acked.to_string(),
                    c.requests_dropped.to_string(),
                    c.requests_rejected.to_string(),
                    s.requests_committed.to_string(),
                    s.fields_dropped.to_string(),
                    s.sources.join(","),
                ],
                j!({"sensor_id": s.sensor_id, "version": s.version, "connected": s.connected,
                    "hostname": s.hostname, "sources": s.sources,
                    "first_seen": when(s.first_seen_ms), "last_seen": when(s.last_seen_ms),
                    "stream_epoch": s.stream_epoch, "committed_seq": s.committed_seq,
                    "requests_committed": s.requests_committed, "fields_dropped": s.fields_dropped,
                    "counters": {"received": c.received, "parsed": c.parsed, "rejected": c.rejected,
                        "batches_sent": c.batches_sent, "batches_acked": c.batches_acked,
                        "batches_dropped": c.batches_dropped, "requests_dropped": c.requests_dropped,
                        "batches_rejected": c.batches_rejected, "requests_rejected": c.requests_rejected,
                        "batches_spooled": c.batches_spooled, "spool_bytes": c.spool_bytes,
                        "analysis_paused": c.analysis_paused,
                        "rejected_by_reason": c.rejected_by_reason,
                        "sources": c.sources.iter().map(|s| j!({"source": s.source, "received": s.received, "parsed": s.parsed, "rejected": s.rejected})).collect::<Vec<_>>()}}),
            );
        }
        token = r.page.unwrap_or_default().next_page_token;
        if token.is_empty() {
            return Ok(l.render(fmt));
        }
    }
}

async fn tenants(svc: Authed, fmt: Format, cmd: &TenantsCmd) -> Result<String, CliError> {
    let mut c = pb::admin_client::AdminClient::new(svc);
    let tenants = match cmd {
        TenantsCmd::Create { name } => vec![
            c.create_tenant(pb::CreateTenantRequest { name: name.clone() })
                .await?
                .into_inner(),
        ],
        TenantsCmd::List => {
            c.list_tenants(pb::ListTenantsRequest {})
                .await?
                .into_inner()
                .tenants
        }
    };
    let mut l = Listing::new(&["TENANT", "CREATED"]);
    for t in tenants {
        l.push(
            vec![t.name.clone(), when(t.created_ms)],
            j!({"name": t.name, "created": when(t.created_ms)}),
        );
    }
    Ok(match (cmd, fmt) {
        (TenantsCmd::Create { .. }, Format::Json) => json(&l.objects[0]),
        _ => l.render(fmt),
    })
}
