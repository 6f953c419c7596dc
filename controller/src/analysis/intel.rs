//! Threat-intelligence files: read at start (a missing or unreadable file stops the start; a
//! bad line is skipped and logged with its file), and reloaded by the maintenance loop when a
//! file's modification time or length changes. A failed reload keeps the lists in force.
//! Parsing is `picket_detect::intel::Intel::parse`; this module only reads files.

use picket_detect::intel::Intel;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Largest threat-intelligence file read, in bytes.
pub const MAX_INTEL_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A file that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("threat-intelligence file {path}: {detail}")]
pub struct IntelError {
    pub path: PathBuf,
    pub detail: String,
}

/// What a file looked like when last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

/// The configured files and what they looked like when last read.
#[derive(Debug, Default)]
pub struct IntelFiles {
    paths: Vec<PathBuf>,
    stamps: Vec<Option<Stamp>>,
}

fn load_one(path: &Path) -> Result<Intel, IntelError> {
    let err = |detail: String| IntelError {
        path: path.to_owned(),
        detail,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_INTEL_FILE_BYTES {
        return Err(err(format!(
            "{} bytes, the limit is {MAX_INTEL_FILE_BYTES}",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let name = path.display().to_string();
    let (intel, warnings) = Intel::parse(&name, &text);
    for w in &warnings {
        tracing::warn!(file = %name, warning = %w, "threat-intelligence line skipped");
    }
    Ok(intel)
}

fn load_all(paths: &[PathBuf]) -> Result<Intel, IntelError> {
    let mut all = Intel::default();
    for p in paths {
        all.merge(load_one(p)?);
    }
    Ok(all)
}

impl IntelFiles {
    /// Reads every file; any missing or unreadable file is an error naming it.
    pub fn open(paths: Vec<PathBuf>) -> Result<(IntelFiles, Intel), IntelError> {
        let stamps = paths.iter().map(|p| stamp(p)).collect();
        let intel = load_all(&paths)?;
        Ok((IntelFiles { paths, stamps }, intel))
    }

    /// When a file changed since the last look, reads them all again: `Some(Ok)` with the new
    /// lists, `Some(Err)` when that failed (the caller keeps the old lists; the same change is
    /// not retried until the files change again), `None` when nothing changed.
    pub fn reload(&mut self) -> Option<Result<Intel, IntelError>> {
        let now: Vec<Option<Stamp>> = self.paths.iter().map(|p| stamp(p)).collect();
        if now == self.stamps {
            return None;
        }
        self.stamps = now;
        Some(load_all(&self.paths))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_fails_and_changes_reload() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        let e = IntelFiles::open(vec![missing.clone()]).unwrap_err();
        assert!(e.to_string().contains("nope.txt"), "{e}");
        let file = dir.path().join("tor.txt");
        std::fs::write(&file, "203.0.113.7\n").unwrap();
        let (mut files, _) = IntelFiles::open(vec![file.clone()]).unwrap();
        assert!(files.reload().is_none(), "unchanged");
        std::fs::write(&file, "203.0.113.7\n198.51.100.0/24\n").unwrap();
        assert!(matches!(files.reload(), Some(Ok(_))));
        std::fs::remove_file(&file).unwrap();
        assert!(
            matches!(files.reload(), Some(Err(_))),
            "a vanished file fails the reload"
        );
        assert!(
            files.reload().is_none(),
            "the same failure is reported once"
        );
    }
}
