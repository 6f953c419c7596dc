//! The one internal model every OpenAPI version is imported into.

use std::collections::BTreeMap;

use crate::error::{Location, Problem};

/// The OpenAPI version of an imported document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Swagger 2.0.
    V2,
    /// OpenAPI 3.0.x.
    V3_0,
    /// OpenAPI 3.1.x.
    V3_1,
}

/// An imported API description.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// `info.title` (empty when missing).
    pub title: String,
    /// `info.version` (empty when missing).
    pub version: String,
    /// The OpenAPI version of the root document.
    pub openapi_version: Version,
    /// The version as written (`2.0`, `3.0.3`, `3.1.0`).
    pub openapi_version_text: String,
    /// Every server of the document, root-level ones first, each once; operations refer to
    /// them by index ([`Operation::servers`]).
    pub servers: Vec<Server>,
    /// The operations (traffic endpoints), in document order.
    pub operations: Vec<Operation>,
    /// Operations under 3.1 `webhooks`: calls the API makes, not traffic endpoints.
    pub webhooks: usize,
    /// Security schemes by name (2.0 `securityDefinitions`, 3.x `components.securitySchemes`).
    pub security_schemes: BTreeMap<String, SecurityScheme>,
    /// `$ref`s that close a cycle (a schema that contains itself): normal in schemas, resolved
    /// by stopping there, listed for information.
    pub cycles: Vec<Location>,
    /// Faults that did not fail the import (at most `Limits::max_problems`).
    pub problems: Vec<Problem>,
    /// Problems beyond `Limits::max_problems`, counted only.
    pub problems_dropped: usize,
}

impl Spec {
    /// The full path templates of operation `index` (base path joined with the path), with
    /// the host of each server (`None`: any host), without duplicates.
    pub fn templates_of(&self, index: usize) -> Vec<(Option<&str>, String)> {
        let mut out: Vec<(Option<&str>, String)> = Vec::new();
        let Some(op) = self.operations.get(index) else {
            return out;
        };
        for &s in &op.servers {
            let Some(server) = self.servers.get(s) else {
                continue;
            };
            let item = (
                server.host.as_deref(),
                join_path(&server.base_path, &op.path),
            );
            if !out.contains(&item) {
                out.push(item);
            }
        }
        out
    }
}

/// `base` + `path` with exactly one `/` between them and none at the end (except the root).
pub fn join_path(base: &str, path: &str) -> String {
    let mut out = String::with_capacity(base.len() + path.len() + 1);
    for seg in base.split('/').chain(path.split('/')) {
        if !seg.is_empty() {
            out.push('/');
            out.push_str(seg);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Where an API is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `http`, `https`, `ws`, `wss`, or `None` when not stated.
    pub scheme: Option<String>,
    /// Host (lower case, with a port only when it is not the scheme's default); `None` for a
    /// relative server (any host, unless `ImportOptions::default_host` supplied one).
    pub host: Option<String>,
    /// Base path (`/api/v1`), or empty for the root; never ends with `/`.
    pub base_path: String,
}

/// One documented (method, path) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Upper-case method (`GET`).
    pub method: String,
    /// The path template as written under `paths` (`/pets/{petId}`), without the base path.
    pub path: String,
    /// `operationId`, when given.
    pub operation_id: Option<String>,
    /// `deprecated: true`.
    pub deprecated: bool,
    /// Parameters after merging the path item's into the operation's (the operation's win
    /// by name and location).
    pub parameters: Vec<Param>,
    /// Request content types (3.x `requestBody.content` keys; 2.0 `consumes` when the
    /// operation takes a body or form data).
    pub request_content_types: Vec<String>,
    /// Whether a request body is required.
    pub request_body_required: bool,
    /// Documented responses as written: `200`, `2XX`, `default`.
    pub responses: Vec<String>,
    /// Effective security: alternatives, each a set of scheme names that must all be
    /// present. Empty: no authentication. An empty alternative: authentication optional.
    pub security: Vec<Vec<String>>,
    /// Indexes into [`Spec::servers`] this operation is served on.
    pub servers: Vec<usize>,
    /// Where the operation is written.
    pub location: Location,
}

impl Operation {
    /// Whether a call must carry credentials: some requirement is stated and none of the
    /// alternatives is empty.
    pub fn requires_auth(&self) -> bool {
        !self.security.is_empty() && self.security.iter().all(|alt| !alt.is_empty())
    }

    /// Whether `status` is documented: exactly, by a range (`4XX`), or by `default`.
    pub fn documents_status(&self, status: u16) -> bool {
        let exact = status.to_string();
        self.responses.iter().any(|r| {
            r == &exact
                || r == "default"
                || (r.len() == 3
                    && r[1..].eq_ignore_ascii_case("xx")
                    && r.as_bytes()[0] == exact.as_bytes()[0])
        })
    }

    /// The parameter `name` in `location`.
    pub fn parameter(&self, name: &str, location: ParamIn) -> Option<&Param> {
        self.parameters
            .iter()
            .find(|p| p.name == name && p.location == location)
    }
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParamIn {
    /// A path template variable.
    Path,
    /// A query parameter.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
    /// 2.0 `in: body`: the request body.
    Body,
    /// 2.0 `in: formData`: a form field.
    FormData,
}

/// A documented parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Where it travels.
    pub location: ParamIn,
    /// Whether it is required (path parameters always are).
    pub required: bool,
    /// Its coarse schema.
    pub kind: Kind,
    /// `deprecated: true` (3.x).
    pub deprecated: bool,
}

/// JSON-schema type, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `number`.
    Number,
    /// `boolean`.
    Boolean,
    /// `array`.
    Array,
    /// `object`.
    Object,
    /// 2.0 `file` (form uploads).
    File,
}

/// The coarse shape of a parameter: type and format, no validation rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kind {
    /// The type, when stated or implied (`properties` → object, `items` → array).
    pub ty: Option<Type>,
    /// `format` (`int64`, `uuid`, `date-time`), when stated.
    pub format: Option<String>,
    /// Whether resolving the schema met a reference cycle before finding a type.
    pub cyclic: bool,
}

/// A security scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityScheme {
    /// An API key in a header, query parameter or cookie.
    ApiKey {
        /// The header, query or cookie name.
        name: String,
        /// Where it travels.
        location: ParamIn,
    },
    /// HTTP authentication (`basic`, `bearer`, … lower case).
    Http {
        /// The scheme name.
        scheme: String,
    },
    /// OAuth 2 (flows by name: `implicit`, `authorizationCode`, …; 2.0 `flow`).
    OAuth2 {
        /// The flow names.
        flows: Vec<String>,
    },
    /// OpenID Connect discovery.
    OpenIdConnect {
        /// The discovery URL (never fetched).
        url: String,
    },
    /// Mutual TLS (3.1).
    MutualTls,
    /// A type the importer does not know, as written.
    Other {
        /// The `type` value.
        kind: String,
    },
}

/// Lower case, no trailing dot, no port when it is the scheme's default (as the sensor
/// reports hosts).
pub(crate) fn normalize_host(host: &str, scheme: Option<&str>) -> String {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let default_port = match scheme {
        Some("http" | "ws") => Some("80"),
        Some("https" | "wss") => Some("443"),
        _ => None,
    };
    match host.rsplit_once(':') {
        Some((h, port)) if Some(port) == default_port && !h.ends_with(':') => h.to_owned(),
        _ => host,
    }
}
