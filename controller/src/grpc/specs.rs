//! `picket.v1.Specs`: importing, listing, reading and deleting a tenant's API specs. Readers
//! list and read; operators import and delete. The importer's errors (file and JSON pointer)
//! become INVALID_ARGUMENT with the importer's message.

use super::blocking;
use crate::error::Error;
use crate::grpc::auth_layer::caller;
use crate::specs::bundle::{check_api_name, check_files, check_host, import_options};
use crate::specs::{LoadedSpec, TenantSpecs, usage};
use crate::state::State;
use crate::store::specs::SpecMeta;
use picket_openapi::{Class, Effect, Problem, Spec, Version};
use picket_proto::v1 as pb;
use picket_proto::v1::specs_server::Specs;
use picket_shared::Role;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct SpecsService {
    state: Arc<State>,
}

impl SpecsService {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Specs for SpecsService {
    async fn import_spec(
        &self,
        req: Request<pb::ImportSpecRequest>,
    ) -> Result<Response<pb::ImportSpecResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Operator)?;
        let r = req.into_inner();
        check_api_name(&r.api)?;
        let host = check_host(&r.host)?;
        let bundle = check_files(r.files.into_iter().map(|f| (f.name, f.content)).collect())?;
        let st = self.state.clone();
        let by = format!("token:{}", ctx.token_id);
        let (api, actor) = (r.api.clone(), ctx.clone());
        let (specs, index, replaced, merged) = blocking(move || {
            let files: Vec<(&str, &[u8])> = bundle
                .files
                .iter()
                .map(|f| (f.name.as_str(), f.content.as_bytes()))
                .collect();
            let opts = import_options(host.as_deref());
            let root = if r.root.is_empty() {
                picket_openapi::bundle_root("the bundle", &files, &opts.limits)
                    .map_err(|e| Error::invalid(e.to_string()))?
            } else {
                r.root
            };
            let spec = picket_openapi::import_bundle(&root, &files, &opts)
                .map_err(|e| Error::invalid(e.to_string()))?;
            let meta = SpecMeta {
                api: r.api,
                host,
                root,
                files: bundle.files.len() as u32,
                bytes: files.iter().map(|(_, c)| c.len() as u64).sum(),
                imported_ms: st.now_ms(),
                imported_by: by,
            };
            tracing::info!(tenant = %ctx.tenant, api = %meta.api, operations = spec.operations.len(), problems = spec.problems.len(), "spec imported");
            let done = st.specs.import(&st.db, &ctx.tenant, meta, &bundle, spec)?;
            let merged = crate::specs::merge::merge_learned(
                &st.db,
                &ctx.tenant,
                &done.specs,
                st.limits.max_scan_per_request,
            )?;
            st.db.flush()?;
            if merged.merged > 0 {
                tracing::info!(tenant = %ctx.tenant, merged = merged.merged, scanned = merged.scanned, "learned endpoints merged into spec templates");
            }
            Ok((done.specs, done.index, done.replaced, merged.merged))
        })
        .await?;
        self.state.posture_changed();
        let loaded = &specs.specs[index];
        let detail = format!("replaced={replaced}");
        super::audit::audited(&self.state, &actor, None, "spec.import", &api, detail).await;
        Ok(Response::new(pb::ImportSpecResponse {
            spec: Some(summary_pb(loaded)),
            problems: loaded
                .parsed
                .as_ref()
                .map(|s| problems_pb(s))
                .unwrap_or_default(),
            replaced,
            merged_endpoints: merged as u64,
        }))
    }

    async fn list_specs(
        &self,
        req: Request<pb::ListSpecsRequest>,
    ) -> Result<Response<pb::ListSpecsResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let st = self.state.clone();
        let specs = blocking(move || st.specs.tenant(&st.db, &ctx.tenant)).await?;
        Ok(Response::new(pb::ListSpecsResponse {
            specs: specs.specs.iter().map(summary_pb).collect(),
        }))
    }

    async fn get_spec(
        &self,
        req: Request<pb::GetSpecRequest>,
    ) -> Result<Response<pb::SpecDetail>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Reader)?;
        let api = req.into_inner().api;
        let st = self.state.clone();
        let max_scan = self.state.limits.max_scan_per_request;
        let (specs, index, used) = blocking(move || {
            let specs = st.specs.tenant(&st.db, &ctx.tenant)?;
            let (index, _) = specs
                .find(&api)
                .ok_or_else(|| Error::NotFound(format!("no spec for api {api:?}")))?;
            let used = usage(&st.db, &ctx.tenant, &specs, index, max_scan)?;
            Ok((specs, index, used))
        })
        .await?;
        Ok(Response::new(detail_pb(&specs, index, &used)))
    }

    async fn delete_spec(
        &self,
        req: Request<pb::DeleteSpecRequest>,
    ) -> Result<Response<pb::DeleteSpecResponse>, Status> {
        let ctx = caller(&req)?;
        ctx.require(Role::Operator)?;
        let api = req.into_inner().api;
        let st = self.state.clone();
        let (target, actor) = (api.clone(), ctx.clone());
        blocking(move || {
            if !st.specs.delete(&st.db, &ctx.tenant, &api)? {
                return Err(Error::NotFound(format!("no spec for api {api:?}")));
            }
            tracing::info!(tenant = %ctx.tenant, api = %api, "spec deleted");
            Ok(())
        })
        .await?;
        self.state.posture_changed();
        super::audit::audited(
            &self.state,
            &actor,
            None,
            "spec.delete",
            &target,
            String::new(),
        )
        .await;
        Ok(Response::new(pb::DeleteSpecResponse {}))
    }
}

/// The wire class of a match.
pub fn class_pb(c: Class) -> pb::SpecClass {
    match c {
        Class::Documented => pb::SpecClass::Documented,
        Class::Zombie => pb::SpecClass::Zombie,
        Class::Drift => pb::SpecClass::Drift,
        Class::Shadow => pb::SpecClass::Shadow,
    }
}

/// The spec status of an inventory endpoint (`None` when the tenant has no specs).
pub fn status_pb(
    specs: &TenantSpecs,
    key: &picket_shared::EndpointKey,
    summary: &picket_shared::EndpointSummary,
) -> Option<pb::SpecStatus> {
    let s = specs.classify(key)?;
    let drift = specs.judge(key, summary);
    Some(pb::SpecStatus {
        class: class_pb(s.class) as i32,
        api: s.api,
        operation_id: s.operation_id,
        template: s.template,
        undocumented_params: drift.undocumented_params,
        undocumented_statuses: drift
            .undocumented_statuses
            .into_iter()
            .map(u32::from)
            .collect(),
        undocumented_content_types: drift.undocumented_content_types,
    })
}

fn version_text(spec: &Spec) -> String {
    if spec.openapi_version_text.is_empty() {
        match spec.openapi_version {
            Version::V2 => "2.0",
            Version::V3_0 => "3.0",
            Version::V3_1 => "3.1",
        }
        .to_owned()
    } else {
        spec.openapi_version_text.clone()
    }
}

fn summary_pb(s: &LoadedSpec) -> pb::SpecSummary {
    let m = &s.meta;
    let mut out = pb::SpecSummary {
        api: m.api.clone(),
        host: m.host.clone().unwrap_or_default(),
        root: m.root.clone(),
        files: m.files,
        bytes: m.bytes,
        imported_ms: m.imported_ms,
        imported_by: m.imported_by.clone(),
        ..Default::default()
    };
    match &s.parsed {
        Ok(spec) => {
            out.title = spec.title.clone();
            out.version = spec.version.clone();
            out.openapi_version = version_text(spec);
            out.operations = spec.operations.len() as u32;
            out.deprecated_operations =
                spec.operations.iter().filter(|o| o.deprecated).count() as u32;
            out.problems = (spec.problems.len() + spec.problems_dropped) as u32;
            out.templates = s.templates().len() as u32;
        }
        Err(e) => out.error = e.clone(),
    }
    out
}

fn problems_pb(spec: &Spec) -> Vec<pb::SpecProblem> {
    spec.problems.iter().map(problem_pb).collect()
}

fn problem_pb(p: &Problem) -> pb::SpecProblem {
    // Every message starts with where it happened: `file#/pointer: what`.
    let message = p.error.to_string();
    let location = message
        .split_once(": ")
        .map(|(at, _)| at.to_owned())
        .unwrap_or_default();
    pb::SpecProblem {
        location,
        message,
        effect: match p.effect {
            Effect::OperationSkipped => "operation skipped",
            Effect::PartIgnored => "ignored",
        }
        .to_owned(),
    }
}

fn detail_pb(specs: &TenantSpecs, index: usize, used: &crate::specs::Usage) -> pb::SpecDetail {
    let loaded = &specs.specs[index];
    let mut out = pb::SpecDetail {
        spec: Some(summary_pb(loaded)),
        usage_complete: used.complete,
        ..Default::default()
    };
    let Ok(spec) = &loaded.parsed else {
        return out;
    };
    out.problems = problems_pb(spec);
    out.problems_dropped = spec.problems_dropped as u32;
    out.operations = spec
        .operations
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let seen = used.operations.get(i).copied().flatten();
            pb::SpecOperation {
                method: op.method.clone(),
                path: op.path.clone(),
                templates: spec
                    .templates_of(i)
                    .into_iter()
                    .map(|(h, t)| format!("{}{t}", h.unwrap_or("*")))
                    .collect(),
                operation_id: op.operation_id.clone().unwrap_or_default(),
                deprecated: op.deprecated,
                requires_auth: op.requires_auth(),
                params: op.parameters.len() as u32,
                seen: seen.is_some(),
                calls: seen.map_or(0, |u| u.calls),
                last_seen_ms: seen.map_or(0, |u| u.last_seen_ms),
            }
        })
        .collect();
    out
}
