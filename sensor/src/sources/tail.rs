//! Tails an access-log file: follows appends, survives rotation by rename + create (drains the
//! old file first) and by copytruncate (restarts at offset 0), and resumes from a persisted
//! position after a restart.

use super::nginx::{self, LogFormat};
use super::{Chunk, FilePosition, MAX_CHUNK_RECORDS};
use crate::stats::{ChunkTally, SensorStats, SourceStats};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Settings of one tailed file.
#[derive(Debug, Clone)]
pub struct TailConfig {
    pub path: PathBuf,
    pub format: LogFormat,
    /// Host recorded when a line carries none (the `combined` format never does).
    pub default_host: String,
    /// Longest accepted line in bytes; longer lines are skipped and counted.
    pub max_line_bytes: usize,
    /// How often to look for new data and rotation.
    pub poll_interval: Duration,
    /// After a rename rotation, how long the old file must stay quiet before it is closed.
    pub rotate_wait: Duration,
    /// Client addresses and principals.
    pub ident: Arc<crate::identity::Identifier>,
}

/// Bytes read from the file per `read` call.
const READ_BUF_BYTES: usize = 256 * 1024;

struct Open {
    file: File,
    inode: u64,
    /// Offset just past the last complete line handed on.
    offset: u64,
    /// Bytes read past `offset` that do not yet end in a newline.
    partial: Vec<u8>,
    /// True while skipping the rest of an over-long line.
    skipping: bool,
}

/// The tailer of one file; runs on its own thread until `stop` is set.
pub struct Tailer {
    cfg: TailConfig,
    name: Arc<str>,
    stats: Arc<SensorStats>,
    src: Arc<SourceStats>,
    out: mpsc::Sender<Chunk>,
    stop: Arc<AtomicBool>,
}

impl Tailer {
    pub fn new(
        cfg: TailConfig,
        name: Arc<str>,
        stats: Arc<SensorStats>,
        out: mpsc::Sender<Chunk>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let src = stats.add_source(name.to_string());
        Self {
            cfg,
            name,
            stats,
            src,
            out,
            stop,
        }
    }

    /// Follows the file forever (until stopped), starting from `resume` when it still applies.
    pub fn run(self, resume: Option<FilePosition>) {
        let mut current: Option<Open> = None;
        let mut resume = resume;
        // Set when the path now names a different file; holds when the old one was last active.
        let mut rotated_since: Option<Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(open) = current.as_mut() else {
                current = self.open(resume.take());
                if current.is_none() {
                    std::thread::sleep(self.cfg.poll_interval);
                }
                continue;
            };
            match self.read_available(open) {
                Ok(true) => {
                    rotated_since = rotated_since.map(|_| Instant::now());
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(source = %self.name, error = %e, "read failed; reopening");
                    current = None;
                    continue;
                }
            }
            match std::fs::metadata(&self.cfg.path) {
                Ok(meta) if meta.ino() != open.inode => {
                    let since = *rotated_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.cfg.rotate_wait {
                        tracing::info!(source = %self.name, "file rotated; following the new file");
                        self.flush_partial_as_line(open);
                        current = self.open(None);
                        rotated_since = None;
                        continue;
                    }
                }
                Ok(meta) if meta.len() < open.offset + open.partial.len() as u64 => {
                    tracing::info!(source = %self.name, "file truncated; reading from the start");
                    open.offset = 0;
                    open.partial.clear();
                    open.skipping = false;
                    if let Err(e) = open.file.seek(SeekFrom::Start(0)) {
                        tracing::warn!(source = %self.name, error = %e, "seek failed");
                        current = None;
                    }
                    continue;
                }
                _ => {}
            }
            std::thread::sleep(self.cfg.poll_interval);
        }
    }

    fn open(&self, resume: Option<FilePosition>) -> Option<Open> {
        let mut file = File::open(&self.cfg.path).ok()?;
        let meta = file.metadata().ok()?;
        let mut offset = 0;
        if let Some(pos) = resume {
            if pos.inode == meta.ino() && pos.offset <= meta.len() {
                offset = pos.offset;
            } else {
                tracing::info!(source = %self.name, "saved position no longer matches the file; reading from the start");
            }
        }
        file.seek(SeekFrom::Start(offset)).ok()?;
        tracing::info!(source = %self.name, offset, "following file");
        Some(Open {
            file,
            inode: meta.ino(),
            offset,
            partial: Vec::new(),
            skipping: false,
        })
    }

    /// Reads what is available and hands complete lines on. Returns whether anything was read.
    fn read_available(&self, open: &mut Open) -> std::io::Result<bool> {
        let mut buf = vec![0u8; READ_BUF_BYTES];
        let n = open.file.read(&mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        buf.truncate(n);
        let mut data = std::mem::take(&mut open.partial);
        data.extend_from_slice(&buf);
        let consumed = match data.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None => 0,
        };
        let mut tally = ChunkTally::default();
        let mut records = Vec::new();
        let now = picket_runtime::now_ms();
        let complete = if consumed > 0 {
            &data[..consumed - 1]
        } else {
            &data[..0]
        };
        // Byte offset just past the current line, so every chunk (and every record in it)
        // carries an exact position.
        let mut line_end = open.offset;
        let mut ends = Vec::new();
        for line in complete.split(|b| *b == b'\n').take_while(|_| consumed > 0) {
            line_end += line.len() as u64 + 1;
            if std::mem::take(&mut open.skipping) {
                continue; // the tail of an over-long line
            }
            let before = records.len();
            self.parse_into(line, now, &mut records, &mut tally);
            if records.len() > before {
                ends.push(line_end);
            }
            if records.len() >= MAX_CHUNK_RECORDS {
                let pos = FilePosition {
                    inode: open.inode,
                    offset: line_end,
                };
                let ends = std::mem::take(&mut ends);
                self.send(std::mem::take(&mut records), Some(pos), &tally, ends);
                tally = ChunkTally::default();
            }
        }
        debug_assert!(consumed == 0 || line_end == open.offset + consumed as u64);
        open.offset += consumed as u64;
        open.partial = data.split_off(consumed);
        if open.partial.len() > self.cfg.max_line_bytes {
            if !open.skipping {
                tally.reject("line_too_long");
            }
            open.offset += open.partial.len() as u64;
            open.partial.clear();
            open.skipping = true;
        }
        let pos = FilePosition {
            inode: open.inode,
            offset: open.offset,
        };
        self.send(records, Some(pos), &tally, ends);
        Ok(true)
    }

    fn parse_into(
        &self,
        line: &[u8],
        now: i64,
        out: &mut Vec<crate::record::RequestRecord>,
        tally: &mut ChunkTally,
    ) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if line.len() > self.cfg.max_line_bytes {
            tally.reject("line_too_long");
            return;
        }
        let ctx = nginx::LineContext {
            default_host: &self.cfg.default_host,
            now_ms: now,
            ident: &self.cfg.ident,
        };
        match nginx::parse_line(self.cfg.format, line, &ctx) {
            Ok(r) => {
                tally.accept();
                out.push(r);
            }
            Err(e) => tally.reject(e.reason()),
        }
    }

    /// A rotated file's last line may lack its newline; it is complete once the file is closed.
    fn flush_partial_as_line(&self, open: &mut Open) {
        if open.partial.is_empty() || open.skipping {
            return;
        }
        let line = std::mem::take(&mut open.partial);
        let mut tally = ChunkTally::default();
        let mut records = Vec::new();
        self.parse_into(&line, picket_runtime::now_ms(), &mut records, &mut tally);
        open.offset += line.len() as u64;
        self.send(records, None, &tally, Vec::new());
    }

    fn send(
        &self,
        records: Vec<crate::record::RequestRecord>,
        position: Option<FilePosition>,
        tally: &ChunkTally,
        record_ends: Vec<u64>,
    ) {
        self.stats.record(&self.src, tally);
        if records.is_empty() && position.is_none() {
            return;
        }
        let chunk = Chunk {
            can_wait: true,
            source: self.name.clone(),
            records,
            position,
            record_ends,
        };
        // Blocking send: a file can wait, so back-pressure instead of dropping.
        if self.out.blocking_send(chunk).is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}
