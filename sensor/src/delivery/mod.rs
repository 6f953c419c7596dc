//! Guaranteed-as-possible delivery: sealed batches wait in a bounded outbox until the
//! controller acknowledges them; the stream task sends, resends after reconnects and persists
//! file positions once the batch completing them is acknowledged.

pub mod known_limits;
pub mod outbox;
pub mod spool;
pub mod stream;

pub use outbox::Outbox;
