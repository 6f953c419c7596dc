//! Private file modes for the binaries' state: data directories are `0700`, secrets, spool
//! files and checkpoints `0600`, set at creation whatever the umask, and checked at start.
//! A directory or file found more open than that is narrowed to its mode with a warning
//! (a secret with an extra hint to rotate it, since it may have been read): refusing to
//! start would take a sensor or the controller down for a mode an operator can see and the
//! process can fix itself. A directory is meant to be dedicated to one binary: a shared
//! one (sticky bit, like `/tmp`) is left as it is with a warning, and so is one the process
//! may not change (not its owner). Unix only; elsewhere plain creations without checks.

use std::path::Path;

/// Mode of data directories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of secrets, spool files and checkpoints.
pub const FILE_MODE: u32 = 0o600;

/// What a file holds, for the warning when its mode was too open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A key or token: anyone who could read it may still hold it.
    Secret,
    /// State (spool, checkpoints): readable traffic metadata.
    State,
}

/// Creates `dir` (and its parents) if missing and makes sure it is `0700`.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
        narrow(dir, DIR_MODE, Kind::State)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Makes sure an existing file is at most `0600` (a missing file is fine).
pub fn private_file(path: &Path, kind: Kind) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {
            #[cfg(unix)]
            {
                narrow(path, FILE_MODE, kind)
            }
            #[cfg(not(unix))]
            {
                let _ = kind;
                Ok(())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates (truncating) a file with mode `0600` whatever the umask.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    let f = o.open(path)?;
    // An existing file keeps its old mode through `open`: narrow it too.
    #[cfg(unix)]
    narrow(path, FILE_MODE, Kind::State)?;
    Ok(f)
}

/// Removes the permission bits outside `mode`, with a warning when there were any.
#[cfg(unix)]
fn narrow(path: &Path, mode: u32, kind: Kind) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let found = meta.permissions().mode() & 0o777;
    if found & !mode == 0 {
        return Ok(());
    }
    let sticky = meta.permissions().mode() & 0o1000 != 0;
    if meta.is_dir() && sticky {
        tracing::warn!(path = %path.display(), found = format!("{found:o}"), "a shared directory (sticky bit) holds this state; its mode is left alone: use a dedicated directory");
        return Ok(());
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(found & mode)) {
        Ok(()) => {}
        Err(e) if meta.is_dir() && e.kind() == std::io::ErrorKind::PermissionDenied => {
            tracing::warn!(path = %path.display(), found = format!("{found:o}"), "mode too open and not ours to change; left alone");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    match kind {
        Kind::Secret => tracing::warn!(
            path = %path.display(),
            found = format!("{found:o}"),
            fixed = format!("{:o}", found & mode),
            "a secret was readable by others; its mode was narrowed: rotate it if others could read it"
        ),
        Kind::State => tracing::warn!(
            path = %path.display(),
            found = format!("{found:o}"),
            fixed = format!("{:o}", found & mode),
            "mode too open; narrowed"
        ),
    }
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn too_open_modes_are_narrowed_and_new_ones_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let nested = root.path().join("a/b");
        private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        // A shared directory (sticky, like /tmp) is not narrowed.
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        private_dir(&shared).unwrap();
        assert_eq!(mode(&shared), 0o777);

        let key = dir.join("k");
        std::fs::write(&key, b"x").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&key, Kind::Secret).unwrap();
        assert_eq!(mode(&key), 0o600);
        private_file(&dir.join("missing"), Kind::Secret).unwrap();

        let f = dir.join("f");
        std::fs::write(&f, b"old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        drop(create_private(&f).unwrap());
        assert_eq!(mode(&f), 0o600);
        drop(create_private(&dir.join("g")).unwrap());
        assert_eq!(mode(&dir.join("g")), 0o600);
    }
}
