//! The path templates the sensor's templater takes from specifications: the
//! `(host, template)` pairs of `TemplateHint` in the `Directive` (`proto/picket/v1/ingest.proto`)
//! and of `TemplateLearner::set_known` in `picket-shared`.

use picket_shared::limits::{valid_host, valid_template};

use crate::model::{Spec, normalize_host};

/// The `(host, template)` hints for `spec`, sorted and without duplicates.
///
/// `host`: `None` keeps each server's host, and the empty host ("every host", as the sensor
/// reads it) for host-less servers; `Some(h)` puts every template on `h` (where the operator
/// says the API is served). Templates join the base path and the path (`/api/pets/{id}`);
/// those the wire would refuse (longer than `MAX_TEMPLATE_BYTES`, control characters) are left
/// out. Webhooks are not traffic endpoints and give no templates.
pub fn sensor_templates(spec: &Spec, host: Option<&str>) -> Vec<(String, String)> {
    let forced = host.map(|h| normalize_host(h, None));
    let mut out = Vec::new();
    for i in 0..spec.operations.len() {
        for (server_host, template) in spec.templates_of(i) {
            let host = forced
                .clone()
                .unwrap_or_else(|| server_host.unwrap_or("").to_owned());
            if valid_template(&template) && (host.is_empty() || valid_host(&host)) {
                out.push((host, template));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}
