//! A recording's identity and where a replay of it resumes. A replay checkpoints its position
//! exactly like a tailed file (the position travels in the sealed batch, the spool holds it,
//! `positions.json` keeps it once acknowledged), keyed by the recording's path in the source
//! name and by a fingerprint of the file in the position's identity field: device, inode, size,
//! modification time and a SHA-256 of the first [`HEAD_BYTES`] bytes. A file that changed in
//! any of these is a new recording and is replayed from its start.

use crate::sources::FilePosition;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::fs::MetadataExt;

/// Bytes at the head of a recording hashed into its fingerprint.
pub const HEAD_BYTES: u64 = 64 * 1024;

/// The fingerprint of an open recording (its content is read from the start; the caller
/// seeks afterwards).
pub fn fingerprint(file: &std::fs::File) -> std::io::Result<u64> {
    let meta = file.metadata()?;
    let mut h = Sha256::new();
    h.update(b"picket-recording-v1");
    for v in [
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
    ] {
        h.update(v.to_le_bytes());
    }
    let mut head = Vec::new();
    file.take(HEAD_BYTES).read_to_end(&mut head)?;
    h.update(&head);
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Ok(u64::from_le_bytes(first))
}

/// Where to start reading a recording with fingerprint `id`: the saved position when it
/// belongs to this very recording, else its start (logged: a changed file is a new recording).
pub fn start_at(name: &str, id: u64, saved: Option<FilePosition>) -> u64 {
    match saved {
        Some(p) if p.inode == id => {
            if p.offset > 0 {
                tracing::info!(
                    source = name,
                    offset = p.offset,
                    "resuming the replay after what was already delivered"
                );
            }
            p.offset
        }
        Some(_) => {
            tracing::warn!(
                source = name,
                "the recording changed since its saved position (size, time, identity or head differ): a new recording, replayed from its start"
            );
            0
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_content_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, b"{\"method\":\"GET\",\"url\":\"/a\"}\n").unwrap();
        let open = || std::fs::File::open(&path).unwrap();
        let a = fingerprint(&open()).unwrap();
        assert_eq!(a, fingerprint(&open()).unwrap(), "stable for the same file");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"method\":\"GET\",\"url\":\"/b\"}\n").unwrap();
        drop(f);
        let b = fingerprint(&open()).unwrap();
        assert_ne!(a, b, "a grown file is a new recording");
        let pos = |inode, offset| Some(FilePosition { inode, offset });
        assert_eq!(start_at("r", b, pos(b, 28)), 28);
        assert_eq!(start_at("r", b, pos(a, 28)), 0);
        assert_eq!(start_at("r", b, None), 0);
    }
}
