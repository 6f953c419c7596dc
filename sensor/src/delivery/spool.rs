//! The on-disk spool: every sealed batch is written here (atomically, fsynced) before it is
//! sent, and deleted only after the controller acknowledged it. A batch carries the file
//! positions it completes, so after a crash the sensor resumes reading exactly after the last
//! spooled line and resends spooled batches under their original `(epoch, seq)`: the
//! controller's watermark turns resends into no-ops. Nothing is lost or counted twice.

use crate::aggregate::Sealed;
use crate::sources::FilePosition;
use picket_shared::versioned::{DecodeError, Header};
use picket_shared::{ActorSummary, EndpointKey, EndpointSummary, NotableEvent};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One spooled batch as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpoolRecord {
    #[serde(default)]
    pub window_ms: u32,
    pub epoch: u64,
    pub seq: u64,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub requests: u64,
    pub endpoints: Vec<(EndpointKey, EndpointSummary)>,
    pub positions: BTreeMap<String, FilePosition>,
    #[serde(default)]
    pub notables: Vec<NotableEvent>,
    /// Absent from spool files written before actor summaries existed.
    #[serde(default)]
    pub actors: Vec<ActorSummary>,
}

impl SpoolRecord {
    pub fn new(epoch: u64, seq: u64, s: &Sealed) -> Self {
        Self {
            window_ms: s.window_ms,
            epoch,
            seq,
            window_start_ms: s.window_start_ms,
            window_end_ms: s.window_end_ms,
            requests: s.requests,
            endpoints: s.endpoints.clone(),
            notables: s.notables.clone(),
            actors: s.actors.clone(),
            positions: s
                .positions
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }

    pub fn into_sealed(self) -> Sealed {
        Sealed {
            window_ms: self.window_ms,
            endpoints: self.endpoints,
            notables: self.notables,
            actors: self.actors,
            positions: self
                .positions
                .into_iter()
                .map(|(k, v)| (Arc::from(k.as_str()), v))
                .collect(),
            window_start_ms: self.window_start_ms,
            window_end_ms: self.window_end_ms,
            requests: self.requests,
            // Already in the outbox.
            can_wait: false,
        }
    }
}

/// What the sensor keeps in memory of a spooled batch found at start.
#[derive(Debug, Clone)]
pub struct SpoolMeta {
    pub epoch: u64,
    pub seq: u64,
    pub requests: u64,
    pub positions: BTreeMap<String, FilePosition>,
}

/// The spool directory and its size accounting.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Bytes on disk and encoding per spooled seq.
    sizes: BTreeMap<u64, (u64, Format)>,
    total_bytes: u64,
    pub max_bytes: u64,
}

/// How a spool file is encoded. New batches are written in postcard (`.bin`): a sparse batch
/// holds hundreds of summaries and actor summaries, and encoding and decoding them as JSON was
/// a large part of the sensor's cost per request. Files written as JSON by earlier versions
/// (`.json`) are still read, sent and deleted.
///
/// Postcard is positional: a field added to [`SpoolRecord`] or to any type it holds changes
/// how every file decodes, so a postcard file starts with [`POSTCARD_HEADER`]: a magic and
/// its format version. Files written before the header existed (version 0) hold
/// the version-1 body alone. A sensor upgraded with batches still spooled must decode every
/// earlier version: whoever changes the shape bumps the version and decodes the older ones
/// through a frozen copy of their types (the golden-file test fails until they do). Version
/// 0 means the headerless files of the builds from 2026-11-30 (when request media types
/// joined the summaries) until the header; earlier headerless files have another layout and
/// fail to decode whole, so they are set aside as corrupt rather than misread. A file of a
/// newer version (a downgrade) is renamed `.newer` and kept for inspection, never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    Json,
    Postcard,
}

/// The header of a postcard spool file: `PKSP`, then the version of the body this build
/// writes. A headerless file (version 0) starts with its window length, a varint: `P` would
/// be an 80 ms window and `K` an epoch of 75, neither of which a sensor writes.
pub const POSTCARD_HEADER: Header = Header {
    magic: *b"PKSP",
    version: 1,
};

/// Why a spool file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unreadable {
    /// Torn, truncated or not a batch.
    Corrupt,
    /// Written by a newer sensor (this one was downgraded): kept for it.
    NewerVersion(u8),
}

/// A postcard spool file's bytes: header, then the body.
fn encode_postcard(rec: &SpoolRecord) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_extend(rec, POSTCARD_HEADER.start(256))
}

/// A postcard spool file from its bytes, whatever version wrote it.
fn decode_postcard(bytes: &[u8]) -> Result<SpoolRecord, Unreadable> {
    POSTCARD_HEADER.decode(bytes).map_err(|e| match e {
        DecodeError::Newer(v) => Unreadable::NewerVersion(v),
        _ => Unreadable::Corrupt,
    })
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Postcard => "bin",
        }
    }

    fn decode(self, bytes: &[u8]) -> Result<SpoolRecord, Unreadable> {
        match self {
            Format::Json => serde_json::from_slice(bytes).map_err(|_| Unreadable::Corrupt),
            Format::Postcard => decode_postcard(bytes),
        }
    }
}

/// Folder of the spool that keeps batches the controller will never accept.
pub const REJECTED_DIR: &str = "rejected";
/// Most batches kept in `rejected/`; the oldest go first.
pub const MAX_REJECTED_BATCHES: usize = 256;

/// A spooled batch on its way into `rejected/` (see [`Spool::detach`]).
#[derive(Debug)]
pub struct Aside {
    dir: PathBuf,
    name: String,
}

impl Aside {
    /// Moves the batch file into the `rejected/` folder of the spool, with a `.reason` file
    /// beside it: the controller will never accept it, so it is no longer sent, but it is
    /// kept for an operator. The folder keeps the newest [`MAX_REJECTED_BATCHES`] batches;
    /// older ones are deleted (returned count).
    pub fn move_with(&self, reason: &str) -> std::io::Result<usize> {
        let aside = self.dir.join(REJECTED_DIR);
        picket_runtime::files::private_dir(&aside)?;
        std::fs::rename(self.dir.join(&self.name), aside.join(&self.name))?;
        let reason_file = aside.join(format!("{}.reason", self.name));
        let mut f = picket_runtime::files::create_private(&reason_file)?;
        writeln!(f, "{reason}")?;
        f.sync_all()?;
        std::fs::File::open(&aside)?.sync_all()?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        prune_rejected(&aside)
    }
}

/// Deletes the oldest set-aside batches (and their reasons) beyond [`MAX_REJECTED_BATCHES`].
fn prune_rejected(aside: &Path) -> std::io::Result<usize> {
    let mut batches: Vec<String> = std::fs::read_dir(aside)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| parse_name(n).is_some())
        .collect();
    if batches.len() <= MAX_REJECTED_BATCHES {
        return Ok(0);
    }
    // Names are zero-padded epoch-seq: sorting by name is sorting by age.
    batches.sort();
    let excess = batches.len() - MAX_REJECTED_BATCHES;
    for name in &batches[..excess] {
        let _ = std::fs::remove_file(aside.join(name));
        let _ = std::fs::remove_file(aside.join(format!("{name}.reason")));
    }
    Ok(excess)
}

/// Writes batch files into the spool directory (see [`Spool::writer`]).
#[derive(Debug, Clone)]
pub struct SpoolWriter {
    dir: PathBuf,
}

impl SpoolWriter {
    /// Writes a batch durably (temporary file, fsync, rename, fsync of the directory) and
    /// returns its size in bytes.
    pub fn write(&self, rec: &SpoolRecord) -> std::io::Result<u64> {
        let bytes = encode_postcard(rec).map_err(std::io::Error::other)?;
        let path = self
            .dir
            .join(file_name(rec.epoch, rec.seq, Format::Postcard));
        let tmp = path.with_extension("tmp");
        let mut f = picket_runtime::files::create_private(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(bytes.len() as u64)
    }
}

/// Reads one spooled batch file (see [`Spool::reader`]).
#[derive(Debug, Clone)]
pub struct SpoolReader {
    path: PathBuf,
    format: Format,
}

impl SpoolReader {
    pub fn read(&self) -> std::io::Result<SpoolRecord> {
        let bytes = std::fs::read(&self.path)?;
        self.format.decode(&bytes).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is not a valid {:?} batch",
                    self.path.display(),
                    self.format
                ),
            )
        })
    }
}

fn file_name(epoch: u64, seq: u64, format: Format) -> String {
    format!("{epoch:020}-{seq:020}.{}", format.extension())
}

fn parse_name(name: &str) -> Option<(u64, u64, Format)> {
    let (stem, format) = match name.strip_suffix(".bin") {
        Some(stem) => (stem, Format::Postcard),
        None => (name.strip_suffix(".json")?, Format::Json),
    };
    let (e, s) = stem.split_once('-')?;
    Some((e.parse().ok()?, s.parse().ok()?, format))
}

impl Spool {
    /// Opens (creating) the spool and describes the batches it holds, oldest first (the
    /// batches themselves stay on disk). Unreadable files are renamed `*.corrupt`, logged and
    /// skipped.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<(Spool, Vec<SpoolMeta>)> {
        use picket_runtime::files;
        files::private_dir(dir)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // An interrupted write: the batch was never spooled, its lines will be re-read.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            if let Some((epoch, seq, format)) = parse_name(&name) {
                files::private_file(&entry.path(), files::Kind::State)?;
                found.push((epoch, seq, format, entry.path()));
            }
        }
        found.sort();
        let mut spool = Spool {
            dir: dir.to_owned(),
            sizes: BTreeMap::new(),
            total_bytes: 0,
            max_bytes,
        };
        let mut records = Vec::new();
        for (epoch, seq, format, path) in found {
            let parsed = std::fs::read(&path)
                .map_err(|_| Unreadable::Corrupt)
                .and_then(|b| format.decode(&b).map(|r| (r, b.len() as u64)));
            match parsed {
                Ok((rec, size)) if rec.epoch == epoch && rec.seq == seq => {
                    spool.sizes.insert(seq, (size, format));
                    spool.total_bytes += size;
                    records.push(SpoolMeta {
                        epoch,
                        seq,
                        requests: rec.requests,
                        positions: rec.positions,
                    });
                }
                Err(Unreadable::NewerVersion(v)) => {
                    // A downgrade: kept for inspection, never sent. The lines of tailed files
                    // and replays it held are read again (positions advance only on acks).
                    tracing::error!(path = %path.display(), version = v, supported = POSTCARD_HEADER.version, "spool file written by a newer sensor; set aside as .newer and not delivered (file sources read its lines again; ALS and mirror traffic in it is lost)");
                    let _ = std::fs::rename(&path, path.with_extension("newer"));
                }
                _ => {
                    tracing::error!(path = %path.display(), "unreadable spool file; set aside as .corrupt");
                    let _ = std::fs::rename(&path, path.with_extension("corrupt"));
                }
            }
        }
        Ok((spool, records))
    }

    /// Reads back a spooled batch.
    pub fn read(&self, epoch: u64, seq: u64) -> std::io::Result<SpoolRecord> {
        self.reader(epoch, seq).read()
    }

    /// Writes a batch durably: temporary file, fsync, rename, fsync of the directory.
    pub fn write(&mut self, rec: &SpoolRecord) -> std::io::Result<()> {
        let size = self.writer().write(rec)?;
        self.record_written(rec.seq, size);
        Ok(())
    }

    /// A handle that writes batch files without holding the spool (the outbox fsyncs
    /// outside its lock, then records the file with [`Spool::record_written`]).
    pub fn writer(&self) -> SpoolWriter {
        SpoolWriter {
            dir: self.dir.clone(),
        }
    }

    /// Accounts for a batch file written by a [`SpoolWriter`].
    pub fn record_written(&mut self, seq: u64, size: u64) {
        self.sizes.insert(seq, (size, Format::Postcard));
        self.total_bytes += size;
    }

    /// Where a spooled batch's file is (for reading it without holding the spool).
    pub fn reader(&self, epoch: u64, seq: u64) -> SpoolReader {
        let format = self.sizes.get(&seq).map_or(Format::Postcard, |(_, f)| *f);
        SpoolReader {
            path: self.dir.join(file_name(epoch, seq, format)),
            format,
        }
    }

    /// Moves the batch `seq` of `epoch` into the `rejected/` folder of the spool (see
    /// [`Aside::move_with`]); returns how many old set-aside batches were pruned.
    pub fn set_aside(&mut self, epoch: u64, seq: u64, reason: &str) -> std::io::Result<usize> {
        match self.detach(epoch, seq) {
            Some(aside) => aside.move_with(reason),
            None => Ok(0),
        }
    }

    /// Stops accounting for the batch `seq` of `epoch` and returns the move that sets it
    /// aside, to be done without holding the spool; `None` when it is not spooled.
    pub fn detach(&mut self, epoch: u64, seq: u64) -> Option<Aside> {
        let (size, format) = self.sizes.remove(&seq)?;
        self.total_bytes -= size;
        Some(Aside {
            dir: self.dir.clone(),
            name: file_name(epoch, seq, format),
        })
    }

    /// Deletes the batch `seq` of `epoch`.
    pub fn remove(&mut self, epoch: u64, seq: u64) {
        if let Some((size, format)) = self.sizes.remove(&seq) {
            self.total_bytes -= size;
            if let Err(e) = std::fs::remove_file(self.dir.join(file_name(epoch, seq, format))) {
                tracing::warn!(seq, error = %e, "could not delete an acknowledged spool file");
            }
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    pub fn is_over(&self) -> bool {
        self.total_bytes > self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(requests: u64, offset: u64) -> Sealed {
        let mut s = Sealed {
            requests,
            ..Default::default()
        };
        s.endpoints.push((
            EndpointKey {
                host: "h".into(),
                method: "GET".into(),
                template: "/".into(),
            },
            EndpointSummary {
                requests,
                ..Default::default()
            },
        ));
        s.positions
            .insert("f".into(), FilePosition { inode: 3, offset });
        s
    }

    /// A batch set aside leaves the spool (not resent after a restart) and is kept in
    /// `rejected/` with its reason.
    #[test]
    fn a_rejected_batch_moves_aside_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool
            .write(&SpoolRecord::new(9, 1, &sealed(2, 10)))
            .unwrap();
        assert!(spool.total_bytes() > 0);
        assert_eq!(spool.set_aside(9, 1, "too many endpoints").unwrap(), 0);
        assert_eq!(spool.total_bytes(), 0);
        let (_, found) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(found.is_empty(), "not resent");
        let aside = dir.path().join(REJECTED_DIR);
        let name = file_name(9, 1, Format::Postcard);
        assert!(aside.join(&name).exists());
        let why = std::fs::read_to_string(aside.join(format!("{name}.reason"))).unwrap();
        assert_eq!(why.trim(), "too many endpoints");
    }

    #[test]
    fn survives_reopen_and_sets_aside_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, found) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(found.is_empty());
        spool
            .write(&SpoolRecord::new(9, 1, &sealed(2, 10)))
            .unwrap();
        spool
            .write(&SpoolRecord::new(9, 2, &sealed(3, 20)))
            .unwrap();
        spool.remove(9, 1);
        std::fs::write(dir.path().join(file_name(9, 3, Format::Postcard)), b"\x09").unwrap();
        std::fs::write(dir.path().join("x.tmp"), b"partial").unwrap();
        let (spool, found) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].epoch, found[0].seq, found[0].requests), (9, 2, 3));
        assert_eq!(found[0].positions.get("f").unwrap().offset, 20);
        assert_eq!(spool.read(9, 2).unwrap().requests, 3);
        assert!(spool.total_bytes() > 0);
        assert!(!dir.path().join("x.tmp").exists());
        assert!(
            dir.path()
                .join(file_name(9, 3, Format::Postcard))
                .with_extension("corrupt")
                .exists()
        );
    }

    #[test]
    fn spool_files_from_before_actor_summaries_still_load() {
        // As written before actor summaries and reference samples existed: no `actors`, no
        // `ref_sample` in the clients.
        let old = r#"{"window_ms":1000,"epoch":4,"seq":7,"window_start_ms":1000,
            "window_end_ms":1999,"requests":2,"endpoints":[[{"host":"h","method":"GET",
            "template":"/users/{id}"},{"requests":2,"window_start_ms":1000,"top_clients":[
            {"client_ip":"81.2.69.1","principal":null,"requests":2,"auth_failures":0,
            "errors":0,"distinct_object_refs":2}]}]],"positions":{"f":{"inode":3,
            "offset":10}},"notables":[]}"#;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file_name(4, 7, Format::Json)), old).unwrap();
        let (spool, found) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(found.len(), 1);
        let sealed = spool.read(4, 7).unwrap().into_sealed();
        assert!(sealed.actors.is_empty());
        let client = &sealed.endpoints[0].1.top_clients[0];
        assert_eq!(client.distinct_object_refs, 2);
        assert!(client.ref_sample.is_empty());
        // And the new fields survive the round trip.
        let mut s = sealed.clone();
        s.actors.push(picket_shared::ActorSummary {
            client_ip: "81.2.69.1".parse().ok(),
            agent: Some("curl/8.5.0".into()),
            requests: 2,
            ..Default::default()
        });
        s.endpoints[0].1.top_clients[0].ref_sample = vec![3, 9];
        let mut spool = spool;
        spool.write(&SpoolRecord::new(4, 8, &s)).unwrap();
        let back = spool.read(4, 8).unwrap().into_sealed();
        assert_eq!(back.actors, s.actors);
        assert_eq!(back.endpoints[0].1.top_clients[0].ref_sample, [3, 9]);
        // Old and new files live side by side, and both delete.
        assert!(dir.path().join(file_name(4, 8, Format::Postcard)).exists());
        let (mut spool, found) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(found.len(), 2);
        spool.remove(4, 7);
        spool.remove(4, 8);
        assert_eq!(spool.total_bytes(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// The spool files of every format version this sensor must read. Never regenerate
    /// these fixtures: when `SpoolRecord` or a type it holds changes shape, bump
    /// `POSTCARD_HEADER.version`, add the new version's fixture beside them, and decode the older
    /// versions through a frozen copy of their types. A sensor upgraded with batches spooled
    /// would otherwise set them aside as corrupt: accepted traffic lost.
    #[test]
    fn spool_files_of_every_earlier_version_still_decode_to_the_same_batch() {
        let want: serde_json::Value =
            serde_json::from_str(include_str!("testdata/spool-golden.json")).unwrap();
        let v0: &[u8] = include_bytes!("testdata/spool-golden-v0.bin");
        let v1: &[u8] = include_bytes!("testdata/spool-golden-v1.bin");
        assert!(v1.starts_with(&POSTCARD_HEADER.magic) && v1[4] == 1);
        for (version, bytes) in [(0, v0), (1, v1)] {
            let dir = tempfile::tempdir().unwrap();
            let name = file_name(1_764_547_200_000, 42, Format::Postcard);
            std::fs::write(dir.path().join(&name), bytes).unwrap();
            let (spool, found) = Spool::open(dir.path(), 1 << 20).unwrap();
            assert_eq!(found.len(), 1, "version {version} was set aside");
            let rec = spool.read(1_764_547_200_000, 42).unwrap();
            let got = serde_json::to_value(&rec).unwrap();
            assert_eq!(got, want, "version {version} decodes to another batch");
        }
        // This build writes the newest version, byte for byte.
        let rec: SpoolRecord = serde_json::from_value(want).unwrap();
        assert_eq!(encode_postcard(&rec).unwrap(), v1);
    }

    /// A file a newer sensor wrote (after a downgrade) is kept aside as `.newer`, not sent,
    /// not deleted; a headed file cut short, or with bytes after its batch, is corrupt.
    #[test]
    fn a_spool_file_of_a_newer_version_is_kept_aside() {
        let mut newer = include_bytes!("testdata/spool-golden-v1.bin").to_vec();
        newer[4] = POSTCARD_HEADER.version + 1;
        let dir = tempfile::tempdir().unwrap();
        let name = file_name(5, 1, Format::Postcard);
        std::fs::write(dir.path().join(&name), &newer).unwrap();
        std::fs::write(dir.path().join(file_name(5, 2, Format::Postcard)), b"PKSP").unwrap();
        // Bytes left over after the batch: another layout, not a shorter batch.
        let mut longer = include_bytes!("testdata/spool-golden-v1.bin").to_vec();
        longer.push(0);
        std::fs::write(dir.path().join(file_name(5, 3, Format::Postcard)), &longer).unwrap();
        let (_, found) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(found.is_empty());
        let kept = dir.path().join(&name).with_extension("newer");
        assert_eq!(std::fs::read(kept).unwrap(), newer);
        for seq in [2, 3] {
            assert!(
                dir.path()
                    .join(file_name(5, seq, Format::Postcard))
                    .with_extension("corrupt")
                    .exists()
            );
        }
    }
}
