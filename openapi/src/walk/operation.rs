//! Path items and operations: path-level parameters and servers are merged into each
//! operation; one faulty operation is reported and skipped.

use serde_json::{Map, Value};

use super::{Ctx, object, opt_bool, opt_str, params, security, servers, strings};
use crate::error::{Effect, ImportError, Location, Result};
use crate::model::{Operation, Param, ParamIn, Version};

/// The methods a path item may hold, in the order operations are listed.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// What a path item gives all its operations.
struct Shared {
    params: Vec<Param>,
    servers: Option<Vec<usize>>,
}

/// Every operation under `paths`, sorted by path then method.
pub(super) fn paths<'d>(
    cx: &mut Ctx<'d>,
    at: &Location,
    root: &'d Map<String, Value>,
) -> Result<Vec<Operation>> {
    let mut out = Vec::new();
    let Some(paths) = root.get("paths") else {
        return Ok(out);
    };
    let at = at.child("paths");
    let paths = object(&at, paths, "an object mapping paths to path items")?;
    for (path, item) in paths {
        if path.starts_with("x-") {
            continue;
        }
        path_item(cx, &at.child(path), path, item, &mut out)?;
    }
    out.sort_by(|a, b| {
        let rank = |m: &str| METHODS.iter().position(|x| x.eq_ignore_ascii_case(m));
        (&a.path, rank(&a.method)).cmp(&(&b.path, rank(&b.method)))
    });
    Ok(out)
}

/// Checks a path template: starts with `/`, every `{` closed by a `}` in the same segment.
fn check_template(at: &Location, path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(ImportError::invalid(
            at,
            format!("expected a path starting with '/', found '{path}'"),
        ));
    }
    for seg in path.split('/') {
        let (mut open, mut ok, mut name_chars) = (false, true, 0);
        for c in seg.chars() {
            match c {
                '{' if !open => (open, name_chars) = (true, 0),
                '}' if open => (open, ok) = (false, ok && name_chars > 0),
                '{' | '}' => ok = false,
                _ => name_chars += usize::from(open),
            }
        }
        if open || !ok {
            return Err(ImportError::invalid(
                at,
                format!("expected '{{name}}' parameters in the path template, found '{seg}'"),
            ));
        }
    }
    Ok(())
}

fn path_item<'d>(
    cx: &mut Ctx<'d>,
    at: &Location,
    path: &str,
    item: &'d Value,
    out: &mut Vec<Operation>,
) -> Result<()> {
    let skip = |cx: &mut Ctx<'_>, e| cx.problems.push(e, Effect::OperationSkipped);
    if let Err(e) = check_template(at, path) {
        skip(cx, e);
        return Ok(());
    }
    let (item_at, item) = match cx.res.deref(at, item) {
        Ok(found) => found,
        Err(e) => {
            skip(cx, e);
            return Ok(());
        }
    };
    let Some(map) = item.as_object() else {
        skip(
            cx,
            ImportError::wrong_type(&item_at, "a path item object", item),
        );
        return Ok(());
    };
    let params_at = item_at.child("parameters");
    let shared = match params::list(cx, &params_at, map.get("parameters")) {
        Ok(params) => Shared {
            params,
            servers: servers::list(cx, &item_at, map),
        },
        Err(e) => {
            skip(cx, e);
            return Ok(());
        }
    };
    if let Some(v) = map.get("parameters") {
        check_refs(cx, &params_at, v);
    }
    for method in METHODS {
        let Some(op) = map.get(method) else {
            continue;
        };
        let op_at = item_at.child(method);
        cx.count_operation(&op_at)?;
        match operation(cx, &op_at, method, path, op, &shared) {
            Ok(built) => {
                check_refs(cx, &op_at, op);
                out.push(built);
            }
            Err(e) => skip(cx, e),
        }
    }
    Ok(())
}

/// Reports the unresolvable `$ref`s reachable from `v` (the operation is kept).
fn check_refs<'d>(cx: &mut Ctx<'d>, at: &Location, v: &'d Value) {
    let mut found = Vec::new();
    cx.res.check_refs(at, v, &mut found);
    for e in found {
        cx.problems.push(e, Effect::PartIgnored);
    }
}

fn operation(
    cx: &mut Ctx<'_>,
    at: &Location,
    method: &str,
    path: &str,
    v: &Value,
    shared: &Shared,
) -> Result<Operation> {
    let op = object(at, v, "an operation object")?;
    let own = params::list(cx, &at.child("parameters"), op.get("parameters"))?;
    let mut parameters: Vec<Param> = shared
        .params
        .iter()
        .filter(|p| {
            !own.iter()
                .any(|o| o.name == p.name && o.location == p.location)
        })
        .cloned()
        .collect();
    parameters.extend(own);
    let (request_content_types, request_body_required) = match cx.version {
        Version::V2 => body_v2(cx, at, op, &parameters)?,
        Version::V3_0 | Version::V3_1 => body_v3(cx, at, op.get("requestBody"))?,
    };
    let security = match op.get("security") {
        Some(v) => security::requirements(cx, &at.child("security"), v)?,
        None => cx.root_security.clone(),
    };
    let servers = servers::list(cx, at, op)
        .or_else(|| shared.servers.clone())
        .unwrap_or_else(|| cx.root_servers.clone());
    Ok(Operation {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        operation_id: opt_str(at, op, "operationId")?.map(str::to_owned),
        deprecated: opt_bool(at, op, "deprecated")?,
        parameters,
        request_content_types,
        request_body_required,
        responses: responses(at, op)?,
        security,
        servers,
        location: at.clone(),
    })
}

/// Status keys of `responses` (`x-` extensions left out).
fn responses(at: &Location, op: &Map<String, Value>) -> Result<Vec<String>> {
    let Some(v) = op.get("responses") else {
        return Ok(Vec::new());
    };
    let map = object(
        &at.child("responses"),
        v,
        "an object mapping status codes to responses",
    )?;
    Ok(map
        .keys()
        .filter(|k| !k.starts_with("x-"))
        .cloned()
        .collect())
}

/// 2.0: content types of a body or form parameter (`consumes`, the operation's or the root's).
fn body_v2(
    cx: &Ctx<'_>,
    at: &Location,
    op: &Map<String, Value>,
    params: &[Param],
) -> Result<(Vec<String>, bool)> {
    let body = params.iter().find(|p| p.location == ParamIn::Body);
    let form = params.iter().any(|p| p.location == ParamIn::FormData);
    if body.is_none() && !form {
        return Ok((Vec::new(), false));
    }
    let consumes = match op.get("consumes") {
        Some(v) => strings(&at.child("consumes"), v)?,
        None => cx.root_consumes.clone(),
    };
    let types = if consumes.is_empty() && form {
        vec!["application/x-www-form-urlencoded".to_owned()]
    } else {
        consumes
    };
    Ok((types, body.is_some_and(|p| p.required)))
}

/// 3.x: media types of `requestBody` and whether it is required.
fn body_v3(cx: &Ctx<'_>, at: &Location, v: Option<&Value>) -> Result<(Vec<String>, bool)> {
    let Some(v) = v else {
        return Ok((Vec::new(), false));
    };
    let (body_at, body) = cx.res.deref(&at.child("requestBody"), v)?;
    let body = object(&body_at, body, "a request body object")?;
    let types = match body.get("content") {
        Some(c) => object(
            &body_at.child("content"),
            c,
            "an object mapping media types",
        )?
        .keys()
        .cloned()
        .collect(),
        None => Vec::new(),
    };
    Ok((types, opt_bool(&body_at, body, "required")?))
}

/// Operations under 3.1 `webhooks`, counted (they are not traffic endpoints).
pub(super) fn webhooks(
    cx: &mut Ctx<'_>,
    at: &Location,
    root: &Map<String, Value>,
) -> Result<usize> {
    let Some(v) = root.get("webhooks") else {
        return Ok(0);
    };
    let at = at.child("webhooks");
    let hooks = object(&at, v, "an object mapping names to path items")?;
    let mut count = 0;
    for (name, item) in hooks {
        let item_at = at.child(name);
        let map = cx
            .res
            .deref(&item_at, item)
            .and_then(|(a, v)| object(&a, v, "a path item object").map(|m| (a, m)));
        match map {
            Ok((found_at, map)) => {
                for method in METHODS.iter().filter(|m| map.contains_key(**m)) {
                    cx.count_operation(&found_at.child(method))?;
                    count += 1;
                }
            }
            Err(e) => cx.problems.push(e, Effect::PartIgnored),
        }
    }
    Ok(count)
}
