//! What an import request may carry, checked once before the importer sees it: the API name,
//! the host, the files' names and sizes, and the tenant's quotas.

use crate::error::{Error, Result};
use crate::store::specs::{SpecBundle, SpecFileRecord, SpecMeta};
use picket_openapi::{ImportOptions, Limits};

/// Most specs one tenant holds.
pub const MAX_SPECS_PER_TENANT: usize = 64;
/// Largest bundle one import sends (all files), in bytes; under the server's default
/// `limits.max_message_bytes` (16 MiB).
pub const MAX_SPEC_BUNDLE_BYTES: usize = 8 << 20;
/// Largest sum of the bundles of one tenant's specs, in bytes: bounds the store and the
/// parsed models the controller keeps in memory per tenant.
pub const MAX_TENANT_SPEC_BYTES: u64 = 32 << 20;
/// Most files in one bundle.
pub const MAX_SPEC_FILES: usize = 256;
/// Longest API name, in bytes.
pub const MAX_API_NAME_BYTES: usize = 64;
/// Longest file name in a bundle, in bytes.
pub const MAX_SPEC_FILE_NAME_BYTES: usize = 512;

/// The importer's limits for a bundle: its own defaults, with the bundle caps above.
pub fn import_options(host: Option<&str>) -> ImportOptions {
    ImportOptions {
        limits: Limits {
            max_total_bytes: MAX_SPEC_BUNDLE_BYTES,
            max_file_bytes: MAX_SPEC_BUNDLE_BYTES,
            max_files: MAX_SPEC_FILES,
            ..Limits::default()
        },
        default_host: host.map(str::to_owned),
        root_dir: None,
    }
}

/// Checks an API name: 1 to [`MAX_API_NAME_BYTES`] of `[A-Za-z0-9._-]`.
pub fn check_api_name(api: &str) -> Result<()> {
    let ok = !api.is_empty()
        && api.len() <= MAX_API_NAME_BYTES
        && api
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "api name {api:?} must be 1 to {MAX_API_NAME_BYTES} letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Checks the host given for host-less servers (empty: none).
pub fn check_host(host: &str) -> Result<Option<String>> {
    if host.is_empty() {
        return Ok(None);
    }
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let ok = picket_shared::limits::valid_host(&h)
        && !h.contains(['/', ' ', '?', '#', '@'])
        && !h.starts_with("http");
    if !ok || h.contains("://") {
        return Err(Error::invalid(format!(
            "host {host:?} must be a host name with an optional port, like api.example.com"
        )));
    }
    Ok(Some(h))
}

/// Checks the files of a request: count, total size, names (relative, `/`-separated, no `..`,
/// unique) and UTF-8 content. Returns them as stored.
pub fn check_files(files: Vec<(String, Vec<u8>)>) -> Result<SpecBundle> {
    if files.is_empty() {
        return Err(Error::invalid("the spec has no files"));
    }
    if files.len() > MAX_SPEC_FILES {
        return Err(Error::invalid(format!(
            "the spec has {} files, the limit is {MAX_SPEC_FILES}",
            files.len()
        )));
    }
    let total: usize = files.iter().map(|(_, c)| c.len()).sum();
    if total > MAX_SPEC_BUNDLE_BYTES {
        return Err(Error::invalid(format!(
            "the spec's files hold {total} bytes, the limit is {MAX_SPEC_BUNDLE_BYTES}"
        )));
    }
    let mut out = Vec::with_capacity(files.len());
    for (name, content) in files {
        check_file_name(&name)?;
        if out.iter().any(|f: &SpecFileRecord| f.name == name) {
            return Err(Error::invalid(format!("file {name:?} is sent twice")));
        }
        let content = String::from_utf8(content)
            .map_err(|_| Error::invalid(format!("{name}: expected UTF-8 text")))?;
        out.push(SpecFileRecord { name, content });
    }
    Ok(SpecBundle { files: out })
}

fn check_file_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("file name {name:?}: {why}")));
    if name.is_empty() || name.len() > MAX_SPEC_FILE_NAME_BYTES {
        return bad(&format!("expected 1 to {MAX_SPEC_FILE_NAME_BYTES} bytes"));
    }
    if name.starts_with('/') || name.contains('\\') || name.contains(':') {
        return bad("expected a relative '/'-separated name");
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("expected no empty, '.' or '..' segments");
    }
    if name.chars().any(char::is_control) {
        return bad("expected no control characters");
    }
    Ok(())
}

/// Checks that storing `new` keeps the tenant within [`MAX_SPECS_PER_TENANT`] and
/// [`MAX_TENANT_SPEC_BYTES`] (a spec of the same API is replaced, so it does not count).
pub fn check_quota(existing: &[SpecMeta], new: &SpecMeta) -> Result<()> {
    let others = existing.iter().filter(|m| m.api != new.api);
    let (count, bytes) = others.fold((0usize, 0u64), |(n, b), m| (n + 1, b + m.bytes));
    if count >= MAX_SPECS_PER_TENANT {
        return Err(Error::ResourceExhausted(format!(
            "the tenant holds {count} specs, the limit is {MAX_SPECS_PER_TENANT}; delete one first"
        )));
    }
    if bytes + new.bytes > MAX_TENANT_SPEC_BYTES {
        return Err(Error::ResourceExhausted(format!(
            "the tenant's specs would hold {} bytes, the limit is {MAX_TENANT_SPEC_BYTES}",
            bytes + new.bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<(String, Vec<u8>)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), b"{}".to_vec()))
            .collect()
    }

    #[test]
    fn names_hosts_and_files_are_checked() {
        for ok in ["pets", "shop-v1.2", "A_b"] {
            assert!(check_api_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_api_name(bad).is_err(), "{bad}");
        }
        assert_eq!(check_host("").unwrap(), None);
        assert_eq!(
            check_host("API.Example.com:8443").unwrap().as_deref(),
            Some("api.example.com:8443")
        );
        for bad in ["http://x", "a/b", "a b"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        assert!(check_files(files(&["spec/a.yaml", "common/b.json"])).is_ok());
        for bad in ["../a.yaml", "/etc/passwd", "a//b", "./a", "c:\\x", "a\\b"] {
            let e = check_files(files(&[bad])).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}");
        }
        assert!(check_files(files(&["a", "a"])).is_err());
        assert!(check_files(vec![]).is_err());
        assert!(check_files(vec![("a".into(), vec![0xff, 0xfe])]).is_err());
        let big = vec![("a".into(), vec![b' '; MAX_SPEC_BUNDLE_BYTES + 1])];
        assert!(check_files(big).is_err());
    }

    #[test]
    fn quotas_count_other_apis_only() {
        let meta = |api: &str, bytes| SpecMeta {
            api: api.into(),
            bytes,
            ..Default::default()
        };
        let full: Vec<SpecMeta> = (0..MAX_SPECS_PER_TENANT)
            .map(|i| meta(&format!("api{i}"), 1))
            .collect();
        assert!(check_quota(&full, &meta("api3", 1)).is_ok(), "replacing");
        assert!(matches!(
            check_quota(&full, &meta("new", 1)),
            Err(Error::ResourceExhausted(_))
        ));
        let heavy = [meta("a", MAX_TENANT_SPEC_BYTES - 10)];
        assert!(check_quota(&heavy, &meta("b", 10)).is_ok());
        assert!(check_quota(&heavy, &meta("b", 11)).is_err());
        assert!(check_quota(&heavy, &meta("a", MAX_TENANT_SPEC_BYTES)).is_ok());
    }
}
