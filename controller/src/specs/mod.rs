//! Imported API specs as the controller uses them: parsed with `picket-openapi` from the files
//! kept in the store, one matcher per tenant for the inventory's classification, and the path
//! templates the tenant's sensors receive by directive. Domain logic only: the gRPC edge
//! (`grpc::specs`, `grpc::inventory`, `grpc::ingest`) converts to and from the wire.

pub mod bundle;
pub mod drift;
pub mod merge;
mod registry;
mod usage;

pub use registry::{Imported, SpecRegistry};
pub use usage::{OperationUse, Usage, usage};

use crate::store::specs::{SpecBundle, SpecMeta};
use picket_openapi::{Class, Match, Matcher, Spec, import_bundle, sensor_templates};
use picket_shared::EndpointKey;
use std::sync::Arc;

/// Most bytes of template hints (host and template, plus 8 bytes of framing each) in one
/// directive: well under the 4 MiB a sensor decodes by default.
pub const MAX_DIRECTIVE_TEMPLATE_BYTES: usize = 2 << 20;

/// The `(host, template)` hints a tenant's sensors receive.
pub type Templates = Arc<Vec<(String, String)>>;

/// One stored spec and what its files import into.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub meta: SpecMeta,
    /// The model, or why the stored files no longer import (an importer upgrade became
    /// stricter); such a spec documents nothing until imported again.
    pub parsed: Result<Arc<Spec>, String>,
}

impl LoadedSpec {
    /// Imports a stored spec's files.
    pub fn load(meta: SpecMeta, bundle: &SpecBundle) -> Self {
        let parsed = parse(&meta, bundle).map(Arc::new);
        Self { meta, parsed }
    }

    /// The sensor templates of this spec.
    pub fn templates(&self) -> Vec<(String, String)> {
        match &self.parsed {
            Ok(spec) => sensor_templates(spec, None),
            Err(_) => Vec::new(),
        }
    }
}

/// Imports `bundle` as `meta` describes it (root file, host for host-less servers).
pub fn parse(meta: &SpecMeta, bundle: &SpecBundle) -> Result<Spec, String> {
    let files: Vec<(&str, &[u8])> = bundle
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.content.as_bytes()))
        .collect();
    let opts = bundle::import_options(meta.host.as_deref());
    import_bundle(&meta.root, &files, &opts).map_err(|e| e.to_string())
}

/// How an observed endpoint relates to the tenant's specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecStatus {
    pub class: Class,
    /// The API of the matched operation (documented, zombie) or path (drift); empty for shadow.
    pub api: String,
    pub operation_id: String,
    /// The documented template that matched.
    pub template: String,
}

/// A tenant's specs, parsed and indexed; immutable (an import or delete builds a new one).
pub struct TenantSpecs {
    /// By API name.
    pub specs: Vec<LoadedSpec>,
    matcher: Matcher,
    /// Matcher spec index → index into `specs` (specs that failed to import are left out).
    matched: Vec<usize>,
    /// What the tenant's sensors receive.
    pub templates: Templates,
    /// Templates left out of the directive by [`MAX_DIRECTIVE_TEMPLATE_BYTES`].
    pub templates_dropped: usize,
}

impl TenantSpecs {
    /// Indexes `specs` (sorted by API name here).
    pub fn build(mut specs: Vec<LoadedSpec>) -> Self {
        specs.sort_by(|a, b| a.meta.api.cmp(&b.meta.api));
        let mut matched = Vec::new();
        let mut named = Vec::new();
        let mut all = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            if let Ok(spec) = &s.parsed {
                matched.push(i);
                named.push((s.meta.api.as_str(), spec.as_ref()));
                all.extend(s.templates());
            }
        }
        let matcher = Matcher::new(&named);
        all.sort();
        all.dedup();
        let (templates, templates_dropped) = cap_templates(all);
        Self {
            specs,
            matcher,
            matched,
            templates: Arc::new(templates),
            templates_dropped,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The spec of `api`, with its index.
    pub fn find(&self, api: &str) -> Option<(usize, &LoadedSpec)> {
        self.specs
            .binary_search_by(|s| s.meta.api.as_str().cmp(api))
            .ok()
            .map(|i| (i, &self.specs[i]))
    }

    /// How `key` relates to the specs; `None` when the tenant has none (nothing to judge by).
    pub fn classify(&self, key: &EndpointKey) -> Option<SpecStatus> {
        if self.is_empty() {
            return None;
        }
        let m = self.matcher.lookup(&key.host, &key.method, &key.template);
        let hit = match &m {
            Match::Operation(h) | Match::MethodNotDocumented(h) => Some(h),
            Match::NotDocumented => None,
        };
        Some(SpecStatus {
            class: m.class(),
            api: hit.map(|h| h.api.to_owned()).unwrap_or_default(),
            operation_id: hit
                .and_then(|h| h.operation_id)
                .unwrap_or_default()
                .to_owned(),
            template: hit.map(|h| h.template.to_owned()).unwrap_or_default(),
        })
    }

    /// The documented operation `key` is a call of: (index into `specs`, operation index).
    pub fn operation_of(&self, key: &EndpointKey) -> Option<(usize, usize)> {
        match self.matcher.lookup(&key.host, &key.method, &key.template) {
            Match::Operation(h) => Some((*self.matched.get(h.spec)?, h.operation)),
            _ => None,
        }
    }
}

/// Keeps the templates that fit [`MAX_DIRECTIVE_TEMPLATE_BYTES`]; returns them and how many
/// were left out.
fn cap_templates(all: Vec<(String, String)>) -> (Vec<(String, String)>, usize) {
    let mut bytes = 0;
    let total = all.len();
    let kept: Vec<_> = all
        .into_iter()
        .take_while(|(h, t)| {
            bytes += h.len() + t.len() + 8;
            bytes <= MAX_DIRECTIVE_TEMPLATE_BYTES
        })
        .collect();
    let dropped = total - kept.len();
    (kept, dropped)
}

#[cfg(test)]
mod tests;
