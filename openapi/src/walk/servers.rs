//! Where operations are served: 2.0 `host`/`basePath`/`schemes`, 3.x `servers` (root, path
//! item and operation level) with variables replaced by their defaults.

use serde_json::{Map, Value};

use super::{Ctx, object, opt_str, strings, text_of};
use crate::error::{Effect, ImportError, Location, Result};
use crate::model::{Server, Version, normalize_host};

/// The root-level servers, as indexes into the spec's list; never empty.
pub(super) fn root(cx: &mut Ctx<'_>, at: &Location, root: &Map<String, Value>) -> Vec<usize> {
    let found = match cx.version {
        Version::V2 => v2(cx, at, root),
        Version::V3_0 | Version::V3_1 => list(cx, at, root).unwrap_or_default(),
    };
    if !found.is_empty() {
        return found;
    }
    // 3.x: no servers means the server `/`; 2.0: no host means the host serving the document.
    let server = finish(cx, None, None, "");
    vec![cx.intern(server)]
}

/// A server with the default host applied and the host normalized.
fn finish(cx: &Ctx<'_>, scheme: Option<String>, host: Option<&str>, base: &str) -> Server {
    let host = host
        .filter(|h| !h.is_empty())
        .or(cx.opts.default_host.as_deref())
        .map(|h| normalize_host(h, scheme.as_deref()))
        .filter(|h| !h.is_empty());
    Server {
        scheme,
        host,
        base_path: crate::model::join_path(base, "")
            .trim_end_matches('/')
            .to_owned(),
    }
}

fn v2(cx: &mut Ctx<'_>, at: &Location, root: &Map<String, Value>) -> Vec<usize> {
    let fields = (|| -> Result<_> {
        let host = opt_str(at, root, "host")?.map(str::to_owned);
        let base = opt_str(at, root, "basePath")?.unwrap_or("").to_owned();
        let schemes = match root.get("schemes") {
            Some(v) => strings(&at.child("schemes"), v)?,
            None => Vec::new(),
        };
        Ok((host, base, schemes))
    })();
    let (host, base, schemes) = match fields {
        Ok(f) => f,
        Err(e) => {
            cx.problems.push(e, Effect::PartIgnored);
            return Vec::new();
        }
    };
    let schemes: Vec<Option<String>> = if schemes.is_empty() {
        vec![None]
    } else {
        schemes
            .iter()
            .map(|s| Some(s.to_ascii_lowercase()))
            .collect()
    };
    let mut out = Vec::new();
    for scheme in schemes {
        let server = finish(cx, scheme, host.as_deref(), &base);
        let i = cx.intern(server);
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The 3.x `servers` of `map` (root, path item or operation); `None` when absent or empty (the
/// enclosing level's servers apply). Faulty servers are reported and left out.
pub(super) fn list(
    cx: &mut Ctx<'_>,
    at: &Location,
    map: &Map<String, Value>,
) -> Option<Vec<usize>> {
    if cx.version == Version::V2 {
        return None;
    }
    let v = map.get("servers")?;
    let at = at.child("servers");
    let Some(items) = v.as_array() else {
        let e = ImportError::wrong_type(&at, "an array of server objects", v);
        cx.problems.push(e, Effect::PartIgnored);
        return None;
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match server(cx, &at.child(i), item) {
            Ok(s) => {
                let i = cx.intern(s);
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            Err(e) => cx.problems.push(e, Effect::PartIgnored),
        }
    }
    (!out.is_empty()).then_some(out)
}

fn server(cx: &Ctx<'_>, at: &Location, v: &Value) -> Result<Server> {
    let map = object(at, v, "a server object")?;
    let url = opt_str(at, map, "url")?
        .ok_or_else(|| ImportError::invalid(at, "expected a 'url' string, found none"))?;
    let url = substitute(at, url, map.get("variables"))?;
    let (scheme, host, path) = split_url(&url);
    Ok(finish(cx, scheme, host, path))
}

/// `url` with every `{name}` replaced by `variables.name.default`.
fn substitute(at: &Location, url: &str, variables: Option<&Value>) -> Result<String> {
    if !url.contains('{') {
        return Ok(url.to_owned());
    }
    let vars_at = at.child("variables");
    let vars = match variables {
        Some(v) => Some(object(
            &vars_at,
            v,
            "an object mapping names to server variables",
        )?),
        None => None,
    };
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(ImportError::invalid(
                at,
                format!("unclosed '{{' in server url '{url}'"),
            ));
        };
        let name = &rest[open + 1..open + close];
        let default = vars
            .and_then(|m| m.get(name))
            .and_then(|v| v.get("default"))
            .and_then(text_of)
            .ok_or_else(|| {
                ImportError::invalid(
                    &vars_at,
                    format!("expected a default for server variable '{name}', found none"),
                )
            })?;
        out.push_str(&default);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `https://user@api.example.com:8443/v1?x` → (`https`, `api.example.com:8443`, `/v1`);
/// a relative URL has no scheme and no host.
fn split_url(url: &str) -> (Option<String>, Option<&str>, &str) {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let (scheme, rest) = match url.split_once("://") {
        Some((s, rest))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (Some(s.to_ascii_lowercase()), Some(rest))
        }
        _ => (None, url.strip_prefix("//")),
    };
    let Some(rest) = rest else {
        return (None, None, url);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (scheme, Some(host), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, want: (Option<&str>, Option<&str>, &str)) {
        let (s, h, p) = split_url(url);
        assert_eq!((s.as_deref(), h, p), want, "{url}");
    }

    #[test]
    fn urls() {
        check(
            "https://api.example.com/v1",
            (Some("https"), Some("api.example.com"), "/v1"),
        );
        check(
            "HTTP://u:p@H.example.com:8080",
            (Some("http"), Some("H.example.com:8080"), ""),
        );
        check(
            "//cdn.example.com/x?y=1",
            (None, Some("cdn.example.com"), "/x"),
        );
        check("/v2", (None, None, "/v2"));
        check("v2/api", (None, None, "v2/api"));
        check("", (None, None, ""));
        assert_eq!(
            normalize_host("API.Example.com:443", Some("https")),
            "api.example.com"
        );
        assert_eq!(
            normalize_host("api.example.com:443", Some("http")),
            "api.example.com:443"
        );
        assert_eq!(normalize_host("Localhost.", None), "localhost");
    }

    #[test]
    fn variables() {
        let at = Location::file("s.yaml");
        let vars = serde_json::json!({"env": {"default": "prod"}, "port": {"default": 8443}});
        let got = substitute(&at, "https://{env}.example.com:{port}/v1", Some(&vars));
        assert_eq!(
            got.as_deref().ok(),
            Some("https://prod.example.com:8443/v1")
        );
        let e = substitute(&at, "https://{nope}.example.com", Some(&vars));
        assert!(e.is_err_and(|e| e.to_string().contains("server variable 'nope'")));
    }
}
