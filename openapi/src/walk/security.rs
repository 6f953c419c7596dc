//! Security schemes and requirements.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Ctx, object, opt_str};
use crate::error::{Effect, ImportError, Location, Result};
use crate::model::{ParamIn, SecurityScheme, Version};

/// The document's security schemes; a faulty scheme is reported and left out.
pub(super) fn schemes(
    cx: &mut Ctx<'_>,
    at: &Location,
    root: &Map<String, Value>,
) -> BTreeMap<String, SecurityScheme> {
    let mut out = BTreeMap::new();
    let (at, found) = match cx.version {
        Version::V2 => (
            at.child("securityDefinitions"),
            root.get("securityDefinitions"),
        ),
        Version::V3_0 | Version::V3_1 => {
            let c = at.child("components");
            let found = root
                .get("components")
                .and_then(|c| c.get("securitySchemes"));
            (c.child("securitySchemes"), found)
        }
    };
    let Some(found) = found else {
        return out;
    };
    let map = match object(&at, found, "an object mapping names to security schemes") {
        Ok(m) => m,
        Err(e) => {
            cx.problems.push(e, Effect::PartIgnored);
            return out;
        }
    };
    for (name, v) in map {
        match scheme(cx, &at.child(name), v) {
            Ok(s) => {
                out.insert(name.clone(), s);
            }
            Err(e) => cx.problems.push(e, Effect::PartIgnored),
        }
    }
    out
}

fn scheme(cx: &Ctx<'_>, at: &Location, v: &Value) -> Result<SecurityScheme> {
    let (at, v) = cx.res.deref(at, v)?;
    let map = object(&at, v, "a security scheme object")?;
    let kind = opt_str(&at, map, "type")?
        .ok_or_else(|| ImportError::invalid(&at, "expected a 'type' string, found none"))?;
    let text = |key: &str| -> Result<String> {
        Ok(opt_str(&at, map, key)?.unwrap_or_default().to_owned())
    };
    Ok(match kind {
        "apiKey" => {
            let location = match opt_str(&at, map, "in")? {
                Some("query") => ParamIn::Query,
                Some("cookie") => ParamIn::Cookie,
                Some("header") => ParamIn::Header,
                other => {
                    let found = other.unwrap_or("nothing");
                    return Err(ImportError::invalid(
                        &at.child("in"),
                        format!("expected 'in' to be header, query or cookie, found '{found}'"),
                    ));
                }
            };
            SecurityScheme::ApiKey {
                name: text("name")?,
                location,
            }
        }
        "basic" => SecurityScheme::Http {
            scheme: "basic".to_owned(),
        },
        "http" => SecurityScheme::Http {
            scheme: text("scheme")?.to_ascii_lowercase(),
        },
        "oauth2" => {
            let flows = match (map.get("flows"), opt_str(&at, map, "flow")?) {
                (Some(Value::Object(f)), _) => f.keys().cloned().collect(),
                (_, Some(flow)) => vec![flow.to_owned()],
                _ => Vec::new(),
            };
            SecurityScheme::OAuth2 { flows }
        }
        "openIdConnect" => SecurityScheme::OpenIdConnect {
            url: text("openIdConnectUrl")?,
        },
        "mutualTLS" => SecurityScheme::MutualTls,
        other => SecurityScheme::Other {
            kind: other.to_owned(),
        },
    })
}

/// A `security` list: alternatives of scheme-name sets. Names of undefined schemes are
/// reported (and kept: the operation still asks for credentials).
pub(super) fn requirements(cx: &mut Ctx<'_>, at: &Location, v: &Value) -> Result<Vec<Vec<String>>> {
    let Some(items) = v.as_array() else {
        return Err(ImportError::wrong_type(
            at,
            "an array of security requirements",
            v,
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let req_at = at.child(i);
        let map = object(&req_at, item, "a security requirement object")?;
        for name in map.keys().filter(|n| !cx.schemes.contains_key(*n)) {
            let e = ImportError::invalid(
                &req_at.child(name),
                format!("expected a defined security scheme, found '{name}'"),
            );
            cx.problems.push(e, Effect::PartIgnored);
        }
        out.push(map.keys().cloned().collect());
    }
    Ok(out)
}
