//! JSON pointers (RFC 6901) and `$ref` targets: which file (relative to the imported folder)
//! and which pointer inside it. A reference may never leave the imported folder nor name a
//! URL: the importer reads local files only.

use serde_json::Value;

use crate::error::{ImportError, Location};

/// Undoes [`crate::error::push_escaped`] for one token (`~1` before `~0`, as RFC 6901 says).
fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~").into()
    } else {
        token.into()
    }
}

/// The value at `pointer` inside `root`, or `None` when a step is missing.
pub fn get<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(root);
    }
    let rest = pointer.strip_prefix('/')?;
    let mut cur = root;
    for raw in rest.split('/') {
        let token = unescape(raw);
        cur = match cur {
            Value::Object(map) => map.get(&*token)?,
            Value::Array(items) => {
                let valid = !token.is_empty()
                    && token.bytes().all(|b| b.is_ascii_digit())
                    && (token == "0" || !token.starts_with('0'));
                if !valid {
                    return None;
                }
                items.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Decodes `%XX` escapes (URI fragments and paths may carry them); `None` when an escape is
/// malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A resolved reference: a file inside the imported folder and a pointer into it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// File relative to the imported folder, normalized (`spec/Pet.yaml`).
    pub file: String,
    /// JSON pointer inside that file (empty: the whole file).
    pub pointer: String,
}

impl Target {
    /// The target as a [`Location`].
    pub fn location(&self) -> Location {
        Location {
            file: self.file.clone(),
            pointer: self.pointer.clone(),
        }
    }
}

/// Whether `reference` starts with a URI scheme (`http:`, `file:`, `urn:`).
fn scheme_of(reference: &str) -> Option<&str> {
    let end = reference.find(':')?;
    let scheme = &reference[..end];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// Joins `rel` to the folder of `from_file`, resolving `.` and `..`; `None` when the result
/// would leave the imported folder.
fn join(from_file: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = from_file.split('/').collect();
    parts.pop(); // the file name itself; what is left is its folder
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    (!joined.is_empty()).then_some(joined)
}

/// Resolves `reference` written in `from_file` at `at` into a [`Target`].
pub fn target(reference: &str, from_file: &str, at: &Location) -> Result<Target, ImportError> {
    let escapes = || ImportError::RefEscapes {
        at: at.clone(),
        reference: reference.to_owned(),
    };
    if reference.starts_with("//") {
        return Err(ImportError::RefRemote {
            at: at.clone(),
            reference: reference.to_owned(),
        });
    }
    if let Some(scheme) = scheme_of(reference) {
        // `file:` and drive letters (`C:`) name local absolute paths: they leave the folder.
        if scheme.eq_ignore_ascii_case("file") || scheme.len() == 1 {
            return Err(escapes());
        }
        return Err(ImportError::RefRemote {
            at: at.clone(),
            reference: reference.to_owned(),
        });
    }
    let (file_part, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let bad = |why: &str| ImportError::invalid(at, format!("$ref '{reference}': {why}"));
    let fragment = percent_decode(fragment).ok_or_else(|| bad("malformed percent escape"))?;
    if !fragment.is_empty() && !fragment.starts_with('/') {
        return Err(bad("expected a json pointer after '#', found a plain name"));
    }
    let file = if file_part.is_empty() {
        from_file.to_owned()
    } else {
        let path = percent_decode(file_part)
            .ok_or_else(|| bad("malformed percent escape"))?
            .replace('\\', "/");
        if path.starts_with('/') || path.contains('\0') {
            return Err(escapes());
        }
        join(from_file, &path).ok_or_else(escapes)?
    };
    Ok(Target {
        file,
        pointer: fragment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::push_escaped;

    fn check(reference: &str, from: &str, want: Result<(&str, &str), &str>) {
        let at = Location::file(from);
        let got = target(reference, from, &at);
        match (got, want) {
            (Ok(t), Ok((file, pointer))) => {
                assert_eq!(
                    (t.file.as_str(), t.pointer.as_str()),
                    (file, pointer),
                    "{reference}"
                )
            }
            (Err(e), Err(kind)) => assert!(
                format!("{e:?}").starts_with(kind),
                "{reference}: expected {kind}, got {e:?}"
            ),
            (got, want) => panic!("{reference}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn targets() {
        check(
            "#/definitions/Pet",
            "a.yaml",
            Ok(("a.yaml", "/definitions/Pet")),
        );
        check("Pet.yaml", "spec/s.yaml", Ok(("spec/Pet.yaml", "")));
        check(
            "../common/E.yaml#/x",
            "spec/s.yaml",
            Ok(("common/E.yaml", "/x")),
        );
        check("./p.json#/a~1b", "s.json", Ok(("p.json", "/a~1b")));
        check(
            "#/paths/~1pets%7Bid%7D",
            "s.json",
            Ok(("s.json", "/paths/~1pets{id}")),
        );
        check("../x.yaml", "s.yaml", Err("RefEscapes"));
        check("a/../../x.yaml", "s.yaml", Err("RefEscapes"));
        check("/etc/passwd", "s.yaml", Err("RefEscapes"));
        check("file:///etc/passwd", "s.yaml", Err("RefEscapes"));
        check("C:\\x.yaml", "s.yaml", Err("RefEscapes"));
        check("http://example.com/x.yaml", "s.yaml", Err("RefRemote"));
        check("https://example.com/x.yaml#/a", "s.yaml", Err("RefRemote"));
        check("//example.com/x.yaml", "s.yaml", Err("RefRemote"));
        check("#Pet", "s.yaml", Err("Invalid"));
        check("#/a%zz", "s.yaml", Err("Invalid"));
    }

    #[test]
    fn pointers() {
        let doc = serde_json::json!({"a/b": {"c~d": [1, {"e": 2}]}, "": 3});
        let at = |p: &str| get(&doc, p).cloned();
        assert_eq!(at("/a~1b/c~0d/1/e"), Some(serde_json::json!(2)));
        assert_eq!(at("/"), Some(serde_json::json!(3)));
        assert_eq!(at("/a~1b/c~0d/01"), None);
        assert_eq!(at("/a~1b/c~0d/9"), None);
        assert_eq!(at("nope"), None);
        let mut s = String::new();
        push_escaped(&mut s, "/pets/{id}~x");
        assert_eq!(s, "~1pets~1{id}~0x");
    }
}
