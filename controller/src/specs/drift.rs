//! Drift beyond methods: what an observed endpoint does that its documented operation does not
//! declare — query parameters (and form fields of operations that take `formData`), response
//! status codes (honouring `default` and `2XX`-style ranges) and request content types (as
//! media-type labels, [`picket_shared::media`]).
//!
//! Not judged: path parameters (the sensor names them by position, the spec by template
//! variable; the matcher already checked the template), header and cookie parameters and JSON
//! body fields (summaries carry no header or cookie names, and the model keeps no body schema
//! property names).

use super::TenantSpecs;
use picket_openapi::{Class, Operation, ParamIn};
use picket_shared::{EndpointKey, EndpointSummary};

/// Most undocumented names or codes listed per endpoint (the counts stay exact).
pub const MAX_DRIFT_ITEMS: usize = 16;

/// How an observed endpoint stands against the tenant's specs, with its drift details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecJudgement {
    /// `None` when the tenant has no spec (nothing to judge by).
    pub class: Option<Class>,
    /// The matched operation states no security requirement (public on purpose).
    pub documented_public: bool,
    /// Observed parameters (`query:name`, `body:name`) the operation does not declare.
    pub undocumented_params: Vec<String>,
    pub undocumented_params_total: usize,
    /// Observed status codes the operation's responses do not cover.
    pub undocumented_statuses: Vec<u16>,
    pub undocumented_statuses_total: usize,
    /// Observed request media-type labels none of the operation's documented request content
    /// types map to.
    pub undocumented_content_types: Vec<String>,
    pub undocumented_content_types_total: usize,
}

impl SpecJudgement {
    /// Whether there is drift: an undocumented method, parameter, status code or request
    /// content type.
    pub fn drifts(&self) -> bool {
        self.class == Some(Class::Drift)
            || self.undocumented_params_total > 0
            || self.undocumented_statuses_total > 0
            || self.undocumented_content_types_total > 0
    }
}

/// Observed parameters `op` does not declare.
pub fn undocumented_params<'s>(op: &Operation, summary: &'s EndpointSummary) -> Vec<&'s str> {
    let takes_form = op
        .parameters
        .iter()
        .any(|p| p.location == ParamIn::FormData);
    summary
        .params
        .keys()
        .filter(|key| match key.split_once(':') {
            Some(("query", name)) => op.parameter(name, ParamIn::Query).is_none(),
            Some(("body", name)) if takes_form => op.parameter(name, ParamIn::FormData).is_none(),
            _ => false,
        })
        .map(String::as_str)
        .collect()
}

/// Observed status codes `op` does not document (none when it documents no responses at
/// all: nothing to compare with; 0, "no status logged", is never drift).
pub fn undocumented_statuses(op: &Operation, summary: &EndpointSummary) -> Vec<u16> {
    if op.responses.is_empty() {
        return Vec::new();
    }
    summary
        .statuses
        .keys()
        .copied()
        .filter(|s| *s != 0 && !op.documents_status(*s))
        .collect()
}

/// Observed request media-type labels `op` does not document (none when it documents no
/// request content types: nothing to compare with).
pub fn undocumented_content_types<'s>(
    op: &Operation,
    summary: &'s EndpointSummary,
) -> Vec<&'s str> {
    if op.request_content_types.is_empty() {
        return Vec::new();
    }
    summary
        .request_content_types
        .iter()
        .filter(|(label, n)| {
            **n > 0
                && !op
                    .request_content_types
                    .iter()
                    .any(|doc| picket_shared::media::covers(doc, label))
        })
        .map(|(label, _)| label.as_str())
        .collect()
}

impl TenantSpecs {
    /// Judges an observed endpoint against the specs: its class and, for a documented
    /// operation, the parameters, status codes and request content types it does not declare.
    pub fn judge(&self, key: &EndpointKey, summary: &EndpointSummary) -> SpecJudgement {
        let Some(status) = self.classify(key) else {
            return SpecJudgement::default();
        };
        let mut out = SpecJudgement {
            class: Some(status.class),
            ..Default::default()
        };
        let Some(op) = self.operation(key) else {
            return out;
        };
        out.documented_public = !op.requires_auth();
        let params = undocumented_params(op, summary);
        out.undocumented_params_total = params.len();
        out.undocumented_params = params
            .into_iter()
            .take(MAX_DRIFT_ITEMS)
            .map(str::to_owned)
            .collect();
        let statuses = undocumented_statuses(op, summary);
        out.undocumented_statuses_total = statuses.len();
        out.undocumented_statuses = statuses.into_iter().take(MAX_DRIFT_ITEMS).collect();
        let types = undocumented_content_types(op, summary);
        out.undocumented_content_types_total = types.len();
        out.undocumented_content_types = types
            .into_iter()
            .take(MAX_DRIFT_ITEMS)
            .map(str::to_owned)
            .collect();
        out
    }

    /// The documented operation `key` is a call of.
    fn operation(&self, key: &EndpointKey) -> Option<&Operation> {
        let (spec, op) = self.operation_of(key)?;
        self.specs
            .get(spec)?
            .parsed
            .as_ref()
            .ok()?
            .operations
            .get(op)
    }
}
