//! Traffic sources. Each turns its input into [`Chunk`]s of normalized requests and hands them
//! to the aggregator through one bounded channel.

pub mod als;
pub mod guard;
pub mod json_line;
pub mod mirror;
pub mod nginx;
pub mod replay;
pub mod tail;

use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};

/// Where a file source has read up to: the file's identity and the byte offset just past the
/// last complete line handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    pub inode: u64,
    pub offset: u64,
}

/// A run of requests from one source.
#[derive(Debug)]
pub struct Chunk {
    /// Stable name of the source, e.g. `nginx-json:/var/log/nginx/api.json`.
    pub source: std::sync::Arc<str>,
    pub records: Vec<RequestRecord>,
    /// For file sources: the position after the last line of this chunk.
    pub position: Option<FilePosition>,
    /// For file sources: where each record's line (or entry) ends, in `position`'s unit, one
    /// per record. A chunk split across batches gives the earlier batch the exact position
    /// after its last record, so a restart never re-reads a record a spooled batch holds.
    /// Empty for network sources.
    pub record_ends: Vec<u64>,
    /// Whether the source can wait (files, replays): a batch holding its records waits for
    /// room in the outbox instead of pushing the oldest batch out. Network sources cannot
    /// wait (Envoy and mirrors would stall) and are shed at the hand-off instead.
    pub can_wait: bool,
}

/// Most records a source puts in one chunk.
pub const MAX_CHUNK_RECORDS: usize = 1024;
