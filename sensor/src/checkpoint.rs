//! Persisted file-source positions. Written only after the controller acknowledged the batch
//! that completes them, so a restart resumes exactly where acknowledged data ends.

use crate::sources::FilePosition;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the positions under the data directory.
pub const POSITIONS_FILE: &str = "positions.json";

/// Loads and saves `positions.json`.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    path: PathBuf,
}

impl Checkpoints {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(POSITIONS_FILE),
        }
    }

    /// The saved positions; a missing file means none. A corrupt file is an error: silently
    /// starting over would re-send a whole log.
    pub fn load(&self) -> std::io::Result<BTreeMap<String, FilePosition>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a positions file: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the saved positions atomically (write, fsync, rename, fsync of the
    /// directory), mode 0600.
    pub fn save(&self, positions: &BTreeMap<String, FilePosition>) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let mut f = picket_runtime::files::create_private(&tmp)?;
        f.write_all(&serde_json::to_vec(positions).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Narrows a too-open mode of the saved positions to 0600 (with a warning).
    pub fn check_mode(&self) -> std::io::Result<()> {
        picket_runtime::files::private_file(&self.path, picket_runtime::files::Kind::State)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(dir.path());
        assert!(c.load().unwrap().is_empty());
        let mut p = BTreeMap::new();
        p.insert(
            "nginx-json:/x".to_owned(),
            FilePosition {
                inode: 7,
                offset: 99,
            },
        );
        c.save(&p).unwrap();
        assert_eq!(c.load().unwrap(), p);
        std::fs::write(dir.path().join(POSITIONS_FILE), b"{oops").unwrap();
        assert!(c.load().is_err());
    }
}
