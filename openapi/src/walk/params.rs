//! Parameter objects: name, location, required, coarse schema.

use serde_json::Value;

use super::{Ctx, object, opt_bool, opt_str};
use crate::error::{ImportError, Location, Result};
use crate::model::{Kind, Param, ParamIn, Version};

/// A `parameters` list (absent: none). Within one list a later duplicate (same name and
/// location) replaces an earlier one.
pub(super) fn list(cx: &Ctx<'_>, at: &Location, v: Option<&Value>) -> Result<Vec<Param>> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let Some(items) = v.as_array() else {
        return Err(ImportError::wrong_type(at, "an array of parameters", v));
    };
    let mut out: Vec<Param> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = param(cx, &at.child(i), item)?;
        out.retain(|o| !(o.name == p.name && o.location == p.location));
        out.push(p);
    }
    Ok(out)
}

fn location(at: &Location, version: Version, found: &str) -> Result<ParamIn> {
    let v2 = version == Version::V2;
    Ok(match found {
        "path" => ParamIn::Path,
        "query" => ParamIn::Query,
        "header" => ParamIn::Header,
        "cookie" if !v2 => ParamIn::Cookie,
        "body" if v2 => ParamIn::Body,
        "formData" if v2 => ParamIn::FormData,
        other => {
            let expected = if v2 {
                "path, query, header, body or formData"
            } else {
                "path, query, header or cookie"
            };
            return Err(ImportError::invalid(
                &at.child("in"),
                format!("expected 'in' to be {expected}, found '{other}'"),
            ));
        }
    })
}

/// One parameter (or a `$ref` to one).
fn param(cx: &Ctx<'_>, at: &Location, v: &Value) -> Result<Param> {
    let (at, v) = cx.res.deref(at, v)?;
    let map = object(&at, v, "a parameter object")?;
    let missing =
        |key: &str| ImportError::invalid(&at, format!("expected a '{key}' string, found none"));
    let name = opt_str(&at, map, "name")?.ok_or_else(|| missing("name"))?;
    let found_in = opt_str(&at, map, "in")?.ok_or_else(|| missing("in"))?;
    let location = location(&at, cx.version, found_in)?;
    let kind = if let Some(schema) = map.get("schema") {
        cx.res.kind(&at.child("schema"), schema)
    } else if let Some(Value::Object(content)) = map.get("content") {
        // 3.x: a parameter described by one media type.
        content
            .iter()
            .find_map(|(media, m)| {
                m.get("schema").map(|s| {
                    cx.res
                        .kind(&at.child("content").child(media).child("schema"), s)
                })
            })
            .unwrap_or_default()
    } else if cx.version == Version::V2 {
        // 2.0 non-body parameters carry `type`/`format`/`items` themselves.
        cx.res.kind(&at, v)
    } else {
        Kind::default()
    };
    Ok(Param {
        name: name.to_owned(),
        location,
        required: location == ParamIn::Path || opt_bool(&at, map, "required")?,
        kind,
        deprecated: opt_bool(&at, map, "deprecated")?,
    })
}
