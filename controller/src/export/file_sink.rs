//! The JSON-lines file sink (`[export] alerts_file`): every tenant's alert-log entries as
//! CloudEvents, one JSON object per line, for SIEM forwarders that tail files.
//!
//! One task follows each tenant's log with its own persisted cursor. Each pass collects the
//! new entries of every tenant (at most [`MAX_LINES_PER_PASS`]), checks that the path still
//! names the open file (same device and inode; logrotate renames or removes it), reopening
//! it otherwise, appends the lines, fsyncs, and only then stores the cursors: a crash may
//! repeat lines (same `id`), never lose them. The file is created with mode 0600.
//!
//! Where a tenant starts: the first time the sink ever runs, every existing tenant starts
//! at its log's current end (no backfill of history); a tenant seen later (created after
//! the sink was enabled) starts at the beginning of its log, so none of its entries is
//! missed.

use super::{Exports, blocking, event};
use crate::error::{Error, Result};
use picket_shared::TenantId;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// How often the sink looks for new entries.
const POLL: Duration = Duration::from_millis(500);
/// Most lines written per pass (the rest follow in the next pass).
pub const MAX_LINES_PER_PASS: usize = 4096;
/// Log entries read per tenant per store call.
const PAGE: usize = 512;
/// Pause after a failed pass.
const RETRY: Duration = Duration::from_secs(1);

/// The open file and the identity it had when opened.
struct Open {
    file: File,
    dev: u64,
    ino: u64,
}

pub(super) async fn run(ex: Arc<Exports>, path: PathBuf) {
    tracing::info!(path = %path.display(), "alert export file sink started");
    let mut open: Option<Open> = None;
    loop {
        let (e, p, o) = (ex.clone(), path.clone(), open.take());
        let outcome = blocking(move || {
            let mut o = o;
            let r = pass(&e, &p, &mut o);
            Ok((r, o))
        })
        .await;
        let wait = match outcome {
            Ok((Ok(_), o)) => {
                open = o;
                POLL
            }
            Ok((Err(err), _)) | Err(err) => {
                ex.stats.file_errors.fetch_add(1, Relaxed);
                tracing::warn!(path = %path.display(), error = %err, "alert export file: pass failed; retrying");
                RETRY
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// One pass: collect, write, sync, store the cursors. Returns the lines written.
fn pass(ex: &Exports, path: &Path, open: &mut Option<Open>) -> Result<usize> {
    let db = &ex.state.db;
    let first_run = db.export_file_cursor_marker()?.is_none();
    let mut lines = Vec::new();
    let mut cursors: Vec<(TenantId, u64)> = Vec::new();
    for t in db.list_tenants()? {
        let tenant = t.name;
        let bounds = db.alert_log_bounds(&tenant)?;
        let stored = db.export_file_cursor(&tenant)?;
        let mut cur = match stored {
            Some(c) => c,
            None if first_run => bounds.last,
            None => 0,
        };
        if cur < bounds.purged {
            let lost = bounds.purged - cur;
            if stored.is_some() || cur > 0 {
                ex.stats.file_skipped_retention.fetch_add(lost, Relaxed);
                tracing::warn!(%tenant, from = cur + 1, lost, "alert export file: entries were purged by retention before they were written; skipping them");
            }
            cur = bounds.purged;
        }
        while cur < bounds.last && lines.len() < MAX_LINES_PER_PASS {
            let page =
                db.alert_log_after(&tenant, cur, PAGE.min(MAX_LINES_PER_PASS - lines.len()))?;
            let Some((last, _)) = page.last() else { break };
            let last = *last;
            for (c, rec) in &page {
                let mut line = event::build(&ex.source, &tenant, *c, rec, ex.render);
                line.push(b'\n');
                lines.push(line);
            }
            cur = last;
        }
        if stored != Some(cur) {
            cursors.push((tenant, cur));
        }
    }
    if !lines.is_empty() {
        let f = current(ex, path, open)?;
        let written = lines
            .iter()
            .try_for_each(|l| f.write_all(l))
            .and_then(|_| f.sync_data());
        if let Err(e) = written {
            *open = None;
            return Err(Error::Internal(format!("writing {}: {e}", path.display())));
        }
        ex.stats.file_lines.fetch_add(lines.len() as u64, Relaxed);
    }
    if !cursors.is_empty() || first_run {
        db.put_export_file_cursors(&cursors, first_run)?;
        if first_run {
            // Where existing tenants start is decided once: make it durable now, or a crash
            // could make a later start decide again and skip what was logged in between.
            db.flush()?;
        }
    }
    Ok(lines.len())
}

/// The open file if the path still names it; otherwise the path (re)opened.
fn current<'a>(ex: &Exports, path: &Path, open: &'a mut Option<Open>) -> Result<&'a mut File> {
    let same = match (&*open, std::fs::metadata(path)) {
        (Some(o), Ok(m)) => m.dev() == o.dev && m.ino() == o.ino,
        _ => false,
    };
    if !same {
        if open.is_some() {
            ex.stats.file_reopens.fetch_add(1, Relaxed);
            tracing::info!(path = %path.display(), "alert export file was renamed or removed; reopening");
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::Internal(format!("opening {}: {e}", path.display())))?;
        let m = file
            .metadata()
            .map_err(|e| Error::Internal(format!("reading {}: {e}", path.display())))?;
        *open = Some(Open {
            file,
            dev: m.dev(),
            ino: m.ino(),
        });
    }
    match open {
        Some(o) => Ok(&mut o.file),
        None => Err(Error::Internal("the export file is not open".into())),
    }
}
