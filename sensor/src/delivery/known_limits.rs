//! The controller's limits as it last announced them, kept in the data directory
//! ([`LIMITS_FILE`]) so a restarted sensor seals its batches within them before it has
//! reconnected: only the very first run of a sensor can seal a batch the controller refuses
//! for its size.

use crate::grpc::WireLimits;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name under the data directory.
pub const LIMITS_FILE: &str = "controller-limits.json";

/// Loads and saves the last announced limits.
#[derive(Debug, Clone)]
pub struct KnownLimits {
    path: PathBuf,
}

impl KnownLimits {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(LIMITS_FILE),
        }
    }

    /// The saved limits; none when missing or unreadable (then the Welcome brings them).
    pub fn load(&self) -> WireLimits {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring an unreadable limits file");
                WireLimits::default()
            }),
            Err(_) => WireLimits::default(),
        }
    }

    /// Replaces the saved limits atomically (write `0600`, fsync, rename).
    pub fn save(&self, limits: &WireLimits) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let mut f = picket_runtime::files::create_private(&tmp)?;
        f.write_all(&serde_json::to_vec(limits).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let k = KnownLimits::new(dir.path());
        assert_eq!(k.load(), WireLimits::default());
        let l = WireLimits {
            max_batch_endpoints: Some(10),
            max_message_bytes: Some(1 << 20),
        };
        k.save(&l).unwrap();
        assert_eq!(k.load(), l);
        std::fs::write(dir.path().join(LIMITS_FILE), b"{oops").unwrap();
        assert_eq!(k.load(), WireLimits::default());
    }
}
